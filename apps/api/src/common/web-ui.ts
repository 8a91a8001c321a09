import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';

import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';

/**
 * The web UI (apps/web, built by Vite into dist/web) served by the API itself on `/`, so the
 * compose file and k8s need no extra service. Relative to this file's build output
 * (dist/apps/api/src/common), not to the working directory, so any start path finds it.
 */
export const WEB_ROOT = resolve(__dirname, '../../../../web');

/** Paths the API owns: never answered with the UI's index.html, whatever the method. */
const API_PATHS = /^\/(v1|docs|docs-json|health|metrics)(\/|$|\?)/;

/**
 * Static files with long caching for Vite's content-hashed assets, and index.html (no-cache) for
 * every other GET that is not an API path, so the UI's client-side routes survive a reload.
 * Registered before Nest's routes; API paths fall through untouched.
 */
export function serveWebUi(app: NestExpressApplication, logger: Logger, root = WEB_ROOT): void {
  const indexFile = join(root, 'index.html');
  if (!existsSync(indexFile)) {
    logger.warn({ root }, 'web UI not built (npm run build builds it); `/` serves nothing');
    return;
  }
  const index = readFileSync(indexFile);
  app.useStaticAssets(join(root, 'assets'), {
    prefix: '/assets/',
    immutable: true,
    maxAge: '365d',
    index: false,
    fallthrough: false,
  });
  app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const url = req.url ?? '/';
    if (
      (req.method !== 'GET' && req.method !== 'HEAD') ||
      API_PATHS.test(url) ||
      url.startsWith('/assets/')
    ) {
      next();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      // The UI loads only its own scripts and styles and talks only to this origin.
      'content-security-policy':
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : index);
  });
}
