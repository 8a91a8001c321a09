import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { createApiClient } from './index';

describe('createApiClient', () => {
  test('sends the token and the path parameters, and hands back the typed body', async () => {
    const seen: Request[] = [];
    const api = createApiClient({
      baseUrl: 'http://api.test',
      token: 'vlt_x',
      fetch: (req: Request) => {
        seen.push(req);
        return Promise.resolve(
          Response.json({ error: { code: 'NOT_FOUND', message: 'plan "p1" not found' } }, { status: 404 }),
        );
      },
    });
    const { data, error, response } = await api.GET('/v1/plans/{id}', { params: { path: { id: 'p1' } } });
    assert.equal(data, undefined);
    assert.equal(response.status, 404);
    assert.equal(error?.error.code, 'NOT_FOUND');
    assert.equal(seen[0]?.url, 'http://api.test/v1/plans/p1');
    assert.equal(seen[0]?.headers.get('authorization'), 'Bearer vlt_x');
  });
});
