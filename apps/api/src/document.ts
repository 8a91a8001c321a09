/**
 * The API's OpenAPI document, served at /docs-json and the source of the typed client
 * (libs/api-client, `npm run api:client`). `buildApiDocument` builds it without a database, Redis
 * or a listening server: Nest's preview mode resolves the modules and controllers (their
 * decorators are the document) without creating any provider.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { loadConfig } from '@vaultline/config';
import pino from 'pino';

import { AppModule } from './app.module';
import { completeDocument } from './common/openapi';

export function apiDocument(app: INestApplication): OpenAPIObject {
  return completeDocument(
    SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Vaultline API')
        .setDescription('Encrypted, deduplicated backups of self-hosted services.')
        .setVersion('1')
        .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an API token (create-token)' })
        .addCookieAuth(
          'vaultline_session',
          {
            type: 'apiKey',
            in: 'cookie',
            name: 'vaultline_session',
            description:
              'the web UI session (POST /v1/session); requests other than GET and HEAD also need X-CSRF-Token',
          },
          'session',
        )
        .build(),
    ),
  );
}

/** The document as the API serves it, built in-process: nothing is connected to. */
export async function buildApiDocument(): Promise<OpenAPIObject> {
  const config = loadConfig(
    {
      DATABASE_URL: 'postgresql://unused@127.0.0.1:1/unused',
      REDIS_URL: 'redis://127.0.0.1:1',
      VAULTLINE_SERVER_SECRET: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'silent',
    },
    'api',
  );
  const app = await NestFactory.create(AppModule.forRoot(config, pino({ level: 'silent' })), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  try {
    return apiDocument(app);
  } finally {
    await app.close();
  }
}
