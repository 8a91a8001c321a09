/**
 * Creates an API token and prints it once: `node dist/apps/api/src/create-token.js <name>`.
 * This is how the first token comes to exist (every API route but /health needs one).
 */
import { loadConfig } from '@vaultline/config';
import { createCatalog } from '@vaultline/catalog';
import { createApiToken } from './auth/api-tokens';

async function main(argv: readonly string[]): Promise<number> {
  const name = argv[2]?.trim();
  if (!name || argv.length > 3) {
    process.stderr.write('usage: create-token <name>\n');
    return 2;
  }
  const config = loadConfig(process.env, 'api');
  const catalog = createCatalog(config.databaseUrl);
  try {
    const { id, token } = await createApiToken(catalog, name);
    process.stderr.write(`created token ${id} (${name}); it is shown only now:\n`);
    process.stdout.write(`${token}\n`);
    return 0;
  } finally {
    await catalog.disconnect();
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`create-token: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
