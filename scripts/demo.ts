/**
 * The Quickstart's main job (`npm run demo`): the whole fleet on this machine, driven through its
 * HTTP API as a user would.
 *
 *   1. a fresh catalog database (`vaultline_demo` on the local PostgreSQL, or DATABASE_URL),
 *      migrated with the checked-in migrations; Redis at REDIS_URL (default local);
 *   2. the API, a worker and the report service as separate processes (scripts/fleet.ts);
 *   3. an API token, a filesystem target, two sample services (one with quiesce hooks), a daily
 *      plan with a password;
 *   4. a run → the report from Postgres; a change, a second run (incremental);
 *   5. a restore of one service into another folder with the password, compared bit for bit with
 *      the source.
 *
 * Everything lives under VAULTLINE_DEMO_DIR (default ./.demo), wiped at the start; the processes'
 * logs are in <demo dir>/logs.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  appendFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, posix, resolve } from 'node:path';

import { ApiClient, freshDatabase, LocalFleet, REPO_ROOT } from './fleet';

const root = resolve(process.env['VAULTLINE_DEMO_DIR'] || join(REPO_ROOT, '.demo'));
const databaseUrl = process.env['DATABASE_URL'] || 'postgresql://postgres@127.0.0.1:5432/vaultline_demo';
const redisUrl = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
// A demo password, sent to the API over the local connection; the fleet never stores it.
const password = process.env['VAULTLINE_DEMO_PASSWORD'] || 'correct horse battery staple';

// The web UI's demo login (create-user); printed, since this is a throwaway demo fleet.
const uiUser = 'demo';
const uiPassword = process.env['VAULTLINE_DEMO_UI_PASSWORD'] || randomBytes(9).toString('base64url');
// VAULTLINE_DEMO_KEEP=1 keeps the fleet (and the web UI) running after the demo until Ctrl-C.
const keep = process.env['VAULTLINE_DEMO_KEEP'] === '1';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'riscv64' ? 'riscv64' : 'x86_64';

interface Row {
  serviceName: string;
  targetName: string;
  status: string;
  snapshotId: string | null;
  totalBytes: number;
  bytesRead: number;
  bytesAdded: number;
  files: number;
  durationMs: number | null;
  error: string | null;
}

function makeNotesApp(dir: string): void {
  mkdirSync(join(dir, 'db'), { recursive: true });
  mkdirSync(join(dir, 'uploads'), { recursive: true });
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < 50_000; i++) {
    lines.push(`2026-11-21T10:${String(i % 60).padStart(2, '0')}:00Z INFO note ${i} saved by user${i % 17}`);
  }
  writeFileSync(join(dir, 'db', 'journal.log'), lines.join('\n'));
  writeFileSync(join(dir, 'uploads', 'Grüße – 日本.txt'), 'unicode names survive\n');
  writeFileSync(join(dir, 'cache', 'thumbnails.bin'), randomBytes(1024 * 1024));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ version: 3 }, null, 2));
  symlinkSync('config.json', join(dir, 'current-config'));
}

function makePhotoGallery(dir: string): void {
  mkdirSync(join(dir, 'albums', 'holiday'), { recursive: true });
  for (let i = 0; i < 4; i++)
    writeFileSync(join(dir, 'albums', 'holiday', `img_${i}.jpg`), randomBytes(2 << 20));
  mkdirSync(join(dir, 'empty-album'));
  writeFileSync(join(dir, 'gallery.db'), randomBytes(256 * 1024));
}

/** A digest of names, modes, mtimes, link targets and contents, skipping `skip` (the excluded folder). */
function digest(dir: string, skip = new Set<string>()): string {
  const h = createHash('sha256');
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = posix.join(rel, name);
      if (skip.has(r)) continue;
      const st = lstatSync(p);
      h.update(`${r}\0${st.mode & 0o7777}\0${Math.floor(st.mtimeMs)}\0`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else if (st.isDirectory()) walk(p, r);
      else h.update(readFileSync(p));
    }
  };
  walk(dir, '');
  return h.digest('hex');
}

const mib = (n: number): string => `${(n / 1048576).toFixed(2)} MiB`;

function printRun(title: string, run: { status: string; backups: Row[] }): void {
  say(`\n${title}: ${run.status}`);
  for (const b of run.backups) {
    const what =
      b.status === 'success'
        ? `snapshot ${b.snapshotId?.slice(0, 12)}  ${b.files} files  ${mib(b.totalBytes)}: ` +
          `${mib(b.bytesRead)} read, ${mib(b.bytesAdded)} added  ${b.durationMs} ms`
        : `${b.error}`;
    say(`  ${b.serviceName.padEnd(14)} → ${b.targetName.padEnd(12)} ${b.status.padEnd(8)} ${what}`);
  }
}

async function runPlan(api: ApiClient, planId: string, title: string): Promise<void> {
  const run = await api.expect<{ id: string }>('POST', `/v1/plans/${planId}/runs`, undefined, 201, 202);
  const report = await api.waitFor<{ status: string }>(`/v1/runs/${run.id}/report`, () => true, 300_000);
  const view = await api.expect<{ status: string; backups: Row[] }>(
    'GET',
    `/v1/runs/${run.id}`,
    undefined,
    200,
  );
  printRun(`${title} (report: ${report.status})`, view);
}

