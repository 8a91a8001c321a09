import { createPrismaClient, type PrismaClient, type PrismaClientOptions } from '@vaultline/db';
import type { Db } from './db';
import { toCatalogError, translating } from './errors';
import { BackupsRepository } from './repositories/backups';
import { FleetRepository } from './repositories/fleet';
import { PlansRepository } from './repositories/plans';
import { ReportsRepository } from './repositories/reports';
import { RestoresRepository } from './repositories/restores';
import { RunsRepository } from './repositories/runs';
import { SessionsRepository } from './repositories/sessions';
import { ServicesRepository } from './repositories/services';
import { SnapshotsRepository } from './repositories/snapshots';
import { TargetsRepository } from './repositories/targets';
import { TokensRepository } from './repositories/tokens';
import { UsersRepository } from './repositories/users';
import { VerificationsRepository } from './repositories/verifications';

/** Every repository, on one client: the catalog's own, or a transaction's (`catalog.transaction`). */
export interface Repositories {
  readonly tokens: TokensRepository;
  readonly users: UsersRepository;
  readonly sessions: SessionsRepository;
  readonly services: ServicesRepository;
  readonly targets: TargetsRepository;
  readonly plans: PlansRepository;
  readonly runs: RunsRepository;
  readonly backups: BackupsRepository;
  readonly snapshots: SnapshotsRepository;
  readonly restores: RestoresRepository;
  readonly reports: ReportsRepository;
  readonly fleet: FleetRepository;
  readonly verifications: VerificationsRepository;
}

function repositories(db: Db): Repositories {
  return {
    tokens: translating(new TokensRepository(db)),
    users: translating(new UsersRepository(db)),
    sessions: translating(new SessionsRepository(db)),
    services: translating(new ServicesRepository(db)),
    targets: translating(new TargetsRepository(db)),
    plans: translating(new PlansRepository(db)),
    runs: translating(new RunsRepository(db)),
    backups: translating(new BackupsRepository(db)),
    snapshots: translating(new SnapshotsRepository(db)),
    restores: translating(new RestoresRepository(db)),
    reports: translating(new ReportsRepository(db)),
    fleet: translating(new FleetRepository(db)),
    verifications: translating(new VerificationsRepository(db)),
  };
}

export interface TransactionOptions {
  /** Longest the transaction may run before Prisma rolls it back (Prisma's default: 5 s). */
  timeoutMs?: number;
  /** Longest to wait for a connection to start it on (Prisma's default: 2 s). */
  maxWaitMs?: number;
}

/**
 * The fleet's catalog: the one place that speaks to the database. Apps hold one per process and
 * call its repositories; what fails reaches them as CatalogError (codes, not Prisma's classes).
 */
export class Catalog implements Repositories {
  readonly tokens: TokensRepository;
  readonly users: UsersRepository;
  readonly sessions: SessionsRepository;
  readonly services: ServicesRepository;
  readonly targets: TargetsRepository;
  readonly plans: PlansRepository;
  readonly runs: RunsRepository;
  readonly backups: BackupsRepository;
  readonly snapshots: SnapshotsRepository;
  readonly restores: RestoresRepository;
  readonly reports: ReportsRepository;
  readonly fleet: FleetRepository;
  readonly verifications: VerificationsRepository;

  /** Over an existing client (tests share theirs); the catalog then owns it (`disconnect`). */
  constructor(private readonly client: PrismaClient) {
    const repos = repositories(client);
    this.tokens = repos.tokens;
    this.users = repos.users;
    this.sessions = repos.sessions;
    this.services = repos.services;
    this.targets = repos.targets;
    this.plans = repos.plans;
    this.runs = repos.runs;
    this.backups = repos.backups;
    this.snapshots = repos.snapshots;
    this.restores = repos.restores;
    this.reports = repos.reports;
    this.fleet = repos.fleet;
    this.verifications = repos.verifications;
  }

  /**
   * Several repository calls in one database transaction: `fn` gets the repositories bound to it;
   * everything commits when it resolves and rolls back when it throws (the error is passed on).
   */
  async transaction<T>(fn: (tx: Repositories) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    try {
      return await this.client.$transaction((tx) => fn(repositories(tx)), {
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
        ...(options.maxWaitMs === undefined ? {} : { maxWait: options.maxWaitMs }),
      });
    } catch (err) {
      throw toCatalogError(err);
    }
  }

  /** Opens the pool now, so a wrong DATABASE_URL fails a process's start rather than its first job. */
  async connect(): Promise<void> {
    try {
      await this.client.$connect();
    } catch (err) {
      throw toCatalogError(err);
    }
  }

  /** One round trip to the server (health checks). */
  async ping(): Promise<void> {
    try {
      await this.client.$queryRaw`SELECT 1`;
    } catch (err) {
      throw toCatalogError(err);
    }
  }

  async disconnect(): Promise<void> {
    await this.client.$disconnect();
  }
}

/** A catalog on its own Prisma client over node-postgres (`pool`: its size and timeouts). */
export function createCatalog(databaseUrl: string, options: PrismaClientOptions = {}): Catalog {
  return new Catalog(createPrismaClient(databaseUrl, options));
}
