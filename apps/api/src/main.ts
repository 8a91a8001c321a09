import 'reflect-metadata';
import { loadConfig, redactedConfig } from '@vaultline/config';
import { createApp } from './app';
import { createLogger } from './common/logger';

/** The API process: the only place its configuration is read from the environment. */
async function main(): Promise<void> {
  const config = loadConfig(process.env, 'api');
  const logger = createLogger(config.logLevel);
  logger.info({ config: redactedConfig(config) }, 'starting api');
  const app = await createApp(config, logger);
  await app.listen(config.httpPort);
  logger.info({ port: config.httpPort }, 'api listening');
}

main().catch((err: unknown) => {
  // Config errors list every problem in one line; anything else gets its stack for the operator.
  process.stderr.write(`api: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
