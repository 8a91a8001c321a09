/**
 * End-to-end tests of the `vaultline` CLI: each test drives the real launcher as a child process
 * against repositories in its own temporary folders. Argon2 is kept cheap through
 * VAULTLINE_KDF_MEMORY_KIB / VAULTLINE_KDF_PASSES.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startS3Server } from '../support/s3server';
import { ROOT, baseEnv, describeRun, runCli, runFile, type Env, type RunResult } from '../support/cli-runner';
import { EXIT_CODES } from '../../apps/cli/src/errors';

const PASSWORD = 'correct horse 🐎 battery';

/** Whether `command` runs here (zsh and fish are optional). */
function spawnSyncSafe(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Exactly one stderr line, `vaultline: …`, matching `pattern`. */
function assertOneErrorLine(r: RunResult, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `expected one stderr line, got: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0]!, /^vaultline: /);
  assert.match(lines[0]!, pattern);
}

/** stdout is exactly one JSON document. */
function parseJson<T>(r: RunResult): T {
  assert.ok(r.stdout.endsWith('\n'), 'JSON output ends with a newline');
  return JSON.parse(r.stdout) as T;
}

interface SnapshotJson {
  id: string;
  time: string;
  service: string | null;
  plan: string | null;
  tags: string[];
  host: string;
  writer: 'password' | 'writer-key';
  stats: { files: number; dirs: number; totalBytes: number; errors: number };
}

interface KeyJson {
  id: string;
  current: boolean;
  created: string;
  host: string;
}

/** A temporary workspace: a repository location, a source folder and credentials. */
class Sandbox {
  readonly root = mkdtempSync(path.join(tmpdir(), 'vaultline-cli-'));
  readonly repo = path.join(this.root, 'repo');
  readonly src = path.join(this.root, 'src');
  readonly env: Env;

  constructor() {
    this.env = { ...baseEnv(), VAULTLINE_REPO: this.repo, VAULTLINE_PASSWORD: PASSWORD };
  }

  path(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  /** Writes `content` as a one-line password file and returns its path. */
  passwordFile(name: string, content: string): string {
    const file = this.path(name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  }

  async vl(args: string[], env: Env = this.env): Promise<RunResult> {
    return runCli(args, env);
  }

  /** Runs and asserts exit 0. */
  async ok(args: string[], env: Env = this.env): Promise<RunResult> {
    const r = await runCli(args, env);
    assert.equal(r.code, 0, describeRun(args, r));
    return r;
  }

  /** Runs with --json, asserts exit 0 and returns the parsed document. */
  async json<T>(args: string[], env: Env = this.env): Promise<T> {
    return parseJson<T>(await this.ok([...args, '--json'], env));
  }

  async init(): Promise<string> {
    const doc = await this.json<{ id: string }>(['init']);
    assert.match(doc.id, /^[0-9a-f]{32}$/);
    return doc.id;
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

const T0 = 1_700_000_000;

/** Nested folders, a unicode name, an empty file and folder, a symlink, modes, and a folder to exclude. */
function makeSourceTree(src: string): void {
  mkdirSync(path.join(src, 'docs', 'deep', 'deeper'), { recursive: true });
  mkdirSync(path.join(src, 'cache', 'tmp'), { recursive: true });
  mkdirSync(path.join(src, 'empty-dir'));
  writeFileSync(path.join(src, 'hello.txt'), 'hello world\n'.repeat(1000));
  writeFileSync(path.join(src, 'empty'), '');
  writeFileSync(path.join(src, 'docs', 'Grüße-日本語-é.txt'), 'unicode ✓\n');
  writeFileSync(
    path.join(src, 'docs', 'deep', 'deeper', 'random.bin'),
    Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)),
  );
  writeFileSync(path.join(src, 'docs', 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(path.join(src, 'docs', 'run.sh'), 0o750);
  chmodSync(path.join(src, 'hello.txt'), 0o640);
  writeFileSync(path.join(src, 'cache', 'big.tmp'), 'excluded\n');
  writeFileSync(path.join(src, 'cache', 'tmp', 'x'), 'excluded too\n');
  symlinkSync('hello.txt', path.join(src, 'link-to-hello'));
  symlinkSync('../missing/target', path.join(src, 'docs', 'dangling'));
  // Fixed timestamps, children before parents (writing into a folder changes its mtime).
  const stamp = (dir: string, depth: number): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = lstatSync(p);
      const t = T0 + depth * 1000 + name.length + 0.25;
      if (st.isDirectory()) stamp(p, depth + 1);
      if (st.isSymbolicLink()) lutimesSync(p, t, t);
      else utimesSync(p, t, t);
    }
  };
  stamp(src, 1);
  utimesSync(src, T0, T0);
}

interface EntryInfo {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeNs: bigint;
  content?: string;
  target?: string;
}

function walk(dir: string, skip: (rel: string) => boolean = () => false): Map<string, EntryInfo> {
  const out = new Map<string, EntryInfo>();
  const visit = (abs: string, rel: string): void => {
    const st = lstatSync(abs, { bigint: true });
    const mode = Number(st.mode & 0o7777n);
    if (st.isSymbolicLink()) {
      out.set(rel, { type: 'symlink', mode, mtimeNs: st.mtimeNs, target: readlinkSync(abs) });
    } else if (st.isDirectory()) {
      out.set(rel, { type: 'dir', mode, mtimeNs: st.mtimeNs });
      for (const name of readdirSync(abs).sort()) {
        const childRel = rel === '.' ? name : `${rel}/${name}`;
        if (!skip(childRel)) visit(path.join(abs, name), childRel);
      }
    } else {
      out.set(rel, {
        type: 'file',
        mode,
        mtimeNs: st.mtimeNs,
        content: readFileSync(abs).toString('base64'),
      });
    }
  };
  visit(dir, '.');
  return out;
}

/** Same entries, types, contents, modes, symlink targets and mtimes (within a microsecond). */
function assertSameTree(expected: Map<string, EntryInfo>, actual: Map<string, EntryInfo>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [rel, e] of expected) {
    const a = actual.get(rel)!;
    assert.equal(a.type, e.type, `${rel}: type`);
    assert.equal(a.content, e.content, `${rel}: content`);
    assert.equal(a.target, e.target, `${rel}: symlink target`);
    if (e.type !== 'symlink') assert.equal(a.mode.toString(8), e.mode.toString(8), `${rel}: mode`);
    const drift = a.mtimeNs > e.mtimeNs ? a.mtimeNs - e.mtimeNs : e.mtimeNs - a.mtimeNs;
    assert.ok(drift < 1000n, `${rel}: mtime ${a.mtimeNs} vs ${e.mtimeNs}`);
  }
}

describe('vaultline CLI', () => {
  const boxes: Sandbox[] = [];
  const sandbox = (): Sandbox => {
    const box = new Sandbox();
    boxes.push(box);
    return box;
  };

  before(() => {
    assert.ok(
      existsSync(path.join(ROOT, 'dist/apps/cli/src/main.js')),
      'build first: npx tsc -p tsconfig.build.json',
    );
  });

  after(() => {
    for (const box of boxes) box.cleanup();
  });

  test('init → backup → snapshots → ls → restore --verify reproduces the folder exactly', async () => {
    const box = sandbox();
    makeSourceTree(box.src);
    const repoId = await box.init();

    const backup = await box.json<{
      id: string;
      shortId: string;
      snapshot: SnapshotJson;
      unreadable: unknown[];
    }>([
      'backup',
      box.src,
      '--exclude',
      'cache/',
      '--service',
      'files',
      '--plan',
      'nightly',
      '--tag',
      'first',
      '--tag',
      'v1',
    ]);
    assert.match(backup.id, /^[0-9a-f]{64}$/);
    assert.equal(backup.shortId, backup.id.slice(0, 8));
    assert.deepEqual(backup.unreadable, []);
    assert.equal(backup.snapshot.stats.files, 5);
    assert.equal(backup.snapshot.writer, 'password');

    // Human output: the short id and a summary, no secrets.
    const human = await box.ok([
      'backup',
      box.src,
      '--exclude',
      'cache/',
      '--service',
      'files',
      '--plan',
      'nightly',
    ]);
    assert.match(human.stdout, /snapshot [0-9a-f]{8} saved/);
    assert.ok(!human.stdout.includes(PASSWORD) && !human.stderr.includes(PASSWORD));

    const snaps = await box.json<SnapshotJson[]>(['snapshots']);
    assert.equal(snaps.length, 2);
    assert.equal(snaps[0]!.id, backup.id, 'oldest first');
    assert.deepEqual(snaps[0]!.tags, ['first', 'v1']);
    assert.equal((await box.json<SnapshotJson[]>(['snapshots', '--tag', 'first'])).length, 1);
    assert.equal((await box.json<SnapshotJson[]>(['snapshots', '--service', 'other'])).length, 0);
    const table = await box.ok(['snapshots']);
    assert.match(table.stdout, /^ID\s+TIME\s+HOST\s+SERVICE\s+PLAN\s+ARCH\s+TAGS\s+SIZE\s+ADDED$/m);
    assert.ok(table.stdout.includes(backup.shortId));
    assert.match(table.stdout, /\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ/);

    // ls: top level, human and JSON; the excluded folder is absent.
    const top = await box.json<{ path: string; type: string; size: number; target?: string }[]>([
      'ls',
      backup.shortId,
    ]);
    assert.deepEqual(
      top.map((e) => e.path),
      ['/docs', '/empty', '/empty-dir', '/hello.txt', '/link-to-hello'],
    );
    assert.equal(top.find((e) => e.path === '/link-to-hello')?.target, 'hello.txt');
    assert.equal(top.find((e) => e.path === '/hello.txt')?.size, 12_000);
    const lsHuman = await box.ok(['ls', 'latest']);
    assert.match(lsHuman.stdout, /^-rw-r-----\s+11\.7 KiB\s+\S+Z\s+hello\.txt$/m);
    assert.match(lsHuman.stdout, /^lrwxrwxrwx .* link-to-hello -> hello\.txt$/m);
    assert.match(lsHuman.stdout, /^drwx.* docs\/$/m);
    const deep = await box.json<{ path: string; type: string }[]>(['ls', 'latest', '/docs', '--recursive']);
    assert.deepEqual(
      deep.map((e) => e.path),
      [
        '/docs/Grüße-日本語-é.txt',
        '/docs/dangling',
        '/docs/deep',
        '/docs/deep/deeper',
        '/docs/deep/deeper/random.bin',
        '/docs/run.sh',
      ],
    );
    const missing = await box.vl(['ls', 'latest', 'nope']);
    assert.equal(missing.code, 1);
    assertOneErrorLine(missing, /no \/nope/);

    // restore --verify, then compare byte for byte.
    const target = box.path('restored');
    const restored = await box.json<{ id: string; files: number; verified: boolean }>([
      'restore',
      backup.id,
      '--target',
      target,
      '--verify',
    ]);
    assert.equal(restored.id, backup.id);
    assert.equal(restored.verified, true);
    assert.equal(restored.files, 5);
    assertSameTree(
      walk(box.src, (rel) => rel === 'cache'),
      walk(target),
    );

    // --include restores one subtree in its place.
    const partial = box.path('partial');
    await box.ok(['restore', 'latest', '--target', partial, '--include', 'docs/deep']);
    assert.deepEqual(readdirSync(partial), ['docs']);
    assert.deepEqual(readdirSync(path.join(partial, 'docs')), ['deep']);

    const check = await box.json<{ ok: boolean; errors: string[]; packsRead: number }>([
      'check',
      '--read-data',
    ]);
    assert.equal(check.ok, true);
    assert.ok(check.packsRead > 0);
    const repoIdFromKeys = await box.json<KeyJson[]>(['key', 'list']);
    assert.equal(repoIdFromKeys.length, 1);
    assert.ok(repoId.length === 32);
  });

  test('password from --password-file (first line only); wrong password fails with one line', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    writeFileSync(path.join(box.src, 'f'), 'x');
    const file = box.passwordFile('pw', 'file-password\nsecond line is ignored\n');
    const env = { ...box.env, VAULTLINE_PASSWORD: undefined };
    await box.ok(['init', '--password-file', file], env);
    await box.ok(['backup', box.src, '--password-file', file, '--quiet'], env);
    assert.equal((await box.json<SnapshotJson[]>(['snapshots', '--password-file', file], env)).length, 1);

    const wrong = await box.vl(['snapshots'], { ...env, VAULTLINE_PASSWORD: 'not the password' });
    assert.equal(wrong.code, 12);
    assertOneErrorLine(wrong, /wrong password/);
    assert.equal(wrong.stdout, '');
    assert.ok(!wrong.stderr.includes('not the password'));

    const wrongJson = await box.vl(['snapshots', '--json'], {
      ...env,
      VAULTLINE_PASSWORD: 'not the password',
    });
    assert.equal(wrongJson.code, 12);
    assertOneErrorLine(wrongJson, /wrong password/);
    assert.equal(parseJson<{ error: { code: string } }>(wrongJson).error.code, 'WRONG_PASSWORD');

    const none = await box.vl(['snapshots'], env);
    assert.equal(none.code, 1);
    assertOneErrorLine(none, /no password: use --password-file, --password-command, .*VAULTLINE_PASSWORD$/);

    const noFile = await box.vl(['snapshots', '--password-file', box.path('absent')], env);
    assert.equal(noFile.code, 1);
    assertOneErrorLine(noFile, /cannot read password file/);
  });

  test('unreadable entries are warnings: recorded, counted, exit 3 (snapshot saved)', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    writeFileSync(path.join(box.src, 'ok.txt'), 'fine');
    // Unreadable even for root: a folder nested deeper than PATH_MAX (made with relative cds).
    const seg = 'd'.repeat(200);
    execFileSync('bash', [
      '-c',
      `cd "$1" && mkdir deep && cd deep && for i in $(seq 24); do mkdir ${seg} && cd ${seg} || exit 1; done`,
      'bash',
      box.src,
    ]);
    await box.init();
    const partial = await box.vl(['backup', box.src, '--json']);
    assert.equal(partial.code, 3, describeRun(['backup'], partial));
    const doc = parseJson<{ unreadable: { path: string; error: string }[]; snapshot: SnapshotJson }>(partial);
    assert.equal(doc.unreadable.length, 1);
    assert.match(doc.unreadable[0]!.path, /^deep\/d{200}\//);
    assert.match(doc.unreadable[0]!.error, /ENAMETOOLONG/);
    assert.equal(doc.snapshot.stats.errors, 1);
    const human = await box.vl(['backup', box.src]);
    assert.equal(human.code, 3);
    assert.match(human.stderr, /^vaultline: warning: deep\/d{200}\//m);
    assert.equal((await box.json<SnapshotJson[]>(['snapshots'])).length, 2, 'both snapshots were saved');
    assert.match(human.stdout, /1 entry could not be read/);
  });

  test('a missing repository is reported as such', async () => {
    const box = sandbox();
    const absent = await box.vl(['snapshots', '--repo', box.path('does-not-exist')]);
    assert.equal(absent.code, 10);
    assertOneErrorLine(absent, /no Vaultline repository/);

    mkdirSync(box.path('empty'));
    const empty = await box.vl(['snapshots', '--json'], { ...box.env, VAULTLINE_REPO: box.path('empty') });
    assert.equal(empty.code, 10);
    assertOneErrorLine(empty, /no Vaultline repository/);
    assert.equal(parseJson<{ error: { code: string } }>(empty).error.code, 'NO_REPOSITORY');

    await box.init();
    const again = await box.vl(['init']);
    assert.equal(again.code, 1);
    assertOneErrorLine(again, /already exists/);
  });

  test('the writer key backs up alone but cannot restore', async () => {
    const box = sandbox();
    makeSourceTree(box.src);
    await box.init();
    const { writerKey } = await box.json<{ writerKey: string }>(['key', 'export-writer']);
    assert.match(writerKey, /^vlwk1\./);
    const keyFile = box.path('writer.key');
    writeFileSync(keyFile, writerKey + '\n', { mode: 0o600 });
    const writerEnv = { ...box.env, VAULTLINE_PASSWORD: undefined };

    const r = await box.ok(
      ['backup', box.src, '--writer-key-file', keyFile, '--service', 'svc', '--json'],
      writerEnv,
    );
    const doc = parseJson<{ snapshot: SnapshotJson }>(r);
    assert.equal(doc.snapshot.writer, 'writer-key');
    assert.ok(
      !r.stdout.includes(writerKey) && !r.stderr.includes(writerKey),
      'the writer key is never echoed',
    );

    // The env variable works too, and listing needs no password.
    const viaEnv = { ...writerEnv, VAULTLINE_WRITER_KEY: writerKey };
    await box.ok(['backup', box.src, '--service', 'svc', '--quiet'], viaEnv);
    assert.equal((await box.json<SnapshotJson[]>(['snapshots'], viaEnv)).length, 2);

    const restore = await box.vl(
      ['restore', 'latest', '--target', box.path('out'), '--writer-key-file', keyFile],
      writerEnv,
    );
    assert.equal(restore.code, 1);
    assertOneErrorLine(restore, /password/);
    assert.ok(!restore.stderr.includes(writerKey));

    const ls = await box.vl(['ls', 'latest'], viaEnv);
    assert.equal(ls.code, 1);
    assertOneErrorLine(ls, /password/);

    const exp = await box.vl(['key', 'export-writer'], viaEnv);
    assert.equal(exp.code, 1);
    assertOneErrorLine(exp, /password/);

    // With both, the password wins: restore works.
    await box.ok(['restore', 'latest', '--target', box.path('out'), '--writer-key-file', keyFile, '--quiet']);

    const bad = await box.vl(['snapshots'], { ...writerEnv, VAULTLINE_WRITER_KEY: 'vlwk1.garbage' });
    assert.equal(bad.code, 2);
    assertOneErrorLine(bad, /writer key is malformed/);
  });

  test('forget --keep-last 1 --prune keeps one snapshot and the repository stays sound', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    for (let i = 0; i < 3; i++) {
      writeFileSync(path.join(box.src, `file-${i}.bin`), Buffer.alloc(100_000 + i, i + 1));
      if (i === 0) await box.init();
      await box.ok(['backup', box.src, '--service', 'svc', '--quiet']);
    }
    const before = await box.json<SnapshotJson[]>(['snapshots']);
    assert.equal(before.length, 3);

    const dry = await box.json<{ dryRun: boolean; kept: { id: string }[]; removed: { id: string }[] }>([
      'forget',
      '--keep-last',
      '1',
      '--dry-run',
    ]);
    assert.equal(dry.dryRun, true);
    assert.equal(dry.removed.length, 2);
    assert.equal((await box.json<SnapshotJson[]>(['snapshots'])).length, 3);

    const human = await box.ok(['forget', '--keep-last', '1', '--dry-run']);
    assert.match(human.stdout, /keep\s+[0-9a-f]{8}.*last/);
    assert.match(human.stdout, /would remove\s+[0-9a-f]{8}/);

    const done = await box.json<{
      kept: { id: string; reasons: string[] }[];
      removed: { id: string }[];
      prune: { packsDeleted: number; bytesFreed: number };
    }>(['forget', '--keep-last', '1', '--prune', '--safety-margin', '0s']);
    assert.equal(done.kept.length, 1);
    assert.deepEqual(done.kept[0]!.reasons, ['last']);
    assert.equal(done.kept[0]!.id, before[2]!.id, 'the newest is kept');
    assert.equal(done.removed.length, 2);
    assert.equal(typeof done.prune.packsDeleted, 'number');

    const after = await box.json<SnapshotJson[]>(['snapshots']);
    assert.deepEqual(
      after.map((s) => s.id),
      [before[2]!.id],
    );
    const prune = await box.json<{ dryRun: boolean; packsDeleted: number }>(['prune', '--dry-run']);
    assert.equal(prune.dryRun, true);
    const check = await box.json<{ ok: boolean }>(['check', '--read-data=100']);
    assert.equal(check.ok, true);
    const target = box.path('out');
    await box.ok(['restore', 'latest', '--target', target, '--verify', '--quiet']);
    assertSameTree(walk(box.src), walk(target));
  });

  test('key add / list / remove / passwd', async () => {
    const box = sandbox();
    const a = box.passwordFile('a', 'password-a\n');
    const b = box.passwordFile('b', 'password-b\n');
    const c = box.passwordFile('c', 'password-c');
    const env = { ...box.env, VAULTLINE_PASSWORD: undefined };
    const withA = ['--password-file', a];
    await box.ok(['init', ...withA], env);

    const added = await box.json<{ id: string }>(['key', 'add', '--new-password-file', b, ...withA], env);
    const keys = await box.json<KeyJson[]>(['key', 'list', ...withA], env);
    assert.equal(keys.length, 2);
    assert.equal(keys.filter((k) => k.current).length, 1);
    assert.ok(keys.some((k) => k.id === added.id && !k.current));
    const listed = await box.ok(['key', 'list', '--password-file', b], env);
    assert.match(listed.stdout, new RegExp(`^\\*\\s+${added.id}`, 'm'));

    // Remove B (by unique prefix): B stops working.
    await box.json<{ removed: string }>(['key', 'remove', added.id.slice(0, 12), ...withA], env);
    const gone = await box.vl(['snapshots', '--password-file', b], env);
    assert.equal(gone.code, 12);
    assertOneErrorLine(gone, /wrong password/);

    // passwd: A → C. A stops working, C works.
    const changed = await box.json<{ id: string; removed: string }>(
      ['key', 'passwd', '--new-password-file', c, ...withA],
      env,
    );
    assert.notEqual(changed.id, changed.removed);
    const old = await box.vl(['snapshots', ...withA], env);
    assert.equal(old.code, 12);
    assertOneErrorLine(old, /wrong password/);
    const keysC = await box.json<KeyJson[]>(['key', 'list', '--password-file', c], env);
    assert.deepEqual(
      keysC.map((k) => [k.id, k.current]),
      [[changed.id, true]],
    );

    const last = await box.vl(['key', 'remove', changed.id, '--password-file', c], env);
    assert.equal(last.code, 1);
    assertOneErrorLine(last, /last key/);
    const unknown = await box.vl(['key', 'remove', 'ffffffffffff', '--password-file', c], env);
    assert.equal(unknown.code, 1);
    assertOneErrorLine(unknown, /no key/);
    const noNew = await box.vl(['key', 'add', '--password-file', c], env);
    assert.equal(noNew.code, 1);
    assertOneErrorLine(noNew, /--new-password-file/);
  });

  test('check exits 1 when data is missing', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    writeFileSync(path.join(box.src, 'data.bin'), Buffer.alloc(200_000, 7));
    await box.init();
    await box.ok(['backup', box.src, '--quiet']);
    const ok = await box.ok(['check']);
    assert.match(ok.stdout, /no errors found/);

    const packs: string[] = [];
    const find = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (lstatSync(p).isDirectory()) find(p);
        else packs.push(p);
      }
    };
    find(path.join(box.repo, 'data'));
    assert.ok(packs.length > 0);
    for (const p of packs) unlinkSync(p);

    const broken = await box.vl(['check', '--json']);
    assert.equal(broken.code, 1);
    assertOneErrorLine(broken, /check found \d+ errors?/);
    const doc = parseJson<{ ok: boolean; errors: string[] }>(broken);
    assert.equal(doc.ok, false);
    assert.ok(doc.errors.some((e) => /missing/.test(e)));

    const human = await box.vl(['check']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^error: .*missing/m);
  });

  test('usage errors exit 2 with one line naming the problem', async () => {
    const box = sandbox();
    await box.init();
    const cases: [string[], RegExp, Env?][] = [
      [['snapshots'], /no repository: use --repo/, { ...box.env, VAULTLINE_REPO: undefined }],
      [['forget', '--keep-last', '-1'], /--keep-last/],
      [['forget', '--keep-daily', 'two'], /--keep-daily/],
      [['forget'], /exactly one of/],
      [['forget', '--all'], /--service or --plan/],
      [['prune', '--safety-margin', '5 parsecs'], /--safety-margin/],
      [['prune', '--repack-threshold', '2'], /--repack-threshold/],
      [['check', '--read-data', '0'], /--read-data/],
      [['init', '--compression-level', '42'], /--compression-level/],
      [['init', '--pack-size', 'big'], /--pack-size/],
      [['restore', 'latest'], /--target/],
      [['backup'], /missing required argument 'dir'/],
      [['backup', '.', '--tag', 'bad tag!'], /--tag/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['snapshots', '--no-such-option'], /unknown option '--no-such-option'/],
      [['snapshots', 'extra'], /too many arguments/],
      [[], /missing command/],
      [['key'], /missing command/],
      [['snapshots', '--repo', 's3://Bad_Bucket'], /bucket/],
      [['ls', 'not-an-id!'], /not a snapshot id/],
    ];
    for (const [args, pattern, env] of cases) {
      const r = await box.vl(args, env ?? box.env);
      assert.equal(r.code, 2, describeRun(args, r));
      assertOneErrorLine(r, pattern);
      assert.equal(r.stdout, '', `no stdout for ${args.join(' ')}`);
    }
    // With --json the failure is also a JSON document on stdout.
    const j = await box.vl(['forget', '--keep-last', 'x', '--json']);
    assert.equal(j.code, 2);
    assert.equal(parseJson<{ error: { code: string } }>(j).error.code, 'USAGE');
    const kdf = await box.vl(['init', '--repo', box.path('other')], {
      ...box.env,
      VAULTLINE_KDF_MEMORY_KIB: 'lots',
    });
    assert.equal(kdf.code, 2);
    assertOneErrorLine(kdf, /VAULTLINE_KDF_MEMORY_KIB/);
  });

  test('an s3:// repository works end to end (and the process exits)', async () => {
    const box = sandbox();
    const s3 = await startS3Server();
    try {
      makeSourceTree(box.src);
      const env = { ...box.env, ...s3.env, VAULTLINE_REPO: 's3://vaultline-cli/team/backups' };
      await box.json<{ id: string }>(['init'], env);
      const backup = await box.json<{ id: string }>(['backup', box.src, '--exclude', 'cache/'], env);
      assert.equal((await box.json<SnapshotJson[]>(['snapshots'], env))[0]!.id, backup.id);
      const target = box.path('from-s3');
      await box.ok(['restore', 'latest', '--target', target, '--verify', '--quiet'], env);
      assertSameTree(
        walk(box.src, (rel) => rel === 'cache'),
        walk(target),
      );
      const missing = await box.vl(['snapshots'], { ...env, VAULTLINE_REPO: 's3://vaultline-cli/elsewhere' });
      assert.equal(missing.code, 10);
      assertOneErrorLine(missing, /no Vaultline repository/);
      const noBucket = await box.vl(['snapshots'], { ...env, VAULTLINE_REPO: 's3://no-such-bucket/x' });
      assert.equal(noBucket.code, 10);
      assertOneErrorLine(noBucket, /no Vaultline repository/);
      const noKey = await box.vl(['snapshots'], {
        ...env,
        VAULTLINE_S3_ACCESS_KEY: undefined,
        AWS_ACCESS_KEY_ID: undefined,
      });
      assert.equal(noKey.code, 2);
      assertOneErrorLine(noKey, /VAULTLINE_S3_ACCESS_KEY/);
    } finally {
      await s3.stop();
    }
  });

  test('--help and --version exit 0', async () => {
    const box = sandbox();
    const help = await box.ok(['--help']);
    assert.match(help.stdout, /Usage: vaultline/);
    assert.equal(help.stderr, '');
    const initHelp = await box.ok(['init', '--help']);
    assert.match(initHelp.stdout, /VAULTLINE_KDF_MEMORY_KIB/);
    const keyHelp = await box.ok(['help', 'key']);
    assert.match(keyHelp.stdout, /export-writer/);
    const version = await box.ok(['--version']);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  test('password sources: file and command, by flag or environment; conflicts are usage errors', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    writeFileSync(path.join(box.src, 'f'), 'x');
    await box.init();
    const noPw = { ...box.env, VAULTLINE_PASSWORD: undefined };
    const file = box.passwordFile('pw', `${PASSWORD}\nignored\n`);
    await box.ok(['snapshots'], { ...noPw, VAULTLINE_PASSWORD_FILE: file });
    const cmd = `printf '%s\\n%s\\n' '${PASSWORD}' 'second line'`;
    await box.ok(['snapshots', '--password-command', cmd], noPw);
    await box.ok(['snapshots'], { ...noPw, VAULTLINE_PASSWORD_COMMAND: cmd });
    // A flag beats the environment (a wrong VAULTLINE_PASSWORD is not even looked at).
    await box.ok(['snapshots', '--password-file', file], { ...box.env, VAULTLINE_PASSWORD: 'wrong' });
    await box.ok(['snapshots', '--password-command', cmd], {
      ...noPw,
      VAULTLINE_PASSWORD_FILE: box.path('absent'),
    });
    // The file and command variables beat VAULTLINE_PASSWORD.
    const wrongFile = box.passwordFile('wrong', 'nope-nope-nope\n');
    const wrong = await box.vl(['snapshots'], { ...box.env, VAULTLINE_PASSWORD_FILE: wrongFile });
    assert.equal(wrong.code, 12);

    const conflicts: [string[], Env, RegExp][] = [
      [['--password-file', file, '--password-command', cmd], noPw, /mutually exclusive/],
      [[], { ...noPw, VAULTLINE_PASSWORD_FILE: file, VAULTLINE_PASSWORD_COMMAND: cmd }, /mutually exclusive/],
    ];
    for (const [args, env, pattern] of conflicts) {
      const r = await box.vl(['snapshots', ...args], env);
      assert.equal(r.code, 2, describeRun(args, r));
      assertOneErrorLine(r, pattern);
    }

    // A failing or silent command is an error that never shows what it printed.
    const failing = await box.vl(['snapshots', '--password-command', "echo 'hunter2-secret'; exit 3"], noPw);
    assert.equal(failing.code, 1);
    assertOneErrorLine(failing, /--password-command: the password command exited with status 3/);
    assert.ok(!failing.stderr.includes('hunter2') && !failing.stdout.includes('hunter2'));
    const silent = await box.vl(['snapshots', '--json'], { ...noPw, VAULTLINE_PASSWORD_COMMAND: 'true' });
    assert.equal(silent.code, 1);
    assertOneErrorLine(silent, /VAULTLINE_PASSWORD_COMMAND: the password command printed no password/);
    assert.equal(parseJson<{ error: { code: string } }>(silent).error.code, 'EMPTY_PASSWORD');
  });

  test('exit codes: 11 when locked (after --retry-lock when given), unlock removes stale locks (all with --remove-all)', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    writeFileSync(path.join(box.src, 'f'), 'x');
    await box.init();
    await box.ok(['backup', box.src, '--quiet']);
    const lockDir = path.join(box.repo, 'locks');
    mkdirSync(lockDir, { recursive: true });
    const writeLock = (name: string, kind: string, ageMs: number): void => {
      const t = Date.now() - ageMs;
      writeFileSync(
        path.join(lockDir, name),
        JSON.stringify({ kind, host: 'elsewhere', pid: 4242, created: t, refreshed: t, operation: 'prune' }),
      );
    };
    writeLock('a'.repeat(32), 'exclusive', 0);
    writeLock('b'.repeat(32), 'shared', 3_600_000);
    for (const args of [
      ['backup', box.src],
      ['forget', '--keep-last', '1'],
    ]) {
      const r = await box.vl(args);
      assert.equal(r.code, 11, describeRun(args, r));
      assertOneErrorLine(r, /locked by prune on elsewhere \(pid 4242\)/);
    }
    // --retry-lock: tried again for that long, then the same exit code, saying it waited …
    const retried = await box.vl(['forget', '--keep-last', '1', '--retry-lock', '600ms']);
    assert.equal(retried.code, 11, describeRun(['forget', '--retry-lock'], retried));
    assertOneErrorLine(retried, /locked by prune on elsewhere .*still locked after \d+ s of retrying/);
    // … or the command goes ahead once the holder is done (its lock gone while we wait).
    const waiting = box.vl(['backup', box.src, '--quiet', '--retry-lock', '1m']);
    setTimeout(() => rmSync(path.join(lockDir, 'a'.repeat(32))), 700);
    const after = await waiting;
    assert.equal(after.code, 0, describeRun(['backup', '--retry-lock'], after));
    writeLock('a'.repeat(32), 'exclusive', 0);
    const stale = await box.json<{ removed: { name: string; stale: boolean }[]; kept: unknown[] }>([
      'unlock',
    ]);
    assert.deepEqual(
      stale.removed.map((l) => [l.name, l.stale]),
      [[`locks/${'b'.repeat(32)}`, true]],
    );
    assert.equal(stale.kept.length, 1);
    assert.equal((await box.vl(['forget', '--keep-last', '1'])).code, 11);
    const all = await box.ok(['unlock', '--remove-all']);
    assert.match(all.stdout, /removed active exclusive lock of prune on elsewhere/);
    assert.deepEqual(readdirSync(lockDir), []);
    await box.ok(['forget', '--keep-last', '1', '--quiet']);
  });

  test('Ctrl-C exits 130 with one line', async () => {
    const box = sandbox();
    await box.init();
    const marker = box.path('asked');
    const r = await runCli(
      ['snapshots', '--password-command', `exec 2>/dev/null; touch '${marker}'; sleep 5; echo x`],
      { ...box.env, VAULTLINE_PASSWORD: undefined },
      {
        onSpawn: (child) => {
          const poll = setInterval(() => {
            if (existsSync(marker)) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          }, 20);
          child.on('exit', () => clearInterval(poll));
        },
      },
    );
    assert.equal(r.code, 130, describeRun(['snapshots'], r));
    assertOneErrorLine(r, /^vaultline: interrupted$/);
  });

  test('forget --keep-within and --group-by', async () => {
    const box = sandbox();
    mkdirSync(box.src);
    writeFileSync(path.join(box.src, 'f'), 'x');
    await box.init();
    for (const host of ['h1', 'h1', 'h2']) await box.ok(['backup', box.src, '--host', host, '--quiet']);
    // Everything was made within the last hour of the latest snapshot.
    const within = await box.json<{ kept: { reasons: string[] }[]; removed: unknown[] }>([
      'forget',
      '--keep-within',
      '1h',
      '--dry-run',
    ]);
    assert.equal(within.kept.length, 3);
    assert.deepEqual(within.kept[0]!.reasons, ['within 1h']);
    // Default grouping (service, plan): one group; by host: two groups, each keeps its newest.
    const one = await box.json<{ removed: unknown[] }>(['forget', '--keep-last', '1', '--dry-run']);
    assert.equal(one.removed.length, 2);
    const byHost = await box.json<{ kept: { snapshot: { host: string } }[]; removed: unknown[] }>([
      'forget',
      '--keep-last',
      '1',
      '--group-by',
      'host',
      '--dry-run',
    ]);
    assert.deepEqual(byHost.kept.map((k) => k.snapshot.host).sort(), ['h1', 'h2']);
    for (const [args, pattern] of [
      [['forget', '--keep-within', '7x'], /--keep-within/],
      [['forget', '--keep-within', '0d'], /must keep something/],
      [['forget', '--keep-last', '1', '--group-by', 'host,colour'], /--group-by/],
    ] as const) {
      const r = await box.vl([...args]);
      assert.equal(r.code, 2, describeRun([...args], r));
      assertOneErrorLine(r, pattern);
    }
  });

  test('stats, diff and find', async () => {
    const box = sandbox();
    makeSourceTree(box.src);
    await box.init();
    const first = await box.json<{ id: string }>(['backup', box.src, '--exclude', 'cache/']);
    // Change: modify, add, remove, turn a file into a folder, touch a mode.
    writeFileSync(path.join(box.src, 'hello.txt'), 'changed\n');
    writeFileSync(path.join(box.src, 'docs', 'new.log'), 'new\n');
    rmSync(path.join(box.src, 'docs', 'deep'), { recursive: true });
    rmSync(path.join(box.src, 'empty'));
    mkdirSync(path.join(box.src, 'empty'));
    writeFileSync(path.join(box.src, 'empty', 'inside.log'), 'in\n');
    chmodSync(path.join(box.src, 'docs', 'run.sh'), 0o700);
    const second = await box.json<{ id: string }>(['backup', box.src, '--exclude', 'cache/']);

    const restoreSize = await box.json<{ mode: string; snapshots: number; files: number; bytes: number }>([
      'stats',
      first.id,
    ]);
    assert.equal(restoreSize.mode, 'restore-size');
    assert.equal(restoreSize.snapshots, 1);
    assert.equal(restoreSize.files, 5); // hello, empty, Grüße, random.bin, run.sh
    assert.equal(restoreSize.bytes, 12_000 + 0 + Buffer.byteLength('unicode ✓\n') + 300_000 + 18);
    const raw = await box.json<{ mode: string; blobs: number; bytes: number; storedBytes: number }>([
      'stats',
      '--mode',
      'raw-data',
    ]);
    assert.equal(raw.mode, 'raw-data');
    assert.ok(raw.blobs > 0 && raw.storedBytes > 0 && raw.bytes > 0);
    const human = await box.ok(['stats']);
    assert.match(human.stdout, /snapshots: +2/);
    assert.equal((await box.vl(['stats', '--mode', 'weird'])).code, 2);

    const diff = await box.json<{
      changes: { kind: string; path: string }[];
      summary: { files: { added: number; removed: number; changed: number }; dirs: { removed: number } };
    }>(['diff', first.id, second.id]);
    const lines = diff.changes.map((c) => `${c.kind} ${c.path}`);
    for (const expected of [
      'M /hello.txt',
      '+ /docs/new.log',
      '- /docs/deep/',
      '- /docs/deep/deeper/random.bin',
      'T /empty/',
      '+ /empty/inside.log',
    ]) {
      assert.ok(lines.includes(expected), `${expected} in ${JSON.stringify(lines)}`);
    }
    assert.ok(!lines.some((l) => l.startsWith('U')), 'metadata-only changes need --metadata');
    assert.equal(diff.summary.files.changed, 1);
    assert.equal(diff.summary.files.added, 2);
    assert.equal(diff.summary.files.removed, 1); // random.bin (the file `empty` became a folder: T)
    assert.equal(diff.summary.dirs.removed, 2);
    const withMeta = await box.ok(['diff', first.id.slice(0, 8), second.id.slice(0, 8), '--metadata']);
    assert.match(withMeta.stdout, /^U {4}\/docs\/run\.sh$/m);
    assert.match(withMeta.stdout, /^M {4}\/hello\.txt$/m);
    assert.match(withMeta.stdout, /^Files: +2 new, 1 removed, 1 changed$/m);

    const found = await box.json<{ snapshot: string; path: string; size: number }[]>(['find', '*.log']);
    assert.deepEqual(
      found.map((f) => [f.snapshot, f.path]),
      [
        [second.id, '/docs/new.log'],
        [second.id, '/empty/inside.log'],
      ],
    );
    const byPath = await box.json<{ snapshot: string; path: string }[]>(['find', '/docs/**/*.bin']);
    assert.deepEqual(
      byPath.map((f) => [f.snapshot, f.path]),
      [[first.id, '/docs/deep/deeper/random.bin']],
    );
    const one = await box.json<{ path: string }[]>(['find', 'HELLO.TXT', '-i', '--snapshot', first.id]);
    assert.deepEqual(
      one.map((f) => f.path),
      ['/hello.txt'],
    );
    const table = await box.ok(['find', 'random.bin']);
    assert.match(
      table.stdout,
      new RegExp(`^${first.id.slice(0, 8)}  /docs/deep/deeper/random.bin  293\\.0 KiB  \\d{4}-`, 'm'),
    );
  });

  test('completion scripts come from the command tree', async () => {
    const box = sandbox();
    const bash = await box.ok(['completion', 'bash']);
    assert.match(bash.stdout, /complete .*-F _vaultline vaultline/);
    execFileSync('bash', ['-n'], { input: bash.stdout });
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const script = `${bash.stdout}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_vaultline; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return execFileSync('bash', ['-c', script], { encoding: 'utf8', cwd: box.root })
        .split('\n')
        .filter((l) => l !== '');
    };
    assert.ok(complete('vaultline ').includes('diff'));
    assert.deepEqual(complete('vaultline st'), ['stats']);
    assert.deepEqual(complete('vaultline --repo /x key pa'), ['passwd']);
    assert.ok(complete('vaultline backup --').includes('--one-file-system'));
    assert.ok(complete('vaultline backup --').includes('--repo'), 'global options too');
    assert.deepEqual(complete('vaultline stats --mode r'), ['restore-size', 'raw-data']);
    assert.deepEqual(complete('vaultline completion f'), ['fish']);
    const zsh = await box.ok(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef vaultline/);
    assert.match(zsh.stdout, /'find:find files/);
    const fish = await box.ok(['completion', 'fish']);
    assert.match(fish.stdout, /complete -c vaultline -n '__fish_use_subcommand' -a 'unlock'/);
    assert.match(fish.stdout, /-l keep-within -x/);
    for (const [shell, check] of [
      ['zsh', ['-n']],
      ['fish', ['--no-execute']],
    ] as const) {
      if (!spawnSyncSafe(shell)) continue;
      // As a file: fish reads a piped script from a pipe it stats, which fails under node --test.
      const file = box.path(`completion.${shell}`);
      writeFileSync(file, shell === 'zsh' ? zsh.stdout : fish.stdout);
      execFileSync(shell, [...check, file]);
    }
    const bad = await box.vl(['completion', 'tcsh']);
    assert.equal(bad.code, 2);
    assertOneErrorLine(bad, /unknown shell/);
  });

  test('the fish script completes commands, options and choices in a real fish', async (t) => {
    if (!spawnSyncSafe('fish')) return t.skip('fish is not installed (apt-get install fish)');
    const box = sandbox();
    const script = box.path('vaultline.fish');
    writeFileSync(script, (await box.ok(['completion', 'fish'])).stdout);
    writeFileSync(box.path('some-file.txt'), '');
    // `complete -C` prints what fish would offer for a command line: candidate<TAB>description.
    const complete = (line: string): string[] =>
      execFileSync('fish', ['--no-config', '-c', `source ${script}; complete -C ${JSON.stringify(line)}`], {
        encoding: 'utf8',
        cwd: box.root,
      })
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t')[0]!);
    assert.deepEqual(complete('vaultline st'), ['stats']);
    assert.ok(complete('vaultline ').includes('diff'));
    assert.deepEqual(complete('vaultline key pa'), ['passwd']);
    assert.deepEqual(complete('vaultline backup --one'), ['--one-file-system']);
    assert.deepEqual(complete('vaultline completion f'), ['fish']);
    // An option's choices, and nothing but them (no file names from the folder).
    assert.deepEqual(complete('vaultline stats --mode r').sort(), ['raw-data', 'restore-size']);
    assert.deepEqual(complete('vaultline backup --tag s'), []);
    // File options and positional paths do offer files.
    assert.ok(complete('vaultline backup --exclude-file so').includes('some-file.txt'));
    assert.ok(complete('vaultline backup so').includes('some-file.txt'));
  });

  test('the zsh script completes commands, options and choices when zsh runs it', async (t) => {
    if (!spawnSyncSafe('zsh')) return t.skip('zsh is not installed (apt-get install zsh)');
    const box = sandbox();
    const script = box.path('_vaultline');
    writeFileSync(script, (await box.ok(['completion', 'zsh'])).stdout);
    // zsh runs the generated function itself; only the completion system's output builtins are
    // replaced by ones that print what they were given (zsh filters by the typed prefix, so does
    // this test).
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const prefix = words[words.length - 1]!;
      const program = [
        'compdef() { :; }',
        'compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }',
        "_files() { print -r -- '<files>'; }",
        '_describe() { shift 3; local n; for n in "$@"; do [[ $n == -- ]] && continue; ' +
          'print -rl -- "${(@)${(@P)n}%%:*}"; done; }',
        `source ${script}`,
        `words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; PREFIX='${prefix}'`,
        // A completer that finds nothing returns 1, as zsh expects; that is not a failure here.
        '_vaultline || true',
      ].join('\n');
      const out = execFileSync('zsh', ['-f', '-c', program], { encoding: 'utf8', cwd: box.root });
      return out
        .split('\n')
        .filter((l) => l !== '' && (l === '<files>' || l.replace(/\\/g, '').startsWith(prefix)));
    };
    assert.deepEqual(complete('vaultline st'), ['stats']);
    assert.ok(complete('vaultline ').includes('diff'));
    assert.deepEqual(complete('vaultline --repo /x key pa'), ['passwd']);
    assert.deepEqual(complete('vaultline backup --one'), ['--one-file-system']);
    assert.ok(complete('vaultline backup --').includes('--repo'), 'global options too');
    assert.deepEqual(complete('vaultline stats --mode r').sort(), ['raw-data', 'restore-size']);
    assert.deepEqual(complete('vaultline completion f'), ['fish']);
    assert.deepEqual(complete('vaultline backup --tag s'), []);
    assert.deepEqual(complete('vaultline backup --exclude-file s'), ['<files>']);
    assert.deepEqual(complete('vaultline backup s'), ['<files>']);
  });

  test('the sh launcher runs on the project Node, through npm symlinks, without node on PATH', async () => {
    const box = sandbox();
    const launcher = path.join(ROOT, 'node_modules/.bin/vaultline');
    const noNode = { ...baseEnv(), PATH: '/usr/bin:/bin' };
    const direct = await runFile(launcher, ['--version'], noNode);
    assert.equal(direct.code, 0, describeRun(['--version'], direct));
    assert.match(direct.stdout, /^\d+\.\d+\.\d+\n$/);
    const link = box.path('bin', 'vl');
    mkdirSync(box.path('bin'));
    symlinkSync(launcher, link);
    const linked = await runFile(link, ['snapshots', '--repo', box.path('nope')], noNode);
    assert.equal(linked.code, 10, describeRun(['snapshots'], linked));
    // An old Node is refused with one line.
    const old = process.versions.node.startsWith('20.') ? process.execPath : '/usr/bin/node';
    if (existsSync(old) && /^v(1\d|2[0-3])\./.test(execFileSync(old, ['--version'], { encoding: 'utf8' }))) {
      const refused = await runFile(launcher, ['--version'], { ...noNode, VAULTLINE_NODE: old });
      assert.equal(refused.code, 1);
      assertOneErrorLine(refused, /needs Node\.js 24\.7 or newer/);
    }
  });

  test('README and --help list every exit code', async () => {
    const box = sandbox();
    const help = await box.ok(['--help']);
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const [code, meaning] of EXIT_CODES) {
      assert.match(help.stdout, new RegExp(`^ +${code}  ${meaning.replace(/[()]/g, '\\$&')}$`, 'm'));
      assert.match(readme, new RegExp(`^\\| ${code} +\\|`, 'm'), `README: exit code ${code}`);
    }
  });
});
