/**
 * The database structure as two comparable snapshots: what PostgreSQL's catalog holds after the
 * migrations ran (`introspectCatalog`), and what prisma/schema.prisma says it must hold
 * (`expectedCatalog`, from Prisma's own DMMF with Prisma's Postgres conventions: default types,
 * list columns nullable, constraint naming and its 63-byte truncation). `diffCatalogs` names every
 * difference, so a drift failure reads like a to-do list.
 */
import { getDMMF } from '@prisma/get-dmmf';
import type { Client } from 'pg';

export interface Column {
  type: string;
  nullable: boolean;
  default: string | null;
}

export interface Index {
  unique: boolean;
  /** Column names, ` DESC` appended for descending ones. */
  columns: string[];
  method: string;
  predicate: string | null;
}

export interface ForeignKey {
  columns: string[];
  references: string;
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
}

export interface Table {
  columns: Map<string, Column>;
  primaryKey: { name: string; columns: string[] } | null;
  indexes: Map<string, Index>;
  foreignKeys: Map<string, ForeignKey>;
  /** Unique, check and exclusion constraints: Prisma makes none (uniques are indexes). */
  otherConstraints: string[];
}

export interface Catalog {
  enums: Map<string, string[]>;
  tables: Map<string, Table>;
}

const ACTIONS: Record<string, string> = {
  a: 'NoAction',
  r: 'Restrict',
  c: 'Cascade',
  n: 'SetNull',
  d: 'SetDefault',
};

/** Prisma's own bookkeeping, never part of the model. */
const IGNORED_TABLES = new Set(['_prisma_migrations']);

function tableOf(catalog: Catalog, name: string): Table {
  let table = catalog.tables.get(name);
  if (!table) {
    table = {
      columns: new Map(),
      primaryKey: null,
      indexes: new Map(),
      foreignKeys: new Map(),
      otherConstraints: [],
    };
    catalog.tables.set(name, table);
  }
  return table;
}

/** The current schema (`public`) of the connected database, from pg_catalog. */
export async function introspectCatalog(client: Client): Promise<Catalog> {
  const catalog: Catalog = { enums: new Map(), tables: new Map() };
  const ns = 'current_schema()::regnamespace';

  const enums = await client.query<{ name: string; values: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = ${ns} GROUP BY t.typname`,
  );
  for (const row of enums.rows) catalog.enums.set(row.name, row.values);

  const columns = await client.query<{
    table: string;
    column: string;
    type: string;
    nullable: boolean;
    default: string | null;
  }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relnamespace = ${ns} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`,
  );
  for (const row of columns.rows) {
    if (IGNORED_TABLES.has(row.table)) continue;
    tableOf(catalog, row.table).columns.set(row.column, {
      type: row.type,
      nullable: row.nullable,
      default: row.default,
    });
  }

  const constraints = await client.query<{
    name: string;
    table: string;
    kind: string;
    columns: string[];
    references: string | null;
    referenced_columns: string[];
    on_delete: string;
    on_update: string;
  }>(
    `SELECT con.conname AS name, c.relname AS table, con.contype AS kind,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord) AS columns,
            rc.relname AS references,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord) AS referenced_columns,
            con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
       FROM pg_constraint con
       JOIN pg_class c ON c.oid = con.conrelid
       LEFT JOIN pg_class rc ON rc.oid = con.confrelid
      WHERE c.relnamespace = ${ns}`,
  );
  for (const row of constraints.rows) {
    if (IGNORED_TABLES.has(row.table)) continue;
    const table = tableOf(catalog, row.table);
    if (row.kind === 'p') table.primaryKey = { name: row.name, columns: row.columns };
    else if (row.kind === 'f') {
      table.foreignKeys.set(row.name, {
        columns: row.columns,
        references: row.references ?? '?',
        referencedColumns: row.referenced_columns,
        onDelete: ACTIONS[row.on_delete] ?? row.on_delete,
        onUpdate: ACTIONS[row.on_update] ?? row.on_update,
      });
    } else
      table.otherConstraints.push(
        `${row.name} (${row.kind === 'u' ? 'unique' : row.kind === 'c' ? 'check' : row.kind})`,
      );
  }

  const indexes = await client.query<{
    name: string;
    table: string;
    unique: boolean;
    columns: string[];
    method: string;
    predicate: string | null;
  }>(
    `SELECT i.relname AS name, c.relname AS table, ix.indisunique AS unique, am.amname AS method,
            pg_get_expr(ix.indpred, ix.indrelid) AS predicate,
            array(SELECT coalesce(a.attname::text, pg_get_indexdef(ix.indexrelid, k.ord::int, true))
                         || CASE WHEN (ix.indoption::int2[])[k.ord - 1] & 1 = 1 THEN ' DESC' ELSE '' END
                    FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(num, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num AND k.num > 0
                   ORDER BY k.ord) AS columns
       FROM pg_index ix
       JOIN pg_class i ON i.oid = ix.indexrelid
       JOIN pg_class c ON c.oid = ix.indrelid
       JOIN pg_am am ON am.oid = i.relam
      WHERE c.relnamespace = ${ns} AND NOT ix.indisprimary
        AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid AND con.contype IN ('u', 'x'))`,
  );
  for (const row of indexes.rows) {
    if (IGNORED_TABLES.has(row.table)) continue;
    tableOf(catalog, row.table).indexes.set(row.name, {
      unique: row.unique,
      columns: row.columns,
      method: row.method,
      predicate: row.predicate,
    });
  }
  return catalog;
}

