import assert from 'node:assert/strict';
import { ContractError } from '../errors';

/** Compile-time equality: `expectType<Equal<A, B>>()` fails the build when A and B differ. */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export function expectType<_T extends true>(): void {}

/** Runs `fn`, which must throw a ContractError, and returns it for inspection. */
export function contractError(fn: () => unknown): ContractError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ContractError, `expected a ContractError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ContractError');
}
