#!/usr/bin/env node
'use strict';
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`).
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
