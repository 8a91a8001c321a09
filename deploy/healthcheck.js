#!/usr/bin/env node
// Container healthcheck without curl (the runtime image is node:*-slim): GET /health on the
// listener of this container's role. The api serves it on HTTP_PORT (default 3000); worker and
// report on METRICS_PORT (default 9464). The role is not known here (HEALTHCHECK runs beside the
// process, not through the entrypoint), so the ports are tried in order: the first that accepts a
// connection decides — 200 is healthy, anything else (503: Redis or Postgres unreachable) is not.
'use strict';
const http = require('node:http');

const port = (value, fallback) => (value && /^\d+$/.test(value) ? Number(value) : fallback);
const ports = [...new Set([port(process.env.HTTP_PORT, 3000), port(process.env.METRICS_PORT, 9464)])];

function probe(index) {
  if (index >= ports.length) {
    process.stderr.write(`healthcheck: nothing listens on ports ${ports.join(', ')}\n`);
    process.exit(1);
  }
  const req = http.get({ host: '127.0.0.1', port: ports[index], path: '/health', timeout: 4000 }, (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => {
    if (err.code === 'ECONNREFUSED') probe(index + 1);
    else {
      process.stderr.write(`healthcheck: port ${ports[index]}: ${err.message}\n`);
      process.exit(1);
    }
  });
}

probe(0);
