/**
 * The image: the Dockerfile lints clean (dockerfile-utils, the validator behind VS Code's Docker
 * support) and has the shape we require of it — one image for every role, chosen by command (multi-stage, Node LTS slim runtime,
 * numeric non-root user, node-based HEALTHCHECK, the role dispatcher as ENTRYPOINT);
 * .dockerignore keeps local state out and what the build needs in; the dispatcher starts the right
 * entry point for each role and the healthcheck script reads the right listener. Nothing is built:
 * there is no Docker engine here.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DockerfileParser } from 'dockerfile-ast';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import ignore from 'ignore';

import { readRepoFile, repoPath, ROOT, run } from './support';

const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

function lint(content: string): string[] {
  return validate(content, STRICT).map(
    (d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
  );
}

/** The roles of deploy/docker-entrypoint.sh and the file each one runs (paths inside the image = repo). */
const ROLES: Record<string, string[]> = {
  api: ['dist/apps/api/src/main.js'],
  worker: ['dist/apps/worker/src/main.js'],
  report: ['dist/apps/report/src/main.js'],
  migrate: ['dist/libs/db/src/migrate-main.js'],
  'db-status': ['dist/libs/db/src/migrations-main.js'],
  'db-resolve': ['dist/libs/db/src/migrations-main.js', '--applied', '20261201000000_x'],
  'create-token': ['dist/apps/api/src/create-token.js', 'admin'],
  vaultline: ['apps/cli/bin/vaultline.js', 'snapshots'],
  healthcheck: ['deploy/healthcheck.js'],
};
/** What a role puts after its file, before the caller's arguments (the command of a multi-command entry). */
const ROLE_COMMANDS: Record<string, string[]> = { 'db-status': ['status'], 'db-resolve': ['resolve'] };
/** Node flags a role passes before its file: the engine's roles keep a small young generation. */
const NODE_FLAGS: Record<string, string[]> = {
  worker: ['--max-semi-space-size=4'],
  vaultline: ['--max-semi-space-size=4'],
};

