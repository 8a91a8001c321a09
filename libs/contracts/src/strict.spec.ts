import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { assertStrictSchema, looseObjectPaths } from './strict';

describe('looseObjectPaths', () => {
  test('finds every object that would drop unknown keys, wherever it is nested', () => {
    const schema = z.strictObject({
      a: z.object({ b: z.string() }).optional(),
      list: z.array(z.object({ c: z.number() })).default([]),
      either: z.union([z.strictObject({ k: z.literal(1) }), z.object({ k: z.literal(2) })]),
      ok: z.strictObject({ d: z.string().transform((s) => s.trim()) }).nullable(),
    });
    assert.deepEqual(looseObjectPaths(schema), ['a', 'list[]', 'either']);
  });

  test('an intersection is refused: it accepts keys unknown to one side', () => {
    const both = z.strictObject({ a: z.string() }).and(z.strictObject({ b: z.string() }));
    assert.deepEqual(looseObjectPaths(z.strictObject({ x: both })), ['x (intersection)']);
  });

  test('strict schemas pass; a loose one throws naming where', () => {
    assert.doesNotThrow(() => assertStrictSchema(z.strictObject({ a: z.strictObject({}) }), 'body'));
    assert.throws(() => assertStrictSchema(z.object({}), 'body'), /loose at: \(body\)/);
  });
});
