import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ContractError } from '@vaultline/contracts';
import { z } from 'zod';

import { ZodQuery } from './zod-body.pipe';

describe('ZodQuery', () => {
  const schema = z.strictObject({ limit: z.coerce.number().int().optional(), q: z.string().optional() });

  test('a schema that would drop unknown parameters is refused when the route is built', () => {
    assert.throws(() => new ZodQuery(z.object({ limit: z.string() })), /must be strict/);
  });

  test('unknown and repeated parameters are 400s naming them, with the subject "query"', () => {
    const pipe = new ZodQuery(schema);
    assert.deepEqual(pipe.transform({ limit: '5' }), { limit: 5 });
    const issues = (value: unknown) => {
      try {
        pipe.transform(value);
      } catch (err) {
        assert.ok(err instanceof ContractError);
        assert.equal(err.subject, 'query');
        return err.issues;
      }
      return assert.fail('accepted');
    };
    assert.deepEqual(issues({ limt: '5' }), [{ path: 'limt', message: 'is not a known field' }]);
    assert.deepEqual(issues({ q: ['a', 'b'] }), [{ path: 'q', message: 'must be given once' }]);
  });
});
