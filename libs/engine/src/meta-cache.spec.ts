import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MetaCache } from './meta-cache';

describe('MetaCache', () => {
  test('drops the least recently used entries once over its limit', () => {
    const c = new MetaCache(100);
    c.set('a', 'A', 40);
    c.set('b', 'B', 40);
    assert.equal(c.get('a'), 'A'); // a is now the most recently used
    c.set('c', 'C', 40);
    assert.equal(c.get('b'), undefined, 'b was the least recently used');
    assert.equal(c.get('a'), 'A');
    assert.equal(c.get('c'), 'C');
    assert.equal(c.bytes, 80);
  });

  test('never keeps an entry larger than the limit, and a limit of 0 keeps nothing', () => {
    const c = new MetaCache(10);
    c.set('big', 'x', 11);
    assert.equal(c.size, 0);
    c.set('small', 'y', 5);
    c.setLimit(0);
    assert.equal(c.size, 0);
    assert.equal(c.bytes, 0);
  });

  test('replacing a key counts its size once', () => {
    const c = new MetaCache(100);
    c.set('k', 1, 30);
    c.set('k', 2, 50);
    assert.equal(c.get('k'), 2);
    assert.equal(c.bytes, 50);
  });
});
