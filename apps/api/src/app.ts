import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { INestApplication } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { ApiConfig } from '@vaultline/config';
import type { Logger } from 'pino';
import { AppModule, type AppOptions } from './app.module';
import { ErrorFilter } from './common/error.filter';
import { PinoNestLogger } from './common/logger';

/** One line per request: method, route path (no query: it could carry anything), status, time. */
function requestLog(logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const start = performance.now();
    const path = (req.url ?? '').split('?', 1)[0];
    res.on('finish', () => {
      logger.info(
        { method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - start) },
        'request',
      );
    });
    next();
  };
}

/**
 * Builds the API (not listening yet): main.ts and the integration tests share it, so the tests
 * exercise exactly what production runs.
 */
export async function createApp(
  config: ApiConfig,
  logger: Logger,
  options: AppOptions = {},
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger, options), {
    logger: new PinoNestLogger(logger),
    // A failed start (database down, bad module wiring) rejects instead of calling process.abort(),
    // so main.ts reports it in one line and the tests see the error.
    abortOnError: false,
  });
  app.use(requestLog(logger));
  app.useGlobalFilters(new ErrorFilter(app.get(HttpAdapterHost), logger));
  app.enableShutdownHooks();

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Vaultline API')
      .setDescription('Encrypted, deduplicated backups of self-hosted services.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an API token (create-token)' })
      .build(),
  );
  // Served by Swagger straight on Express, outside Nest's guards: documentation needs no token.
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