// ── what schema.prisma says ────────────────────────────────────────────────────────────────────

/** The parts of Prisma's DMMF this needs (a structural subset of @prisma/dmmf's types). */
interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: string;
  type: string;
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  isUpdatedAt?: boolean;
  nativeType?: readonly [string, readonly string[]] | null;
  default?: unknown;
  relationFromFields?: readonly string[];
  relationToFields?: readonly string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: readonly DmmfField[];
  primaryKey: { name: string | null; fields: readonly string[] } | null;
}
interface DmmfIndex {
  model: string;
  type: string;
  dbName?: string | null;
  algorithm?: string;
  fields: readonly { name: string; sortOrder?: string }[];
}
interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: readonly { name: string; dbName: string | null }[];
}

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), which Prisma's default names respect. */
const MAX_IDENTIFIER = 63;

// Prisma's default constraint names (psl ConstraintNames), truncation included.
function primaryKeyName(table: string): string {
  return `${table.length >= MAX_IDENTIFIER - 5 ? table.slice(0, MAX_IDENTIFIER - 5) : table}_pkey`;
}
function indexName(table: string, columns: string[], suffix: '_key' | '_idx'): string {
  const joined = `${table}_${columns.join('_')}`;
  return `${joined.length >= MAX_IDENTIFIER - suffix.length ? joined.slice(0, MAX_IDENTIFIER - suffix.length) : joined}${suffix}`;
}
function foreignKeyName(table: string, columns: string[]): string {
  const joined = `${table}_${columns.join('_')}`;
  return `${joined.length >= MAX_IDENTIFIER - 5 ? joined.slice(0, MAX_IDENTIFIER - 5) : joined}_fkey`;
}

/** How format_type() prints a type name: quoted unless a plain lowercase identifier. */
function formatTypeName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

function withArgs(base: string, args: readonly string[], suffix = ''): string {
  return `${base}${args.length ? `(${args.join(',')})` : ''}${suffix}`;
}

/** The column type Prisma's migrations create, as format_type() prints it. */
function sqlType(field: DmmfField, enumTypes: Map<string, string>): string {
  if (field.kind === 'enum') return formatTypeName(enumTypes.get(field.type) ?? field.type);
  const [native, args = []] = field.nativeType ?? [];
  switch (native) {
    case undefined:
      break;
    case 'Text':
      return 'text';
    case 'VarChar':
      return withArgs('character varying', args);
    case 'Char':
      return withArgs('character', args);
    case 'Uuid':
      return 'uuid';
    case 'SmallInt':
      return 'smallint';
    case 'Integer':
      return 'integer';
    case 'BigInt':
      return 'bigint';
    case 'Oid':
      return 'oid';
    case 'DoublePrecision':
      return 'double precision';
    case 'Real':
      return 'real';
    case 'Decimal':
      return withArgs('numeric', args);
    case 'Money':
      return 'money';
    case 'Timestamp':
      return withArgs('timestamp', args, ' without time zone');
    case 'Timestamptz':
      return withArgs('timestamp', args, ' with time zone');
    case 'Date':
      return 'date';
    case 'Time':
      return withArgs('time', args, ' without time zone');
    case 'Timetz':
      return withArgs('time', args, ' with time zone');
    case 'Boolean':
      return 'boolean';
    case 'Bit':
      return withArgs('bit', args);
    case 'VarBit':
      return withArgs('bit varying', args);
    case 'Json':
      return 'json';
    case 'JsonB':
      return 'jsonb';
    case 'ByteA':
      return 'bytea';
    case 'Inet':
      return 'inet';
    case 'Citext':
      return 'citext';
    case 'Xml':
      return 'xml';
    default:
      throw new Error(`drift test: no SQL type known for @db.${native} (${field.name}); extend sqlType()`);
  }
  const defaults: Record<string, string> = {
    String: 'text',
    Int: 'integer',
    BigInt: 'bigint',
    Float: 'double precision',
    Decimal: 'numeric(65,30)',
    Boolean: 'boolean',
    DateTime: 'timestamp(3) without time zone',
    Json: 'jsonb',
    Bytes: 'bytea',
  };
  const type = defaults[field.type];
  if (!type)
    throw new Error(`drift test: no SQL type known for ${field.type} (${field.name}); extend sqlType()`);
  return type;
}

