/**
 * The snapshot browser (POST /v1/snapshots/:id/tree and /download) against the real API, Postgres
 * and a filesystem target: the plan is created through the API (its repository made with the
 * password), a folder is backed up with the plan's writer key as a worker would, and the snapshot
 * is read back with the password — folders listed, a file's bytes, a folder as a tar unpacked by
 * GNU tar and compared with the source.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backUpAsWorker, startTestApi, type TestApi } from '../support/api-app';
import { makeSource, pseudoRandom, snapshotOf, tempDir } from '../support/fixtures';

const PASSWORD = 'the owner password';
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';
/** A name whose bytes are not UTF-8 (Latin-1 "café"), as old systems write them. */
const RAW_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
const LONG_NAME = `${'a-very-long-folder-name-'.repeat(5)}/${'and-a-long-file-name-'.repeat(6)}.txt`;

interface EntryJson {
  name: string;
  nameB64?: string;
  type: string;
  size: number;
  mtime: string;
  mode: number;
}
interface TreeJson {
  path: string;
  pathB64?: string;
  entries: EntryJson[];
}
interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string }[] };
}

describe('API: snapshot browser', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let source: string;
  let targetId: string;
  let snapshotId: string;

  /** The source's time, to the millisecond. */
  const mtimeOf = (rel: string): string =>
    new Date(Math.round(lstatSync(join(source, rel)).mtimeMs)).toISOString();
  const post = (route: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(api.baseUrl + route, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const tree = async (body: Record<string, unknown>, id = snapshotId) => {
    const res = await post(`/v1/snapshots/${id}/tree`, { targetId, password: PASSWORD, ...body });
    return { status: res.status, json: await res.json() };
  };
  const download = (body: Record<string, unknown>, id = snapshotId) =>
    post(`/v1/snapshots/${id}/download`, { targetId, password: PASSWORD, ...body });

  before(async () => {
    api = await startTestApi('api_snapshot_browser');
    dir = tempDir('api-snapshot-browser');
    mkdirSync(join(dir.path, 'disk'));
    source = join(dir.path, 'src', 'gitea');
    mkdirSync(source, { recursive: true });
    makeSource(source, { largeBytes: 2 * 1024 * 1024 + 777 });
    mkdirSync(join(source, LONG_NAME, '..'), { recursive: true });
    writeFileSync(join(source, LONG_NAME), 'long\n');
    writeFileSync(Buffer.concat([Buffer.from(`${source}/`), RAW_NAME]), 'latin-1 name\n');
    symlinkSync('x'.repeat(150), join(source, 'long-link'));
    writeFileSync(join(source, 'docs', 'random.bin'), pseudoRandom(7, 100_000));

    const target = await api.call('POST', '/v1/targets', {
      name: 'disk',
      kind: 'local',
      path: join(dir.path, 'disk'),
    });
    targetId = (target.json as { id: string }).id;
    const service = await api.call('POST', '/v1/services', {
      name: 'gitea',
      dataPath: source,
      arch: 'x86_64',
    });
    const serviceId = (service.json as { id: string }).id;
    const plan = await api.call('POST', '/v1/plans', {
      name: 'nightly',
      schedule: { frequency: 'daily', time: '02:00', timezone: 'UTC' },
      retention: { keepLast: 3 },
      targetIds: [targetId],
      serviceIds: [serviceId],
      password: PASSWORD,
      passwordConfirmation: PASSWORD,
    });
    assert.equal(plan.status, 201, JSON.stringify(plan.json));
    const planId = (plan.json as { id: string }).id;
    snapshotId = await backUpAsWorker(api, { planId, targetId, serviceId }, source);
  });
  after(async () => {
    await api?.close();
    dir?.cleanup();
  });

  test('the root: every entry with its type, size, mode and time', async () => {
    const res = await tree({});
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const view = res.json as TreeJson;
    assert.equal(view.path, '/');
    const byName = new Map(view.entries.map((e) => [e.name, e]));
    const expected = readdirSync(source).filter((n) => !n.includes('\ufffd') && n !== 'caf\ufffd');
    for (const name of expected) assert.ok(byName.has(name), `lists ${name}`);
    assert.equal(view.entries.length, readdirSync(source, { encoding: 'buffer' }).length);
    assert.deepEqual(byName.get('large.bin'), {
      name: 'large.bin',
      type: 'file',
      size: 2 * 1024 * 1024 + 777,
      mtime: mtimeOf('large.bin'),
      mode: 0o644 & ~process.umask() & 0o7777,
    });
    assert.equal(byName.get('docs')?.type, 'dir');
    assert.equal(byName.get('link-to-readme')?.type, 'symlink');
    assert.equal(byName.get('script.sh')?.mode, 0o750);
    const raw = view.entries.find((e) => e.nameB64 !== undefined);
    assert.ok(raw, 'the Latin-1 name comes with nameB64');
    assert.deepEqual(Buffer.from(raw.nameB64!, 'base64'), RAW_NAME);
  });

  test('a subfolder, by path and by pathB64', async () => {
    const res = await tree({ path: '/docs/deep/' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {
      path: '/docs/deep',
      entries: [
        {
          name: 'deeper',
          type: 'dir',
          size: 0,
          mtime: mtimeOf('docs/deep/deeper'),
          mode: lstatSync(join(source, 'docs/deep/deeper')).mode & 0o7777,
        },
      ],
    });
    const again = await tree({ pathB64: Buffer.from('docs//deep').toString('base64') });
    assert.deepEqual(again.json, res.json);
  });

  test('a file downloads with its bytes and a Content-Disposition', async () => {
    const res = await download({ path: '/large.bin' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(2 * 1024 * 1024 + 777));
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="large.bin"/);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.ok(bytes.equals(readFileSync(join(source, 'large.bin'))));

    const unicode = await download({ path: '/Ünïcødé – 日本語.txt' });
    assert.equal(unicode.status, 200);
    assert.match(unicode.headers.get('content-disposition') ?? '', /filename\*=UTF-8''%C3%9Cn%C3%AF/);
    assert.equal(await unicode.text(), 'unicode name\n');

    const raw = await download({ pathB64: RAW_NAME.toString('base64') });
    assert.equal(await raw.text(), 'latin-1 name\n');
    const empty = await download({ path: 'empty.bin' });
    assert.equal(empty.status, 200);
    assert.equal((await empty.arrayBuffer()).byteLength, 0);
  });

  test('a folder downloads as a tar that GNU tar unpacks into the same files', async () => {
    const res = await download({ path: '/' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-tar');
    assert.match(res.headers.get('content-disposition') ?? '', /filename="snapshot-[0-9a-f]{12}\.tar"/);
    const archive = join(dir.path, 'all.tar');
    writeFileSync(archive, Buffer.from(await res.arrayBuffer()));
    const out = join(dir.path, 'unpacked');
    mkdirSync(out);
    // GNU tar warns that it does not know `hdrcharset` (POSIX's "these names are bytes"), and
    // then does what it means: the bytes are the name.
    execFileSync('tar', ['-xf', archive, '-C', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    const top = readdirSync(out);
    assert.equal(top.length, 1);
    const unpacked = join(out, top[0]!);

    // Modes, sizes, content and link targets; tar keeps whole seconds of the times.
    const strip = (m: ReturnType<typeof snapshotOf>) =>
      new Map(
        [...m].map(([p, e]) => [
          p,
          {
            type: e.type,
            size: e.size,
            hash: e.hash,
            target: e.target,
            mode: e.type === 'symlink' ? 0 : e.mode,
          },
        ]),
      );
    // snapshotOf reads names as UTF-8: the Latin-1 one is checked by its bytes below.
    const utf8Only = { exclude: (rel: string) => rel.includes('\ufffd') };
    assert.deepEqual(strip(snapshotOf(unpacked, utf8Only)), strip(snapshotOf(source, utf8Only)));
    assert.ok(
      readdirSync(unpacked, { encoding: 'buffer' }).some((n) => n.equals(RAW_NAME)),
      'the non-UTF-8 name is unpacked with its own bytes',
    );
    assert.equal(readFileSync(join(unpacked, LONG_NAME), 'utf8'), 'long\n');

    const sub = await download({ path: 'docs' });
    assert.match(sub.headers.get('content-disposition') ?? '', /filename="docs\.tar"/);
    const listing = execFileSync('tar', ['-t'], { input: Buffer.from(await sub.arrayBuffer()) })
      .toString()
      .split('\n')
      .filter(Boolean)
      .sort();
    assert.deepEqual(listing, [
      'docs/',
      'docs/deep/',
      'docs/deep/deeper/',
      'docs/deep/deeper/notes.md',
      'docs/random.bin',
      'docs/readme.txt',
    ]);
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const random = execFileSync('tar', ['-xO', 'docs/random.bin'], {
      input: Buffer.from(await (await download({ path: 'docs' })).arrayBuffer()),
    });
    assert.equal(hash(random), hash(readFileSync(join(source, 'docs/random.bin'))));
  });

  test('the wrong password: the same error as a restore, nothing sent', async () => {
    for (const route of ['tree', 'download']) {
      const res = await post(`/v1/snapshots/${snapshotId}/${route}`, { targetId, password: 'not it' });
      assert.equal(res.status, 422, route);
      const body = (await res.json()) as ErrorJson;
      assert.equal(body.error.code, 'WRONG_PASSWORD');
      assert.equal(body.error.message, "the password does not open the plan's repository on the target");
      assert.deepEqual(
        body.error.fields?.map((f) => f.path),
        ['password'],
      );
    }
  });

  test('an unknown path, snapshot or target: 404', async () => {
    const path = await tree({ path: '/docs/nope' });
    assert.equal(path.status, 404);
    assert.equal((path.json as ErrorJson).error.code, 'NOT_FOUND');
    assert.match((path.json as ErrorJson).error.message, /no \/docs\/nope in snapshot/);
    assert.equal((await download({ path: '/nope/deeper' })).status, 404);
    assert.equal((await tree({}, 'ab'.repeat(32))).status, 404);
    assert.equal((await tree({}, 'not-a-snapshot')).status, 404);
    assert.equal((await tree({ targetId: UNKNOWN_ID })).status, 404);
  });

  test('strict bodies and sane paths: 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ colour: 'red' }, 'colour'],
      [{ path: '/docs/../etc' }, 'path'],
      [{ path: '/a', pathB64: 'YQ==' }, 'pathB64'],
      [{ pathB64: 'not base64!' }, 'pathB64'],
      [{ targetId: 'disk' }, 'targetId'],
      [{ password: '' }, 'password'],
    ];
    for (const [body, field] of cases) {
      const res = await tree(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.deepEqual(
        (res.json as ErrorJson).error.fields?.map((f) => f.path),
        [field],
        JSON.stringify(body),
      );
    }
    const notFolder = await tree({ path: '/large.bin' });
    assert.equal(notFolder.status, 400);
    const notFile = await download({ path: '/link-to-readme' });
    assert.equal(notFile.status, 400);
  });
});
