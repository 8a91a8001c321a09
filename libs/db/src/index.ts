export { createPrismaClient, type PrismaClientOptions } from './client';
export {
  createDatabaseIfMissing,
  databaseName,
  DEFAULT_DATABASE_URL,
  describeDatabase,
  withDatabase,
} from './database';
export {
  applyMigrations,
  CREATE_MIGRATIONS_TABLE,
  isUpToDate,
  markMigrationApplied,
  markMigrationRolledBack,
  MigrationError,
  migrationChecksum,
  migrationStatus,
  PRISMA_MIGRATE_LOCK_KEY,
  readMigrations,
  scriptMatchesChecksum,
  type ApplyOptions,
  type ApplyResult,
  type FailedMigration,
  type MigrationErrorCode,
  type MigrationFile,
  type MigrationStatus,
} from './migrate';
// The generated client: the class, the Prisma namespace (input types, errors), models and enums.
export { Prisma, PrismaClient } from './generated/prisma/client';
export type {
  ApiToken,
  Plan,
  PlanService,
  PlanTarget,
  Report,
  Restore,
  Run,
  Service,
  ServiceBackup,
  Session,
  Snapshot,
  Target,
  User,
  Verification,
} from './generated/prisma/client';
export * from './generated/prisma/enums';