/** The column default as pg_get_expr() prints it; null when Prisma fills it in client-side. */
function sqlDefault(field: DmmfField, type: string, table: string, column: string): string | null {
  const value = field.default;
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) {
    if (value.length === 0) return `ARRAY[]::${type}`;
    throw new Error(`drift test: non-empty list default on ${field.name}; extend sqlDefault()`);
  }
  if (typeof value === 'object') {
    const fn = value as { name: string; args: unknown[] };
    switch (fn.name) {
      case 'now':
        return 'CURRENT_TIMESTAMP';
      case 'uuid':
      case 'cuid':
      case 'nanoid':
      case 'ulid':
        return null; // generated by Prisma Client, not the database
      case 'autoincrement':
        return `nextval('${table}_${column}_seq'::regclass)`;
      case 'dbgenerated':
        return String(fn.args[0]);
      default:
        throw new Error(`drift test: unknown default ${fn.name}() on ${field.name}; extend sqlDefault()`);
    }
  }
  const literal = typeof value === 'string' ? value : JSON.stringify(value);
  if (field.kind === 'enum' || ['String', 'Json', 'DateTime', 'Bytes'].includes(field.type)) {
    return `'${literal.replaceAll("'", "''")}'::${type}`;
  }
  return literal; // numbers and booleans print bare
}

/** The database schema.prisma describes, by Prisma's rules for PostgreSQL. */
export function expectedCatalog(schema: string): Catalog {
  const dmmf = getDMMF({ datamodel: schema });
  if ('type' in dmmf) throw new Error(`schema.prisma does not parse: ${dmmf.reason}`);
  const models = dmmf.datamodel.models as readonly DmmfModel[];
  const indexes = dmmf.datamodel.indexes as readonly DmmfIndex[];
  const enums = dmmf.datamodel.enums as readonly DmmfEnum[];

  const catalog: Catalog = { enums: new Map(), tables: new Map() };
  const enumTypes = new Map(enums.map((e) => [e.name, e.dbName ?? e.name]));
  for (const e of enums)
    catalog.enums.set(
      e.dbName ?? e.name,
      e.values.map((v) => v.dbName ?? v.name),
    );

  const tableName = new Map(models.map((m) => [m.name, m.dbName ?? m.name]));
  const columnName = (model: DmmfModel, fieldName: string): string => {
    const field = model.fields.find((f) => f.name === fieldName);
    return field?.dbName ?? fieldName;
  };

  for (const model of models) {
    const name = tableName.get(model.name) ?? model.name;
    const table = tableOf(catalog, name);
    for (const field of model.fields) {
      if (field.kind !== 'scalar' && field.kind !== 'enum') continue;
      const column = field.dbName ?? field.name;
      const type = sqlType(field, enumTypes) + (field.isList ? '[]' : '');
      // Prisma creates list columns without NOT NULL.
      table.columns.set(column, {
        type,
        nullable: field.isList || !field.isRequired,
        default: sqlDefault(field, type, name, column),
      });
    }
    const idFields = model.primaryKey?.fields ?? model.fields.filter((f) => f.isId).map((f) => f.name);
    if (idFields.length) {
      const named = indexes.find((i) => i.model === model.name && i.type === 'id')?.dbName;
      table.primaryKey = {
        name: named ?? primaryKeyName(name),
        columns: idFields.map((f) => columnName(model, f)),
      };
    }
    for (const index of indexes) {
      if (index.model !== model.name || (index.type !== 'unique' && index.type !== 'normal')) continue;
      const columns = index.fields.map((f) => columnName(model, f.name));
      table.indexes.set(index.dbName ?? indexName(name, columns, index.type === 'unique' ? '_key' : '_idx'), {
        unique: index.type === 'unique',
        columns: index.fields.map(
          (f, i) => `${columns[i] ?? f.name}${f.sortOrder === 'desc' ? ' DESC' : ''}`,
        ),
        method: (index.algorithm ?? 'btree').toLowerCase(),
        predicate: null,
      });
    }
    for (const field of model.fields) {
      if (field.kind !== 'object' || !field.relationFromFields?.length) continue;
      const columns = field.relationFromFields.map((f) => columnName(model, f));
      const target = models.find((m) => m.name === field.type);
      const required = field.relationFromFields.every(
        (f) => model.fields.find((x) => x.name === f)?.isRequired,
      );
      // Custom FK names (@relation(map: …)) are not in the DMMF; the engine diff covers those.
      table.foreignKeys.set(foreignKeyName(name, columns), {
        columns,
        references: tableName.get(field.type) ?? field.type,
        referencedColumns: (field.relationToFields ?? []).map((f) => (target ? columnName(target, f) : f)),
        onDelete: field.relationOnDelete ?? (required ? 'Restrict' : 'SetNull'),
        onUpdate: field.relationOnUpdate ?? 'Cascade',
      });
    }
  }
  return catalog;
}