describe('Dockerfile', () => {
  const content = readRepoFile('Dockerfile');
  const dockerfile = DockerfileParser.parse(content);

  test('lints clean with every rule of dockerfile-utils at error level', () => {
    assert.deepEqual(lint(content), []);
    // …and the linter does see mistakes.
    assert.ok(lint('FROM node:24-trixie-slim\nRUNN true\nEXPOSE http\n').length >= 2);
  });

  test('multi-stage: builds with the lockfile, then keeps production dependencies only', () => {
    const froms = dockerfile.getFROMs();
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    assert.equal(froms[0]?.getBuildStage(), 'build');
    const runs = dockerfile
      .getInstructions()
      .filter((i) => i.getKeyword() === 'RUN')
      .map((i) => i.getArgumentsContent() ?? '')
      .join('\n');
    assert.match(runs, /npm ci\b/);
    assert.match(runs, /npm run build\b/);
    assert.match(runs, /npm prune --omit=dev\b/);
    const finalCopies = dockerfile
      .getCOPYs()
      .filter((c) => c.getRange().start.line > (froms.at(-1)?.getRange().start.line ?? 0));
    assert.ok(
      finalCopies.some((c) => /--from=build/.test(c.getTextContent())),
      'the runtime copies from the build stage',
    );
  });

  test('build stage has a C compiler for the native helper; the runtime gets dist/native', () => {
    const froms = dockerfile.getFROMs();
    const runtimeLine = froms.at(-1)?.getRange().start.line ?? 0;
    const buildRuns = dockerfile
      .getInstructions()
      .filter((i) => i.getKeyword() === 'RUN' && i.getRange().start.line < runtimeLine)
      .map((i) => i.getArgumentsContent() ?? '');
    const compiler = buildRuns.findIndex((r) => /apt-get install\b[^&]*\bgcc\b/.test(r));
    const build = buildRuns.findIndex((r) => /npm run build\b/.test(r));
    assert.ok(compiler >= 0, 'the build stage installs gcc (the slim image has no C compiler)');
    assert.match(buildRuns[compiler] ?? '', /\blibc6-dev\b/, 'and the C library headers');
    assert.ok(compiler < build, 'before npm run build compiles the addon');
    assert.match(buildRuns[build] ?? '', /nativeAvailable\(\)/, 'the build checks that the addon loads');
    const finalCopies = dockerfile
      .getCOPYs()
      .filter((c) => c.getRange().start.line > runtimeLine)
      .map((c) => c.getTextContent());
    assert.ok(
      finalCopies.some((c) => /--from=build \/app\/dist(\/native\/?)? /.test(c)),
      'the runtime copies dist/native (vaultline_native.node) from the build stage',
    );
  });

  test('runtime stage: a current Node LTS slim image', () => {
    const initial = dockerfile.getInitialARGs().map((a) => a.getTextContent());
    const image = /NODE_IMAGE=(\S+)/.exec(initial.join('\n'))?.[1];
    assert.ok(image, 'ARG NODE_IMAGE has a default');
    const m = /^node:(\d+)-[a-z]+-slim$/.exec(image);
    assert.ok(m, `${image} is a node:<major>-<debian>-slim image`);
    const major = Number(m[1]);
    assert.ok(major >= 24 && major % 2 === 0, `Node ${major} is a current LTS line`);
    for (const from of dockerfile.getFROMs()) {
      assert.equal(from.getImage(), '${NODE_IMAGE}', 'every stage uses the same Node image');
    }
  });

  test('runtime stage: numeric non-root USER, node HEALTHCHECK, dispatcher ENTRYPOINT, ports', () => {
    const froms = dockerfile.getFROMs();
    const finalLine = froms.at(-1)?.getRange().start.line ?? 0;
    const final = dockerfile.getInstructions().filter((i) => i.getRange().start.line >= finalLine);
    const users = final.filter((i) => i.getKeyword() === 'USER').map((i) => i.getArgumentsContent() ?? '');
    assert.equal(users.length, 1);
    const user = /^([0-9]+):([0-9]+)$/.exec(users[0] ?? '');
    assert.ok(user, `USER ${users[0]} is numeric uid:gid (runAsNonRoot can verify it)`);
    assert.ok(Number(user[1]) >= 1000 && Number(user[2]) >= 1000);
    const userLine = final.find((i) => i.getKeyword() === 'USER')?.getRange().start.line ?? 0;
    assert.ok(
      final.every((i) => i.getKeyword() !== 'RUN' || i.getRange().start.line < userLine),
      'nothing runs as root after USER',
    );

    const healthchecks = dockerfile.getHEALTHCHECKs();
    assert.equal(healthchecks.length, 1);
    const hc = healthchecks[0]?.getTextContent() ?? '';
    assert.match(
      hc,
      /CMD \["node", "\/app\/deploy\/healthcheck\.js"\]/,
      'healthcheck with node (no curl in slim)',
    );

    const entrypoint = dockerfile.getENTRYPOINTs()[0]?.getArgumentsContent() ?? '';
    assert.deepEqual(JSON.parse(entrypoint), ['/usr/bin/tini', '--', '/app/deploy/docker-entrypoint.sh']);
    const cmd = dockerfile.getCMDs().at(-1)?.getArgumentsContent() ?? '';
    assert.ok(
      Object.keys(ROLES).includes((JSON.parse(cmd) as string[])[0] ?? ''),
      'the default CMD is a role',
    );
    const expose = final.filter((i) => i.getKeyword() === 'EXPOSE').map((i) => i.getArgumentsContent());
    assert.deepEqual(expose, ['3000 9464']);
  });

  test('.dockerignore keeps local state out and what the build needs in', () => {
    const ig = ignore().add(readRepoFile('.dockerignore'));
    for (const p of [
      'node_modules/x',
      'dist/x.js',
      '.git/HEAD',
      '.env',
      'libs/db/src/generated/x.ts',
      'test/x.ts',
    ]) {
      assert.ok(ig.ignores(p), `${p} is not sent to the build`);
    }
    for (const p of [
      'package.json',
      'package-lock.json',
      'tsconfig.base.json',
      'tsconfig.build.json',
      'prisma.config.ts',
      'prisma/schema.prisma',
      'prisma/migrations/migration_lock.toml',
      'scripts/prisma-generate.js',
      'scripts/build-native.js',
      'libs/native/src/vaultline_native.c',
      'apps/api/src/main.ts',
      'libs/db/src/migrate-main.ts',
      'deploy/docker-entrypoint.sh',
      'deploy/healthcheck.js',
    ]) {
      assert.ok(!ig.ignores(p), `${p} is in the build context`);
      assert.ok(existsSync(repoPath(p)), `${p} exists`);
    }
  });
});

