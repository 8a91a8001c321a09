export type { ByteRange, Spool, StorageBackend, StoredObject } from './backend';
export { StorageError, assertValidName, assertValidPrefix, errorCode } from './errors';
export type { StorageErrorCode } from './errors';
export { FsBackend, TEMP_PREFIX, mapFsError } from './fs-backend';
export type { FsErrorContext, FsOpenOptions } from './fs-backend';
export { DEFAULT_RETRY, S3Backend, S3_PART_SIZE, backoffDelay, isValidBucketName } from './s3-backend';
export type { RetryPolicy, S3OpenOptions, S3Options } from './s3-backend';
export {
  DEFAULT_S3_ENDPOINT,
  DEFAULT_S3_REGION,
  openBackend,
  openS3Backend,
  parseLocation,
} from './location';
export type { Env, OpenBackendOptions, ParsedLocation, S3Settings } from './location';
