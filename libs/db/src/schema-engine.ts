/**
 * Prisma's own schema engine, offline — for development and tests only (its packages are
 * devDependencies; nothing at runtime imports this file).
 *
 * The `prisma` CLI wants a native engine it downloads on first use, which this machine cannot do.
 * The same engine is published as WebAssembly (@prisma/schema-engine-wasm, pinned to the build of
 * our prisma version) and talks to Postgres through a driver adapter. With it, `diffMigrations`
 * does what `prisma migrate diff --from-migrations prisma/migrations --to-schema
 * prisma/schema.prisma --exit-code` does: replay the migrations in a throwaway shadow database,
 * compare the result with the schema, and print the SQL that `prisma migrate dev` would write next;
 * `deployMigrations` is `prisma migrate deploy` itself, which the tests use to prove that Prisma
 * and our applier (migrate.ts) each accept the other's bookkeeping.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type * as SchemaEngineWasm from '@prisma/schema-engine-wasm/schema_engine_bg';
import { Client, Pool, type PoolClient } from 'pg';
import { quoteIdentifier, withDatabase } from './database';

// The WebAssembly global (Node has it; our lib settings carry no DOM types).
declare const WebAssembly: {
  Module: (new (bytes: Uint8Array) => object) & {
    imports(module: object): { module: string; name: string }[];
  };
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => {
    exports: Record<string, unknown>;
  };
};

type Engine = SchemaEngineWasm.SchemaEngine;

export interface MigrationDiff {
  /** True when the migrations already produce exactly the schema's database. */
  empty: boolean;
  /** SQL (`format: 'script'`) or Prisma's drift summary (`'summary'`). */
  output: string;
}

export interface DiffOptions {
  /** Any database on the server; shadow databases are created (and dropped) next to it. */
  serverUrl: string;
  migrationsDir: string;
  schemaPath: string;
  format?: 'script' | 'summary';
}

/** What `prisma migrate diff --from-migrations <dir> --to-schema <file>` prints. */
export async function diffMigrations(options: DiffOptions): Promise<MigrationDiff> {
  const schema = await readFile(options.schemaPath, 'utf8');
  const migrationsList = await loadMigrationsList(options.migrationsDir);
  return withEngine(withDatabase(options.serverUrl, 'postgres'), schema, async (engine) => {
    const result = await engine.diff({
      from: { tag: 'migrations', ...migrationsList },
      to: { tag: 'schemaDatamodel', files: [{ path: options.schemaPath, content: schema }] },
      script: (options.format ?? 'script') === 'script',
      exitCode: true,
      filters: { externalTables: [], externalEnums: [] },
    });
    return { empty: result.exitCode === 0, output: result.stdout ?? '' };
  });
}

/** `prisma migrate deploy`: applies what is missing; returns the names it applied. */
export async function deployMigrations(databaseUrl: string, migrationsDir: string): Promise<string[]> {
  const migrationsList = await loadMigrationsList(migrationsDir);
  return withEngine(databaseUrl, undefined, async (engine) => {
    const result = await engine.applyMigrations({
      migrationsList,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.appliedMigrationNames;
  });
}

async function loadMigrationsList(migrationsDir: string): Promise<SchemaEngineWasm.MigrationList> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const lockfile = await readFile(join(migrationsDir, 'migration_lock.toml'), 'utf8').catch(() => null);
  return {
    baseDir: migrationsDir,
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => {
        const content = await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8').then(
          (value) => ({ tag: 'ok' as const, value }),
          (err: unknown) => ({ tag: 'error' as const, value: String(err) }),
        );
        return { path: name, migrationFile: { path: 'migration.sql', content } };
      }),
    ),
  };
}

let loaded: Promise<typeof SchemaEngineWasm> | undefined;