describe('deploy/docker-entrypoint.sh (role dispatcher)', () => {
  let bin: string;

  before(() => {
    // A stand-in `node` that prints what it was asked to run.
    bin = mkdtempSync(path.join(tmpdir(), 'vaultline-entrypoint-'));
    writeFileSync(path.join(bin, 'node'), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    chmodSync(path.join(bin, 'node'), 0o755);
  });
  after(() => rmSync(bin, { recursive: true, force: true }));

  const dispatch = (...args: string[]) =>
    run('sh', [repoPath('deploy/docker-entrypoint.sh'), ...args], {
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` },
    });

  test('is valid sh', () => {
    const r = run('sh', ['-n', repoPath('deploy/docker-entrypoint.sh')]);
    assert.equal(r.status, 0, r.stderr);
  });

  test('each role execs its entry point, which the build produces', () => {
    for (const [role, expected] of Object.entries(ROLES)) {
      const extra = expected.slice(1);
      const r = dispatch(role, ...extra);
      assert.equal(r.status, 0, `${role}: ${r.stderr}`);
      const [file, ...args] = expected;
      assert.deepEqual(
        r.stdout.trim().split('\n'),
        [...(NODE_FLAGS[role] ?? []), file, ...(ROLE_COMMANDS[role] ?? []), ...args],
        role,
      );
      assert.ok(
        existsSync(path.join(ROOT, expected[0] as string)),
        `${expected[0]} exists after npm run build`,
      );
    }
  });

  test('refuses unknown roles, no role, and create-token without a name', () => {
    for (const args of [[], ['serve'], ['create-token']]) {
      const r = dispatch(...args);
      assert.equal(r.status, 2, `${args.join(' ') || '(none)'} exits 2`);
      assert.match(r.stderr, /usage|create-token/);
      assert.equal(r.stdout, '');
    }
  });
});

describe('deploy/healthcheck.js', () => {
  const servers: Server[] = [];
  const listen = async (status: number): Promise<number> => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/health' ? status : 404;
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };
  /** A port nothing listens on: bound, then closed. */
  const freePort = async (): Promise<number> => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  };
  after(async () => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  /** The script's exit code (asynchronously: the test's servers answer from this event loop). */
  const check = (httpPort: number, metricsPort: number) =>
    new Promise<number | null>((resolve) => {
      execFile(
        process.execPath,
        [repoPath('deploy/healthcheck.js')],
        {
          env: { ...process.env, HTTP_PORT: String(httpPort), METRICS_PORT: String(metricsPort) },
          timeout: 20_000,
        },
        (err) => resolve(err ? (typeof err.code === 'number' ? err.code : null) : 0),
      );
    });

  test('api: 200 on HTTP_PORT is healthy, 503 is not', async () => {
    assert.equal(await check(await listen(200), await freePort()), 0);
    assert.equal(await check(await listen(503), await freePort()), 1);
  });

  test('worker/report: nothing on HTTP_PORT, so METRICS_PORT decides', async () => {
    assert.equal(await check(await freePort(), await listen(200)), 0);
    assert.equal(await check(await freePort(), await listen(503)), 1);
  });

  test('nothing listening is unhealthy', async () => {
    assert.equal(await check(await freePort(), await freePort()), 1);
  });
});
