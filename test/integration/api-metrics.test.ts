/**
 * The API's /metrics: served without a token (like /health), request metrics labelled by route
 * template and status — never by the path, so ids never become label values.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { startTestApi, type TestApi } from '../support/api-app';

describe('API /metrics', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi('metrics');
  });
  after(async () => {
    await api?.close();
  });

  test('counts requests by route template and status, without a token', async () => {
    const id = randomUUID();
    assert.equal((await api.call('GET', `/v1/services/${id}`)).status, 404);
    assert.equal((await api.call('GET', '/v1/services')).status, 200);
    const res = await fetch(`${api.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(
      text,
      /vaultline_http_requests_total\{method="GET",route="\/v1\/services\/:id",status="404",role="api"\} 1/,
    );
    assert.match(text, /vaultline_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/services"/);
    assert.ok(!text.includes(id), 'no id appears as a label value');
    assert.match(text, /vaultline_process_cpu_seconds_total/);
  });
});
