#!/usr/bin/env node
'use strict';
// The CLI's JavaScript entry (the `vaultline` sh launcher beside it picks the Node to run it on).
// It stays small: `--version` is answered before anything else is loaded, and everything else
// lives in dist/ (built by `npm run build`) and is loaded command by command.

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

// No module.enableCompileCache(): measured, it saved nothing here (docs/benchmarks.md).
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
