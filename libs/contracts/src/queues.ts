/**
 * The BullMQ queues of the fleet: the only place their names are written.
 *
 * NEVER RENAME A QUEUE IN PLACE. The name is part of every Redis key BullMQ keeps for it
 * (`<QUEUE_PREFIX>:<queue>:…`): waiting, delayed and failed jobs, flows' parent/child links and the
 * plans' job schedulers all live under it. A renamed queue silently orphans them — scheduled
 * backups stop firing and running flows never get their report. The plan for a rename is:
 *   1. add the new name beside the old one and deploy workers that consume both;
 *   2. switch producers (and re-create every job scheduler) to the new name;
 *   3. once the old queue is drained (no waiting, delayed or waiting-children jobs), remove its
 *      consumers and `obliterate` it.
 * The same applies to job names (stored in each job) and to event patterns (a rolling deploy runs
 * old and new processes side by side).
 */
export const QUEUES = {
  /** One child job per service × target of a run; many worker processes consume it. */
  backup: 'backup',
  /** A run's flow parent: processed once every backup child has finished, successes and failures alike. */
  report: 'report',
  /** Restores of one service from one snapshot. */
  restore: 'restore',
  /** Retention (forget + prune) per plan × target, and removing a deleted plan's snapshots. */
  maintenance: 'maintenance',
  /**
   * The plans' BullMQ job schedulers fire here. A scheduler can only add plain jobs, not flows, so
   * its job is turned into a run (a Run row and the report/backup flow) by a consumer. It is a
   * queue of its own so that a firing never waits behind an hour-long backup or a prune.
   */
  schedule: 'schedule',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const QUEUE_NAMES: readonly QueueName[] = Object.freeze(Object.values(QUEUES));
