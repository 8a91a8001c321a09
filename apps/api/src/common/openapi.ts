/**
 * The OpenAPI document, built from the very zod schemas the API parses requests with and answers
 * with (libs/contracts api.ts), so the documentation cannot drift from the code:
 *
 * - request bodies and responses are named components (`#/components/schemas/PlanView`),
 *   referenced by `$ref` wherever they are used;
 * - query parameters are typed from the route's ZodQuery schema;
 * - every route lists the error codes it can answer, grouped by HTTP status, with the one error
 *   body; `completeDocument` adds those every route shares (400 for an unknown query parameter,
 *   401 without a token, 403 CSRF for a cookie-signed change without its X-CSRF-Token, 413 for a
 *   body over the limit, 500, and 503 when the database is down).
 *
 * `ApiReturns` also sets the route's status (HttpCode) and records its response schema for the
 * response check (response-contract.ts), so the status documented is the status answered.
 */
import { applyDecorators, HttpCode, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ApiBody, ApiQuery, ApiResponse } from '@nestjs/swagger';
import type { OpenAPIObject } from '@nestjs/swagger';
import { API_SCHEMAS, type ApiErrorCode } from '@vaultline/contracts';
import { z } from 'zod';

import { STATUS_OF } from './error.filter';
import { RESPONSE_CONTRACT, type ResponseContract, ResponseContractInterceptor } from './response-contract';

type BodyOptions = NonNullable<Parameters<typeof ApiBody>[0]>;
type SchemaObject = NonNullable<Extract<BodyOptions, { schema?: unknown }>['schema']>;
type JsonSchema = Record<string, unknown>;

const ref = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` });

// ---------------------------------------------------------------------------------------------
// Requests

/** The request bodies by component name, filled as the controllers are loaded. */
const requestBodies = new Map<string, z.ZodType>();

/** A zod-validated body, documented as the component `name` (the schema ZodBody parses with). */
export const ApiZodBody = (name: string, schema: z.ZodType): MethodDecorator => {
  const known = requestBodies.get(name);
  if (known && known !== schema) throw new Error(`request body component ${name} names two schemas`);
  if (name in API_SCHEMAS) throw new Error(`request body component ${name} is also a response schema`);
  requestBodies.set(name, schema);
  return ApiBody({ schema: ref(name) });
};

const toJson = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' });

/**
 * The query parameters of a ZodQuery schema (a strict object), each typed from its field; the
 * descriptions say what the types cannot.
 */
export function ApiZodQuery(schema: z.ZodObject, descriptions: Record<string, string> = {}): MethodDecorator {
  const json = toJson(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, property]) =>
      ApiQuery({
        name,
        required: (json.required ?? []).includes(name),
        schema: property as SchemaObject,
        ...(descriptions[name] ? { description: descriptions[name] } : {}),
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Responses

/**
 * The route's 2xx answer: sets its status (like HttpCode), documents it with the body's component
 * and records it for the response check.
 */
export function ApiReturns(
  status: number,
  body: ResponseContract['body'],
  description = status === 204 ? 'no content' : 'success',
): MethodDecorator {
  const contract: ResponseContract = { status, body };
  const schema =
    body === null ? undefined : typeof body === 'string' ? ref(body) : { type: 'array', items: ref(body[0]) };
  return applyDecorators(
    HttpCode(status),
    SetMetadata(RESPONSE_CONTRACT, contract),
    UseInterceptors(ResponseContractInterceptor),
    ApiResponse({ status, description, ...(schema ? { schema: schema } : {}) }),
  );
}

/** The error body, its `code` narrowed to what the status can carry on this route. */
function errorSchema(codes: readonly ApiErrorCode[]): SchemaObject {
  return {
    allOf: [
      ref('ErrorBody'),
      {
        type: 'object',
        properties: { error: { type: 'object', properties: { code: { type: 'string', enum: [...codes] } } } },
      },
    ],
  };
}

const describeCodes = (causes: Partial<Record<ApiErrorCode, string>>): string =>
  Object.entries(causes)
    .map(([code, why]) => `\`${code}\`: ${why}`)
    .join('; ');

