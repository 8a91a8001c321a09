/**
 * Runs one backup in its own process so tests can kill it (SIGKILL) mid-way.
 * argv: <repo dir> <source dir>; password from VAULTLINE_TEST_PASSWORD.
 */
import { FsBackend } from '@vaultline/storage';
import { Repository, backup } from '@vaultline/engine';

async function run(): Promise<void> {
  const [repoDir, source] = process.argv.slice(2);
  const repo = await Repository.open(await FsBackend.open(repoDir!, { create: false }), {
    password: process.env.VAULTLINE_TEST_PASSWORD ?? '',
  });
  const result = await backup(repo, { source: source!, service: 'killed' });
  process.stdout.write(JSON.stringify({ id: result.snapshot.id }) + '\n');
}

run().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
