import type { PipeTransform } from '@nestjs/common';
import { assertStrictSchema, parseInput } from '@vaultline/contracts';
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

/** Route ids are UUIDs; anything else cannot name a row, so it is a 404 rather than a database error. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
