#!/usr/bin/env node
'use strict';
/**
 * The Quickstart's main job (`npm run demo`): the real `vaultline` CLI initialises a filesystem
 * repository, backs up a sample service folder twice (the second run is incremental), restores the
 * latest snapshot with --verify, compares it with the source and checks the repository.
 * Everything lives under VAULTLINE_DEMO_DIR (default: ./.demo), wiped at the start.
 */
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(process.env.VAULTLINE_DEMO_DIR || path.join(__dirname, '..', '.demo'));
const source = path.join(root, 'services', 'notes-app');
const repo = path.join(root, 'repository');
const restored = path.join(root, 'restored');
const cli = path.join(__dirname, '..', 'apps', 'cli', 'bin', 'vaultline.js');
// A demo password, passed by environment (never on the command line, where `ps` would show it).
const env = {
  ...process.env,
  VAULTLINE_REPO: repo,
  VAULTLINE_PASSWORD: process.env.VAULTLINE_PASSWORD || 'demo-password',
};

function vaultline(...args) {
  process.stdout.write(`\n$ vaultline ${args.join(' ')}\n`);
  const out = execFileSync(process.execPath, [cli, ...args], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(out);
  return out;
}

function makeSampleService() {
  fs.mkdirSync(path.join(source, 'db'), { recursive: true });
  fs.mkdirSync(path.join(source, 'uploads', 'photos'), { recursive: true });
  fs.mkdirSync(path.join(source, 'cache'), { recursive: true });
  const lines = [];
  for (let i = 0; i < 50_000; i++)
    lines.push(`2026-11-21T10:${String(i % 60).padStart(2, '0')}:00Z INFO note ${i} saved by user${i % 17}`);
  fs.writeFileSync(path.join(source, 'db', 'journal.log'), lines.join('\n'));
  fs.writeFileSync(
    path.join(source, 'uploads', 'photos', 'holiday.jpg'),
    crypto.randomBytes(6 * 1024 * 1024),
  );
  fs.writeFileSync(path.join(source, 'uploads', 'Grüße – 日本.txt'), 'unicode names survive\n');
  fs.writeFileSync(path.join(source, 'cache', 'thumbnails.bin'), crypto.randomBytes(1024 * 1024));
  fs.writeFileSync(path.join(source, 'config.json'), JSON.stringify({ version: 3 }, null, 2));
  fs.symlinkSync('config.json', path.join(source, 'current-config'));
}

function digest(dir) {
  const h = crypto.createHash('sha256');
  const walk = (d, rel) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = path.posix.join(rel, name);
      const st = fs.lstatSync(p);
      if (r === 'cache') continue;
      h.update(`${r}\0${st.mode & 0o7777}\0${Math.floor(st.mtimeMs)}\0`);
      if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
      else if (st.isDirectory()) walk(p, r);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir, '');
  return h.digest('hex');
}

fs.rmSync(root, { recursive: true, force: true });
makeSampleService();
vaultline('init');
vaultline('backup', source, '--service', 'notes-app', '--exclude', 'cache/', '--tag', 'demo');
fs.appendFileSync(path.join(source, 'db', 'journal.log'), '\n2026-11-21T11:00:00Z INFO one more note');
vaultline('backup', source, '--service', 'notes-app', '--exclude', 'cache/', '--tag', 'demo');
vaultline('snapshots');
vaultline('restore', 'latest', '--target', restored, '--verify');
vaultline('check', '--read-data');
const same = digest(source) === digest(restored);
process.stdout.write(`\nrestored tree ${same ? 'matches' : 'DIFFERS FROM'} the source (excluding cache/)\n`);
process.exitCode = same ? 0 : 1;
