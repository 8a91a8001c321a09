/**
 * `vaultline backup` flags whose engine side is being built beside the CLI: --dry-run,
 * --one-file-system (-x), --files-from and --stdin/--stdin-filename. The usage checks are the
 * CLI's own; the behaviour tests need the engine's BackupOptions dryRun / oneFileSystem / only /
 * stdin (until they land those fail: the engine ignores the options it does not know).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { baseEnv, describeRun, runCli, type Env, type RunResult } from '../support/cli-runner';

interface SnapshotDoc {
  dryRun?: boolean;
  id: string;
  snapshot: {
    stats: { files: number; filesNew: number; filesChanged: number; totalBytes: number; bytesAdded: number };
  };
}

interface LsEntry {
  path: string;
  type: string;
  size: number;
}

class Box {
  readonly root = mkdtempSync(path.join(tmpdir(), 'vaultline-flags-'));
  readonly repo = path.join(this.root, 'repo');
  readonly src = path.join(this.root, 'src');
  readonly env: Env;

  constructor() {
    this.env = {
      ...baseEnv(),
      VAULTLINE_REPO: this.repo,
      VAULTLINE_PASSWORD: 'flags-test-password',
    };
    mkdirSync(this.src);
  }

  path(...p: string[]): string {
    return path.join(this.root, ...p);
  }

  write(rel: string, content: string | Buffer): void {
    mkdirSync(path.dirname(path.join(this.src, rel)), { recursive: true });
    writeFileSync(path.join(this.src, rel), content);
  }

  vl(args: string[], input?: Buffer): Promise<RunResult> {
    return runCli(args, this.env, { input });
  }

  async ok(args: string[], input?: Buffer): Promise<RunResult> {
    const r = await runCli(args, this.env, { input });
    assert.equal(r.code, 0, describeRun(args, r));
    return r;
  }

  async json<T>(args: string[], input?: Buffer): Promise<T> {
    return JSON.parse((await this.ok([...args, '--json'], input)).stdout) as T;
  }

  /** Every object in the repository except locks: name → size. */
  objects(): Map<string, number> {
    const out = new Map<string, number>();
    const walk = (dir: string, rel: string): void => {
      for (const name of readdirSync(dir)) {
        const abs = path.join(dir, name);
        const r = rel ? `${rel}/${name}` : name;
        if (r === 'locks') continue;
        if (statSync(abs).isDirectory()) walk(abs, r);
        else out.set(r, statSync(abs).size);
      }
    };
    walk(this.repo, '');
    return out;
  }

  async paths(ref = 'latest'): Promise<string[]> {
    return (await this.json<LsEntry[]>(['ls', ref, '/', '-r'])).map((e) => e.path).sort();
  }
}

