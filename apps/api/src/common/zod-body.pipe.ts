import type { PipeTransform } from '@nestjs/common';
import { assertStrictSchema, ContractError, parseInput } from '@vaultline/contracts';
import type { z } from 'zod';

/**
 * Parses a request body with a contracts-style zod schema; a ContractError becomes a 400 in the
 * filter. Every body goes through here, so this is where "an unknown field is a 400 naming its
 * path" is enforced: a schema that would drop unknown fields is refused when the controller is
 * loaded (the app does not start), not discovered by a client.
 */
export class ZodBody<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {
    assertStrictSchema(schema, 'request body schema');
  }

  transform(value: unknown): z.output<S> {
    return parseInput(this.schema, value);
  }
}

/**
 * The query string's counterpart of ZodBody, with the same rules and error shape (a 400 naming the
 * parameter; the message says "query", not "request body"): the schema must refuse unknown
 * parameters, and a parameter given twice (`?limit=1&limit=2`, which Express hands over as an
 * array) is refused by name rather than reported as a wrong type, since no route takes a list.
 * Routes without a query schema refuse every parameter (strict-query.ts).
 */
export class ZodQuery<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {
    assertStrictSchema(schema, 'query string schema');
  }

  transform(value: unknown): z.output<S> {
    assertSingleValues(value);
    return parseInput(this.schema, value, 'query');
  }
}

/** A 400 naming each query parameter that was given more than once. */
export function assertSingleValues(query: unknown): void {
  if (typeof query !== 'object' || query === null) return;
  const repeated = Object.entries(query)
    .filter(([, v]) => typeof v !== 'string')
    .map(([path]) => ({ path, message: 'must be given once' }));
  if (repeated.length) throw new ContractError('INVALID_INPUT', 'query', repeated);
}

/** Route ids are UUIDs; anything else cannot name a row, so it is a 404 rather than a database error. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
