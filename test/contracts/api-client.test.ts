/**
 * The typed client (libs/api-client) is generated from the OpenAPI document the API builds; the
 * generated files are committed so a change of the contract shows in review. This fails when they
 * are stale: run `npm run api:client` and commit the result.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { staleClientFiles } from '../../scripts/api-client';

describe('the generated API client', () => {
  test('is what the API document generates today (npm run api:client)', async () => {
    assert.deepEqual(await staleClientFiles(), [], 'stale generated files: run npm run api:client');
  });
});