/** The errors a route (or every route of a controller) answers besides those of every route. */
export type ErrorCauses = Partial<Record<ApiErrorCode, string>>;

/**
 * Documents the error codes a route can answer and why, one response per HTTP status (STATUS_OF),
 * each with the error body. Those every route shares are added by `completeDocument`.
 */
export function ApiErrors(causes: ErrorCauses): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorCauses>();
  for (const [code, why] of Object.entries(causes) as [ApiErrorCode, string][]) {
    const status = STATUS_OF[code];
    byStatus.set(status, { ...byStatus.get(status), [code]: why });
  }
  return applyDecorators(
    ...[...byStatus].map(([status, group]) =>
      ApiResponse({
        status,
        description: describeCodes(group),
        schema: errorSchema(Object.keys(group) as ApiErrorCode[]),
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// The document

interface Operation {
  security?: unknown[];
  requestBody?: unknown;
  responses: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** The document's operations with their method and path. */
export function operationsOf(document: OpenAPIObject): { method: string; path: string; op: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => (item as Record<string, unknown>)[m]).map((method) => ({
      method,
      path,
      op: (item as Record<string, Operation>)[method]!,
    })),
  );
}

/** Adds (or extends) the error response of `status` with `code` and its cause. */
function addError(op: Operation, code: ApiErrorCode, why: string): void {
  const status = String(STATUS_OF[code]);
  const existing = op.responses[status];
  if (!existing) {
    op.responses[status] = {
      description: describeCodes({ [code]: why }),
      content: { 'application/json': { schema: errorSchema([code]) } },
    };
    return;
  }
  const schema = existing.content?.['application/json']?.schema as
    { allOf?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }[] } | undefined;
  const codes = schema?.allOf?.[1]?.properties?.error?.properties?.code?.enum;
  if (!codes) throw new Error(`response ${status} is not an error response of the API`);
  if (!codes.includes(code)) codes.push(code);
  existing.description = existing.description?.includes(`\`${code}\``)
    ? `${existing.description}; or ${why}`
    : `${existing.description}; \`${code}\`: ${why}`;
}

function jsonSchemas(
  schemas: Iterable<[string, z.ZodType]>,
  io: 'input' | 'output',
): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of schemas) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas as Record<string, JsonSchema>;
  for (const schema of Object.values(out)) delete schema['$id'];
  return out;
}

/**
 * The components (every response schema, every request body) and the errors every route shares.
 * Called on the document @nestjs/swagger built from the controllers' decorators.
 */
export function completeDocument(document: OpenAPIObject): OpenAPIObject {
  document.components = {
    ...document.components,
    schemas: {
      ...document.components?.schemas,
      ...(jsonSchemas(Object.entries(API_SCHEMAS), 'output') as Record<string, SchemaObject>),
      ...(jsonSchemas(requestBodies, 'input') as Record<string, SchemaObject>),
    },
  };
  for (const { method, op } of operationsOf(document)) {
    // Every route that takes a token also takes the web UI's session cookie (auth.guard.ts).
    if (op.security?.length) op.security = [...op.security, { session: [] }];
    if (op.requestBody) addError(op, 'VALIDATION_FAILED', 'invalid JSON or UTF-8 in the body');
    addError(op, 'VALIDATION_FAILED', 'an unknown or repeated query parameter');
    if (op.requestBody) {
      op.responses['413'] ??= {
        description: '`VALIDATION_FAILED`: the body is larger than 100 kB',
        content: { 'application/json': { schema: errorSchema(['VALIDATION_FAILED']) } },
      };
    }
    if (op.security?.length) {
      addError(op, 'UNAUTHORIZED', 'missing, invalid or revoked token, or no live session');
      if (method !== 'get' && method !== 'head') {
        addError(op, 'CSRF', 'signed in by the session cookie without its X-CSRF-Token');
      }
    }
    addError(op, 'UNAVAILABLE', 'the database is unavailable');
    addError(op, 'INTERNAL', 'an unexpected error (the body carries `correlationId`)');
  }
  return document;
}
