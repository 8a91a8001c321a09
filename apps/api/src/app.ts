import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { SwaggerModule } from '@nestjs/swagger';
import { type ApiConfig, outboundPolicyOf } from '@vaultline/config';
import { redisTransport } from '@vaultline/events';
import { setTargetsOutboundPolicy } from '@vaultline/targets';
import { FleetMetrics } from '@vaultline/observability';
import type { Logger } from 'pino';
import { AppModule, type AppOptions } from './app.module';
import { apiDocument } from './document';
import { ErrorFilter } from './common/error.filter';
import { JSON_BODY_LIMIT, JSON_TYPES, jsonBody } from './common/json-body';
import { EventsServer } from './events/events.server';
import { serveWebUi } from './common/web-ui';
import { PinoNestLogger } from './common/logger';
import { requestContext, requestIdOf, resumeRequestContext } from './common/request-context';

/**
 * One line per request — its id, method, path (no query: it could carry anything), status, time;
 * never headers or the body — and the
 * request metrics, labelled by the route *template* (`/v1/plans/:id`), never the path: ids in
 * labels would grow without bound.
 */
function requestLog(logger: Logger, metrics: FleetMetrics) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const start = performance.now();
    const path = (req.url ?? '').split('?', 1)[0];
    res.on('finish', () => {
      const seconds = (performance.now() - start) / 1000;
      // 'finish' may fire outside the request's async context: the id is taken from req itself.
      logger.info(
        {
          reqId: requestIdOf(req),
          method: req.method,
          path,
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
        },
        'request',
      );
      const route = (req as IncomingMessage & { route?: { path?: unknown } }).route?.path;
      const labels = {
        method: req.method ?? 'GET',
        route: typeof route === 'string' ? route : path === '/metrics' ? '/metrics' : 'unmatched',
        status: String(res.statusCode),
      };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
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
): Promise<NestExpressApplication> {
  // Plan repositories on S3 targets are opened through this policy, checked at connect time.
  setTargetsOutboundPolicy(outboundPolicyOf(config, logger.child({ component: 'outbound' })));
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger, options), {
    logger: new PinoNestLogger(logger),
    // A failed start (database down, bad module wiring) rejects instead of calling process.abort(),
    // so main.ts reports it in one line and the tests see the error.
    abortOnError: false,
    // Bodies are parsed by json-body.ts (strict UTF-8, fixed error messages), not express.json.
    bodyParser: false,
  });
  // The fleet's live events (workers, report service) arrive over Redis pub/sub and feed the SSE
  // streams and LiveProgress. Started here rather than in main.ts so the tests run it too; the
  // server does not wait for Redis (events.server.ts), so the API starts while Redis is away.
  app.connectMicroservice<MicroserviceOptions>({
    strategy: new EventsServer(redisTransport(config.redisUrl).options),
  });
  await app.startAllMicroservices();
  // Naming the framework helps no client and tells an attacker which advisories to try.
  app.disable('x-powered-by');
  const metrics = new FleetMetrics('api');
  app.use(requestContext());
  app.use(requestLog(logger, metrics));
  app.useBodyParser('raw', { type: JSON_TYPES, limit: JSON_BODY_LIMIT });
  app.use(resumeRequestContext());
  app.use(jsonBody(logger));
  // Prometheus scrapes without a token, like /health (docs/operations.md: keep it off the public
  // ingress); served straight on Express, outside Nest's guards.
  const express = app.getHttpAdapter().getInstance() as {
    get(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  };
  express.get('/metrics', (_req: IncomingMessage, res: ServerResponse) => {
    metrics.expose().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, 'metrics exposition failed');
        res.writeHead(500).end();
      },
    );
  });
  app.useGlobalFilters(new ErrorFilter(app.get(HttpAdapterHost), logger));
  app.enableShutdownHooks();

  const document = apiDocument(app);
  // Served by Swagger straight on Express, outside Nest's guards: documentation needs no token.
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  serveWebUi(app, logger);
  return app;
}
