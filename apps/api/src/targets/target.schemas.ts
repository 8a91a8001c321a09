/**
 * Request bodies of /v1/targets, mirroring the `targets` table: a local or network folder (an
 * absolute path), or an S3/MinIO bucket with its credentials. The rules are the storage library's,
 * so a target that validates here is one `@vaultline/storage` can open.
 */
import { DEFAULT_S3_REGION, isValidBucketName } from '@vaultline/storage';
import { z } from 'zod';
import { absolutePathSchema, nameSchema } from '../services/service.schemas';

/** `http(s)://host[:port]` only: S3Backend builds the URLs below it, and credentials go elsewhere. */
const endpointSchema = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).refine(
  (u) => {
    const url = new URL(u);
    return url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
  },
  { error: 'must be http(s)://host[:port] without path, query or credentials' },
);

const bucketSchema = z.string().refine(isValidBucketName, {
  error:
    "must be a valid S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit",
});

/** The storage library's key-prefix rule (location.ts): '/'-separated parts, no '.' or '..'. */
const prefixSchema = z
  .string()
  .max(512)
  .refine(
    (p) =>
      p === '' ||
      (/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p) && !p.split('/').some((s) => s === '.' || s === '..')),
    {
      error:
        "must be '/'-separated parts of A-Z, a-z, 0-9, '.', '_' and '-', without leading or trailing '/'",
    },
  );

const regionSchema = z
  .string()
  .regex(/^[a-z0-9-]{1,64}$/, { error: 'must be an S3 region such as us-east-1' });
const accessKeySchema = z.string().min(1, { error: 'must not be empty' }).max(256);
const secretKeySchema = z.string().min(1, { error: 'must not be empty' }).max(1024);

export const createTargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ name: nameSchema, kind: z.literal('local'), path: absolutePathSchema }),
  z.strictObject({ name: nameSchema, kind: z.literal('network'), path: absolutePathSchema }),
  z.strictObject({
    name: nameSchema,
    kind: z.literal('s3'),
    endpoint: endpointSchema,
    bucket: bucketSchema,
    prefix: prefixSchema.default(''),
    region: regionSchema.default(DEFAULT_S3_REGION),
    accessKey: accessKeySchema,
    secretKey: secretKeySchema,
  }),
]);
export type CreateTarget = z.output<typeof createTargetSchema>;

/**
 * The kind cannot change (a repository does not move between a folder and a bucket by editing a
 * row); fields of the other kind are refused by the service with the field named.
 */
export const updateTargetSchema = z.strictObject({
  name: nameSchema.optional(),
  path: absolutePathSchema.optional(),
  endpoint: endpointSchema.optional(),
  bucket: bucketSchema.optional(),
  prefix: prefixSchema.optional(),
  region: regionSchema.optional(),
  accessKey: accessKeySchema.optional(),
  secretKey: secretKeySchema.optional(),
});
export type UpdateTarget = z.output<typeof updateTargetSchema>;

export const S3_FIELDS = ['endpoint', 'bucket', 'prefix', 'region', 'accessKey', 'secretKey'] as const;
