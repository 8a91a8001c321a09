#!/usr/bin/env node
// Generates the Prisma client into libs/db/src/generated (git-ignored) before lint, typecheck and
// build. `prisma generate` never runs the schema engine, but the CLI first looks for its binary and
// would try to download it; Prisma's documented air-gap setting PRISMA_SCHEMA_ENGINE_BINARY may point
// at any existing file, so unless the caller set it, it points at the running node binary.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
  CHECKPOINT_DISABLE: '1', // no update check (no internet here, and none wanted in CI)
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
};
const cli = path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
const result = spawnSync(process.execPath, [cli, 'generate'], {
  cwd: path.join(__dirname, '..'),
  env,
  stdio: ['ignore', 'ignore', 'inherit'], // quiet on success; errors go to stderr
});
if (result.status !== 0) {
  process.stderr.write(`prisma generate failed (exit ${result.status ?? result.signal})\n`);
  process.exit(1);
}