/** Instantiates the wasm by hand: Node's own .wasm imports are still experimental (and warn). */
function loadWasm(): Promise<typeof SchemaEngineWasm> {
  loaded ??= (async () => {
    const glue = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = join(
      dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')),
      'schema_engine_bg.wasm',
    );
    const module = new WebAssembly.Module(await readFile(wasmPath));
    const imports: Record<string, Record<string, unknown>> = {};
    const exported = glue as unknown as Record<string, unknown>;
    for (const { module: from, name } of WebAssembly.Module.imports(module)) {
      (imports[from] ??= {})[name] = exported[name];
    }
    const instance = new WebAssembly.Instance(module, imports);
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports['__wbindgen_start'] as () => void)();
    // The engine reports Rust panics through this global (see prisma's wasm panic registry).
    const registry = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
    registry.PRISMA_WASM_PANIC_REGISTRY ??= { set_message: () => undefined };
    return glue;
  })();
  return loaded;
}

/**
 * Runs `fn` with an engine connected to `databaseUrl` through @prisma/adapter-pg, and closes every
 * pool and shadow database afterwards, whatever the engine did.
 */
async function withEngine<T>(
  databaseUrl: string,
  schema: string | undefined,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const wasm = await loadWasm();
  const adminUrl = withDatabase(databaseUrl, 'postgres');
  const pools: Pool[] = [];
  const shadows: string[] = [];
  const openPool = (url: string): Pool => {
    const pool = readCharAsText(new Pool({ connectionString: url, max: 2 }));
    pools.push(pool);
    return pool;
  };
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    connect: () => new PrismaPg(openPool(databaseUrl)).connect(),
    // PrismaPg.connectToShadowDb drops the database before closing its own pool (and fails), so
    // shadow databases are made here, named like Prisma's.
    async connectToShadowDb(): Promise<SqlDriverAdapter> {
      const name = `prisma_migrate_shadow_db_${randomUUID()}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${quoteIdentifier(name)}`);
      shadows.push(name);
      const pool = openPool(withDatabase(databaseUrl, name));
      const adapter = await new PrismaPg(pool).connect();
      const dispose = adapter.dispose.bind(adapter);
      adapter.dispose = async () => {
        await dispose();
        await pool.end();
        pools.splice(pools.indexOf(pool), 1);
      };
      return adapter;
    },
  };
  let engine: Engine | undefined;
  try {
    engine = await wasm.SchemaEngine.new(
      { datamodels: schema === undefined ? undefined : [['schema.prisma', schema]] },
      () => undefined,
      bindMigrationAwareSqlAdapterFactory(factory),
    );
    return await fn(engine);
  } finally {
    engine?.free();
    await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
    for (const name of shadows) {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
    }
  }
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** pg type oids: "char" and "char"[] read as text and text[]. */
const RETYPE = new Map([
  [18, 25],
  [1002, 1009],
]);

/**
 * Prisma's schema describer selects pg_catalog's one-byte `"char"` columns (relkind, contype, …),
 * which @prisma/adapter-pg refuses as an unsupported type. node-postgres already decodes them as
 * strings, so relabelling the result columns as text is all it takes.
 */
function readCharAsText(pool: Pool): Pool {
  pool.on('connect', (client: PoolClient) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    const retyped = (...args: unknown[]): unknown => {
      // Pool.query uses the callback form, the adapter's transactions the promise form.
      const callback = args.at(-1);
      if (typeof callback === 'function') {
        args[args.length - 1] = (err: unknown, result: unknown) => {
          (callback as (err: unknown, result: unknown) => void)(err, retype(result));
        };
      }
      const result = query(...args);
      return result instanceof Promise ? result.then(retype) : result;
    };
    Object.defineProperty(client, 'query', { value: retyped });
  });
  return pool;
}

function retype(result: unknown): unknown {
  const fields = (result as { fields?: { dataTypeID: number }[] } | null)?.fields ?? [];
  for (const field of fields) field.dataTypeID = RETYPE.get(field.dataTypeID) ?? field.dataTypeID;
  return result;
}
