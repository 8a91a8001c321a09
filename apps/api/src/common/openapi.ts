import { ApiBody, ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';

type BodyOptions = NonNullable<Parameters<typeof ApiBody>[0]>;
type SchemaObject = NonNullable<Extract<BodyOptions, { schema?: unknown }>['schema']>;

/**
 * OpenAPI for a zod-validated body, generated from the very schema the pipe parses with, so the
 * documentation cannot drift from the validation.
 */
export function openApiSchema(schema: z.ZodType): SchemaObject {
  return z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'any',
  }) as SchemaObject;
}

export const ApiZodBody = (schema: z.ZodType): MethodDecorator => ApiBody({ schema: openApiSchema(schema) });

const errorSchema: SchemaObject = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: {
          type: 'string',
          enum: [
            'VALIDATION_FAILED',
            'UNAUTHORIZED',
            'NOT_FOUND',
            'CONFLICT',
            'WRONG_PASSWORD',
            'CROSS_ARCH',
            'UNAVAILABLE',
            'INTERNAL',
          ],
        },
        message: { type: 'string' },
        fields: {
          type: 'array',
          items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
        },
        correlationId: { type: 'string' },
      },
    },
  },
};

/** Documents one error status with the shared error body. */
export const ApiError4xx = (status: number, description: string): MethodDecorator & ClassDecorator =>
  ApiResponse({ status, description, schema: errorSchema });
