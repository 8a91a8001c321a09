import type { Db } from '../db';

/** One active plan × service × target with its newest successful backup (freshness metrics). */
export interface FreshnessRow {
  service: string;
  target: string;
  plan: string;
  frequency: string;
  last: Date | null;
  created: Date;
}

/** Fleet-wide figures for the metrics (one query each, whatever the size of the fleet). */
export class FleetRepository {
  constructor(private readonly db: Db) {}

  /** Every service × target of plans that are neither paused nor being deleted. */
  freshness(): Promise<FreshnessRow[]> {
    return this.db.$queryRaw<FreshnessRow[]>`
      SELECT s.name AS service, t.name AS target, p.name AS plan, p.frequency::text AS frequency,
             p.created_at AS created,
             (SELECT max(sb.finished_at)
                FROM service_backups sb JOIN runs r ON r.id = sb.run_id
               WHERE sb.service_id = ps.service_id AND sb.target_id = pt.target_id
                 AND r.plan_id = p.id AND sb.status = 'success') AS last
        FROM plans p
        JOIN plan_services ps ON ps.plan_id = p.id
        JOIN plan_targets pt ON pt.plan_id = p.id
        JOIN services s ON s.id = ps.service_id
        JOIN targets t ON t.id = pt.target_id
       WHERE p.deleted_at IS NULL AND NOT p.paused`;
  }

  /** Space the catalogued snapshots added, per target name (0 for a target without any). */
  bytesPerTarget(): Promise<{ target: string; bytes: bigint | null }[]> {
    return this.db.$queryRaw<{ target: string; bytes: bigint | null }[]>`
      SELECT t.name AS target, sum(sn.bytes_added)::bigint AS bytes
        FROM targets t LEFT JOIN snapshots sn ON sn.target_id = t.id
       GROUP BY t.name`;
  }
}
