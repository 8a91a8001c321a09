export { Catalog, createCatalog, type Repositories, type TransactionOptions } from './catalog';
export {
  CatalogError,
  type CatalogErrorCode,
  isCatalogError,
  isDatabaseUnavailable,
  toCatalogError,
} from './errors';
export type { BackupForJob, BackupKey, BackupResult, BackupsRepository } from './repositories/backups';
export type { FleetRepository, FreshnessRow } from './repositories/fleet';
export type {
  PlanDetails,
  PlanRepositoryRow,
  PlansRepository,
  PlanTargetDetails,
  PlanTargetWithTarget,
  ScheduleColumns,
  VerifyColumns,
} from './repositories/plans';
export type { ReportsRepository } from './repositories/reports';
export type { RestoresRepository, RestoreWithNames } from './repositories/restores';
export type { Cursor, RunForReport, RunsRepository, RunWithBackups } from './repositories/runs';
export type { ServiceFields, ServicesRepository } from './repositories/services';
export type { PublishedSnapshot, SnapshotsRepository, SnapshotWithNames } from './repositories/snapshots';
export type { TargetFields, TargetsRepository } from './repositories/targets';
export type { SessionsRepository, SessionWithUser } from './repositories/sessions';
export type { TokensRepository } from './repositories/tokens';
export type { UsersRepository } from './repositories/users';
export type {
  VerificationsRepository,
  VerificationWithTarget,
  VerificationOutcome,
} from './repositories/verifications';
// The rows repositories return: apps use these types, never the client that makes them.
export type {
  Plan,
  PlanTarget,
  Report,
  Restore,
  Run,
  Service,
  ServiceBackup,
  Snapshot,
  Session,
  Target,
  User,
} from '@vaultline/db';
export type {
  Arch,
  JobStatus,
  PlanFrequency,
  RunStatus,
  RunTrigger,
  ServiceState,
  TargetKind,
  WebhookStatus,
} from '@vaultline/db';