// ── comparison ─────────────────────────────────────────────────────────────────────────────────

const show = (value: unknown): string => JSON.stringify(value);

function compareKeys<T>(
  label: (name: string) => string,
  expected: Map<string, T>,
  actual: Map<string, T>,
  out: string[],
  compare: (name: string, e: T, a: T) => void,
): void {
  for (const [name, e] of expected) {
    const a = actual.get(name);
    if (a === undefined) out.push(`${label(name)}: in schema.prisma, missing from the migrations`);
    else compare(name, e, a);
  }
  for (const name of actual.keys()) {
    if (!expected.has(name)) out.push(`${label(name)}: created by the migrations, not in schema.prisma`);
  }
}

function compareFields(label: string, e: object, a: object, out: string[]): void {
  for (const [key, value] of Object.entries(e)) {
    const other: unknown = (a as Record<string, unknown>)[key];
    if (show(value) !== show(other)) {
      out.push(`${label}: ${key} is ${show(value)} in schema.prisma but ${show(other)} after the migrations`);
    }
  }
}

/** Every difference between what the schema says and what the migrations built, one per line. */
export function diffCatalogs(expected: Catalog, actual: Catalog): string[] {
  const out: string[] = [];
  compareKeys(
    (name) => `enum ${name}`,
    expected.enums,
    actual.enums,
    out,
    (name, e, a) => {
      if (show(e) !== show(a))
        out.push(`enum ${name}: values ${show(e)} in schema.prisma, ${show(a)} after the migrations`);
    },
  );
  compareKeys(
    (name) => `table ${name}`,
    expected.tables,
    actual.tables,
    out,
    (tableName, e, a) => {
      compareKeys(
        (name) => `column ${tableName}.${name}`,
        e.columns,
        a.columns,
        out,
        (column, ec, ac) => compareFields(`column ${tableName}.${column}`, ec, ac, out),
      );
      if (show(e.primaryKey) !== show(a.primaryKey)) {
        out.push(
          `primary key of ${tableName}: ${show(e.primaryKey)} in schema.prisma, ${show(a.primaryKey)} after the migrations`,
        );
      }
      compareKeys(
        (name) => `index ${tableName}.${name}`,
        e.indexes,
        a.indexes,
        out,
        (name, ei, ai) => compareFields(`index ${tableName}.${name}`, ei, ai, out),
      );
      compareKeys(
        (name) => `foreign key ${tableName}.${name}`,
        e.foreignKeys,
        a.foreignKeys,
        out,
        (name, ef, af) => compareFields(`foreign key ${tableName}.${name}`, ef, af, out),
      );
      for (const constraint of a.otherConstraints) {
        out.push(
          `constraint ${tableName}.${constraint}: created by the migrations, not expressible in schema.prisma`,
        );
      }
    },
  );
  return out;
}
