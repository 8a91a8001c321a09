#!/usr/bin/env node
'use strict';
// The CLI's JavaScript entry (the `vaultline` sh launcher beside it picks the Node to run it on).
// It stays small: `--version` is answered before anything else is loaded, and everything else
// lives in dist/ (built by `npm run build`), compiled once into Node's compile cache.

// crypto.argon2 arrived in Node 24.7 (zstd in zlib in 22.15): refuse older ones with one line.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 7)) {
  process.stderr.write(
    `vaultline: needs Node.js 24.7 or newer (this is ${process.version}); run it through the ` +
      "vaultline launcher after 'npm ci' (which installs Node 24), or set VAULTLINE_NODE\n",
  );
  process.exitCode = 1;
  return;
}

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(require('../../../dist/apps/cli/src/version.js').VERSION + '\n');
  return;
}

// Compiled code cached between runs (Node >= 22.1): XDG_CACHE_HOME or ~/.cache, if writable.
if (!process.env.NODE_COMPILE_CACHE && process.env.VAULTLINE_COMPILE_CACHE !== '0') {
  try {
    const { enableCompileCache } = require('node:module');
    const { join, isAbsolute } = require('node:path');
    const xdg = process.env.XDG_CACHE_HOME;
    const base = xdg && isAbsolute(xdg) ? xdg : join(require('node:os').homedir(), '.cache');
    const dir = join(base, 'vaultline', 'compile-cache');
    // One level at a time and checked first: Node 24's recursive mkdir (in enableCompileCache
    // too) spins forever where mkdir keeps failing with ENOENT, e.g. below /proc.
    const fs = require('node:fs');
    for (const d of [base, join(base, 'vaultline'), dir]) {
      try {
        fs.mkdirSync(d, { mode: 0o700 });
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
      }
    }
    fs.accessSync(dir, fs.constants.W_OK);
    if (typeof enableCompileCache === 'function') enableCompileCache(dir);
  } catch {
    // No cache: slower start, same behaviour.
  }
}

require('../../../dist/apps/cli/src/main.js')
  .main(process.argv)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`vaultline: ${err && err.message ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