async function main(): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  const notes = join(root, 'services', 'notes-app');
  const photos = join(root, 'services', 'photo-gallery');
  const targetDir = join(root, 'targets', 'local-drive');
  const restored = join(root, 'restored', 'notes-app');
  const hookLog = join(root, 'hooks.log');
  makeNotesApp(notes);
  makePhotoGallery(photos);
  mkdirSync(targetDir, { recursive: true });
  // A worker running as root runs command hooks as nobody (HOOK_UID unset, docs/configuration.md):
  // the hooks' log must be writable by them too (a throwaway file of the demo).
  writeFileSync(hookLog, '');
  chmodSync(hookLog, 0o666);

  say(
    `catalog: ${new URL(databaseUrl).host}${new URL(databaseUrl).pathname} (fresh), redis: ${new URL(redisUrl).host}`,
  );
  await freshDatabase(databaseUrl);
  const fleet = await LocalFleet.start({
    databaseUrl,
    redisUrl,
    logDir: join(root, 'logs'),
    queuePrefix: `vaultline-demo-${randomBytes(3).toString('hex')}`,
    workers: 1,
    // The demo restores a copy beside the original, under its own folder: a restore root.
    env: { VAULTLINE_RESTORE_ROOTS: join(root, 'restored') },
  });
  try {
    say(
      `fleet up: api ${fleet.baseUrl}, ${fleet.workers().length} worker, report service (logs in ${join(root, 'logs')})`,
    );
    const api = new ApiClient(fleet.baseUrl, await fleet.createToken('demo'));
    await fleet.createUser(uiUser, uiPassword);
    say(
      `web UI: ${fleet.baseUrl}/  (sign in as "${uiUser}" with password "${uiPassword}"; plan password "${password}")`,
    );

    const target = await api.expect<{ id: string }>(
      'POST',
      '/v1/targets',
      { name: 'local-drive', kind: 'local', path: targetDir },
      201,
    );
    const notesService = await api.expect<{ id: string }>(
      'POST',
      '/v1/services',
      {
        name: 'notes-app',
        dataPath: notes,
        excludes: ['cache/'],
        arch,
        // Quiesce hooks: a command run without a shell before and after the backup.
        preHook: { kind: 'command', argv: ['/bin/sh', '-c', `echo paused >> '${hookLog}'`] },
        postHook: { kind: 'command', argv: ['/bin/sh', '-c', `echo resumed >> '${hookLog}'`] },
      },
      201,
    );
    const photoService = await api.expect<{ id: string }>(
      'POST',
      '/v1/services',
      { name: 'photo-gallery', dataPath: photos, arch },
      201,
    );
    const plan = await api.expect<{ id: string }>(
      'POST',
      '/v1/plans',
      {
        name: 'nightly',
        schedule: { frequency: 'daily', time: '03:30', timezone: 'UTC' },
        retention: { keepDaily: 7, keepWeekly: 4 },
        targetIds: [target.id],
        serviceIds: [notesService.id, photoService.id],
        password,
        passwordConfirmation: password,
      },
      201,
    );
    say(`registered 2 services, target local-drive (${targetDir}), plan "nightly" (daily 03:30 UTC)`);

    await runPlan(api, plan.id, 'first run');
    appendFileSync(join(notes, 'db', 'journal.log'), '\n2026-11-21T11:00:00Z INFO one more note');
    await runPlan(api, plan.id, 'second run (one file changed)');
    say(`hooks ran: ${readFileSync(hookLog, 'utf8').trim().split('\n').join(', ')}`);

    const restore = await api.expect<{ id: string }>(
      'POST',
      '/v1/restores',
      { serviceId: notesService.id, password, destination: restored },
      202,
    );
    const done = await api.waitFor<{ status: string; error?: string | null }>(
      `/v1/restores/${restore.id}`,
      (r) => r.status === 'success' || r.status === 'failed',
      300_000,
    );
    if (done.status !== 'success') throw new Error(`restore failed: ${done.error ?? 'unknown error'}`);
    const same = digest(notes, new Set(['cache'])) === digest(restored);
    say(
      `\nrestored notes-app (latest snapshot) into ${restored}: ${same ? 'identical to the source' : 'DIFFERENT'}`,
    );
    if (!same) throw new Error('the restored folder differs from the source');
    if (keep) {
      say(`\nweb UI still up at ${fleet.baseUrl}/ as "${uiUser}" / "${uiPassword}"; Ctrl-C stops the fleet`);
      await new Promise<void>((ok) => process.once('SIGINT', () => ok()));
    } else say(`\n(VAULTLINE_DEMO_KEEP=1 npm run demo keeps the fleet and the web UI up after the demo)`);
  } finally {
    await fleet.stop();
  }
  say('\nfleet stopped. Run it yourself: see "Running the fleet" in the README.');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
