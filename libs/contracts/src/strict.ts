/**
 * Request bodies refuse unknown fields, everywhere: a misspelt field (`retention.keepDayly`) that
 * is silently dropped looks to the client like a setting that took effect. zod's `z.object` strips
 * unknown keys and an intersection (`a.and(b)`) only reports a key unknown to *both* sides, so the
 * rule cannot be left to each schema's author: the API's body pipe calls `assertStrictSchema` on
 * every schema it is given, and a schema with a loose object anywhere in it fails at startup.
 */
import type { z } from 'zod';

/** The parts of zod 4's definitions the walk reads (the public `def` of each schema kind). */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  options?: readonly z.ZodType[];
  items?: readonly z.ZodType[];
  rest?: z.ZodType | null;
  valueType?: z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The paths (dotted, `[]` for array elements) of every object in `schema` that accepts unknown keys. */
export function looseObjectPaths(schema: z.ZodType, path = '', seen = new Set<z.ZodType>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = defOf(schema);
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  const walk = (s: z.ZodType | null | undefined, p = path): string[] =>
    s ? looseObjectPaths(s, p, seen) : [];
  switch (def.type) {
    case 'object': {
      const own = def.catchall && defOf(def.catchall).type === 'never' ? [] : [path || '(body)'];
      return [...own, ...Object.entries(def.shape ?? {}).flatMap(([k, v]) => walk(v, at(k)))];
    }
    case 'intersection':
      // Strictness does not survive an intersection (see above): express the rule with `.check`.
      return [`${path || '(body)'} (intersection)`];
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
    case 'success':
      return walk(def.innerType);
    case 'pipe':
      return [...walk(def.in), ...walk(def.out)];
    case 'array':
      return walk(def.element, `${path}[]`);
    case 'union':
      return (def.options ?? []).flatMap((o) => walk(o));
    case 'tuple':
      return [...(def.items ?? []).flatMap((o) => walk(o, `${path}[]`)), ...walk(def.rest, `${path}[]`)];
    case 'record':
    case 'map':
      return walk(def.valueType, `${path}.*`);
    default:
      return []; // scalars, unknown, transforms: no keys to refuse
  }
}

/** Throws when `schema` has an object that would accept (and drop) unknown fields. */
export function assertStrictSchema(schema: z.ZodType, subject: string): void {
  const loose = looseObjectPaths(schema);
  if (loose.length) {
    throw new Error(
      `${subject}: every object of a request body schema must be strict (z.strictObject); loose at: ${loose.join(', ')}`,
    );
  }
}
