import type { Target, TargetKind } from '@vaultline/db';
import type { Db } from '../db';

export interface TargetFields {
  name?: string;
  path?: string;
  s3Endpoint?: string;
  s3Bucket?: string;
  s3Prefix?: string;
  s3Region?: string;
  s3AccessKey?: string;
  s3SecretEnc?: string;
}

export class TargetsRepository {
  constructor(private readonly db: Db) {}

  /** A local or network target. CONFLICT when the name is taken. */
  create(fields: { name: string; kind: Exclude<TargetKind, 's3'>; path: string }): Promise<Target> {
    return this.db.target.create({ data: fields });
  }

  /**
   * An S3 target whose secret is sealed to its own id: the row is created, then the secret sealed
   * with the id it got, in one transaction (no row ever exists without its secret).
   */
  async createS3(
    fields: Omit<TargetFields, 's3SecretEnc'> & { name: string },
    sealSecret: (id: string) => string,
  ): Promise<Target> {
    const create = async (db: Db): Promise<Target> => {
      const created = await db.target.create({ data: { ...fields, kind: 's3' } });
      return db.target.update({ where: { id: created.id }, data: { s3SecretEnc: sealSecret(created.id) } });
    };
    return '$transaction' in this.db ? this.db.$transaction((tx) => create(tx)) : create(this.db);
  }

  list(): Promise<Target[]> {
    return this.db.target.findMany({ orderBy: { name: 'asc' } });
  }

  find(id: string): Promise<Target | null> {
    return this.db.target.findUnique({ where: { id } });
  }

  findMany(ids: readonly string[]): Promise<Target[]> {
    return this.db.target.findMany({ where: { id: { in: [...ids] } } });
  }

  /** Which of `ids` exist. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.db.target.findMany({ where: { id: { in: [...ids] } }, select: { id: true } });
    return new Set(rows.map((r) => r.id));
  }

  namesOf(ids: readonly string[]): Promise<{ id: string; name: string }[]> {
    return this.db.target.findMany({ where: { id: { in: [...ids] } }, select: { id: true, name: true } });
  }

  /** NOT_FOUND for an unknown id, CONFLICT when the new name is taken. Undefined fields stay. */
  update(id: string, fields: TargetFields): Promise<Target> {
    return this.db.target.update({ where: { id }, data: fields });
  }

  /** NOT_FOUND for an unknown id, FOREIGN_KEY while a plan still writes there. */
  async remove(id: string): Promise<void> {
    await this.db.target.delete({ where: { id } });
  }
}