describe('vaultline backup flags', () => {
  const boxes: Box[] = [];
  const box = (): Box => {
    const b = new Box();
    boxes.push(b);
    return b;
  };
  after(() => {
    for (const b of boxes) {
      try {
        execFileSync('umount', [b.path('src', 'mnt')], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
      rmSync(b.root, { recursive: true, force: true });
    }
  });

  test('usage errors: files outside <dir>, --stdin with a <dir>, --stdin-filename alone', async () => {
    const b = box();
    await b.ok(['init', '--quiet']);
    const list = b.path('list.txt');
    const cases: [string[], RegExp][] = [
      [['backup', b.src, '--files-from', list], /outside/],
      [['backup', b.src, '--files-from', b.path('absent.txt')], /cannot read files-from file/],
      [['backup', '--stdin', b.src], /--stdin backs up stdin: give no <dir>/],
      [['backup', '--stdin', '--files-from', list], /cannot be used with --stdin/],
      [['backup', b.src, '--stdin-filename', 'x'], /--stdin-filename needs --stdin/],
      [['backup', '--stdin', '--stdin-filename', 'a/b'], /plain file name/],
      [['backup'], /missing required argument 'dir'/],
    ];
    writeFileSync(list, `# comment\n\nok.txt\n${b.path('elsewhere.txt')}\n`);
    for (const [args, pattern] of cases) {
      const r = await b.vl(args);
      const expected = /cannot read/.test(pattern.source) ? 1 : 2;
      assert.equal(r.code, expected, describeRun(args, r));
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
    }
    const snapshots = path.join(b.repo, 'snapshots');
    assert.deepEqual(existsSync(snapshots) ? readdirSync(snapshots) : [], [], 'nothing was backed up');
  });

  test('--dry-run writes nothing and reports what would be added', async () => {
    const b = box();
    b.write('a.txt', 'alpha\n'.repeat(1000));
    b.write('dir/b.bin', Buffer.alloc(50_000, 7));
    await b.ok(['init', '--quiet']);
    await b.ok(['backup', b.src, '--quiet']);
    b.write('c.txt', 'a new file\n');
    b.write('a.txt', 'changed\n');
    const before = b.objects();
    const doc = await b.json<SnapshotDoc>(['backup', b.src, '--dry-run']);
    assert.equal(doc.dryRun, true);
    assert.equal(doc.snapshot.stats.files, 3);
    assert.equal(doc.snapshot.stats.filesNew, 1);
    assert.equal(doc.snapshot.stats.filesChanged, 1);
    const human = await b.ok(['backup', b.src, '-n']);
    assert.match(human.stdout, /dry run: nothing was written/);
    assert.match(human.stdout, /files: 3 \(1 new, 1 changed, 1 unmodified\)/);
    assert.deepEqual(b.objects(), before, 'no object was written, changed or removed');
    assert.equal((await b.json<unknown[]>(['snapshots'])).length, 1);
  });

  test('--one-file-system (-x) does not descend into a mount point', async (t: TestContext) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to mount a tmpfs');
    const b = box();
    b.write('top.txt', 'top\n');
    mkdirSync(path.join(b.src, 'mnt'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path.join(b.src, 'mnt')], {
        stdio: 'pipe',
      });
    } catch (err) {
      return t.skip(`cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}`);
    }
    writeFileSync(path.join(b.src, 'mnt', 'other-fs.txt'), 'on the tmpfs\n');
    await b.ok(['init', '--quiet']);
    const all = await b.json<SnapshotDoc>(['backup', b.src]);
    assert.ok((await b.paths(all.id)).includes('/mnt/other-fs.txt'));
    const x = await b.json<SnapshotDoc>(['backup', b.src, '-x']);
    const paths = await b.paths(x.id);
    assert.ok(paths.includes('/top.txt'));
    assert.ok(!paths.includes('/mnt/other-fs.txt'), `nothing from the other file system: ${paths.join(' ')}`);
    assert.equal(x.snapshot.stats.files, 1);
    const long = await b.json<SnapshotDoc>(['backup', b.src, '--one-file-system']);
    assert.equal(long.snapshot.stats.files, 1);
  });

  test('--files-from backs up only the listed paths (relative or absolute inside <dir>, repeatable)', async () => {
    const b = box();
    b.write('keep/a.txt', 'a\n');
    b.write('keep/sub/b.txt', 'b\n');
    b.write('also.txt', 'also\n');
    b.write('other/c.txt', 'c\n');
    b.write('skip.txt', 'skip\n');
    const one = b.path('one.txt');
    const two = b.path('two.txt');
    writeFileSync(one, `# what to keep\n\nkeep\n${path.join(b.src, 'also.txt')}\n`);
    writeFileSync(two, 'other/c.txt\r\n');
    await b.ok(['init', '--quiet']);
    const doc = await b.json<SnapshotDoc>(['backup', b.src, '--files-from', one, '--files-from', two]);
    const paths = await b.paths(doc.id);
    for (const p of ['/keep/a.txt', '/keep/sub/b.txt', '/also.txt', '/other/c.txt']) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(' ')}`);
    }
    assert.ok(!paths.includes('/skip.txt'));
    assert.equal(doc.snapshot.stats.files, 4);
  });

  test('--stdin stores one file with the piped bytes under --stdin-filename, and it restores', async () => {
    const b = box();
    await b.ok(['init', '--quiet']);
    const bytes = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 256));
    const doc = await b.json<SnapshotDoc>(
      ['backup', '--stdin', '--stdin-filename', 'dump.sql', '--service', 'db'],
      bytes,
    );
    assert.equal(doc.snapshot.stats.files, 1);
    assert.equal(doc.snapshot.stats.totalBytes, bytes.length);
    const entries = await b.json<LsEntry[]>(['ls', doc.id, '/', '-r']);
    assert.deepEqual(
      entries.map((e) => [e.path, e.type, e.size]),
      [['/dump.sql', 'file', bytes.length]],
    );
    const target = b.path('restored');
    await b.ok(['restore', doc.id, '--target', target, '--verify', '--quiet']);
    assert.ok(readFileSync(path.join(target, 'dump.sql')).equals(bytes));
    // Without --stdin-filename the file is called stdin.
    const plain = await b.json<SnapshotDoc>(['backup', '--stdin'], Buffer.from('hi\n'));
    assert.deepEqual(await b.paths(plain.id), ['/stdin']);
  });
});
