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

/**
 * Queues whose jobs can be pinned to the node that holds a service's data. A service with a node
 * has its jobs put on `<queue>@<node>` (e.g. `backup@node-a`), a queue of its own that only the
 * workers started with that NODE_NAME consume; services without one use the shared `<queue>`.
 * Per-node queues (and not one queue with a filter) because a BullMQ worker takes whatever job is
 * next in its queue: it cannot skip jobs meant for another node. They are BullMQ queues like the
 * others (flows, retries, stalled-job recovery, job counts for the metrics); the `@` cannot occur
 * in a base queue name, so `<queue>@<node>` never collides with one.
 */
export const NODE_ROUTED_QUEUES = [QUEUES.backup, QUEUES.restore] as const;
export type NodeRoutedQueue = (typeof NODE_ROUTED_QUEUES)[number];

/**
 * A node name as Kubernetes writes one (a DNS subdomain: lowercase letters, digits, `-` and `.`,
 * starting and ending with a letter or digit, at most 253 characters); it becomes part of a queue
 * name and of Redis keys, so nothing else is allowed.
 */
export const NODE_NAME_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * A node label selector of one label, `key=value`, as Kubernetes writes labels: an optional DNS
 * prefix and `/`, a name and a value of at most 63 letters, digits, `-`, `_`, `.` (starting and ending
 * with a letter or digit). `=` cannot occur in a node name, so the two never collide.
 */
export const NODE_LABEL_RE =
  /^(?:(?=[^/]{1,253}\/)[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?(?=[^=]{1,63}=)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?=(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * Where a service's data lives: a node's name, or a label (`key=value`) of the nodes that have it.
 * Its jobs go to `<queue>@<placement>`, consumed by workers with that NODE_NAME or that label in
 * NODE_LABELS.
 */
export function isPlacement(p: string): boolean {
  return NODE_NAME_RE.test(p) || NODE_LABEL_RE.test(p);
}

export function isNodeRoutedQueue(queue: string): queue is NodeRoutedQueue {
  return (NODE_ROUTED_QUEUES as readonly string[]).includes(queue);
}

/**
 * `<queue>@<node>` (or `<queue>@<key>=<value>`); throws for a queue that is not node-routed or a
 * placement that is neither a node name nor a label.
 */
export function nodeQueueName(queue: QueueName, node: string): string {
  if (!isNodeRoutedQueue(queue)) throw new Error(`the ${queue} queue is not routed per node`);
  if (!isPlacement(node)) throw new Error(`invalid node name or label ${JSON.stringify(node)}`);
  return `${queue}@${node}`;
}

/** The queue a job of `queue` goes to: the node's own queue when `node` is given, else the shared one. */
export function routedQueueName(queue: QueueName, node?: string | null): string {
  return node ? nodeQueueName(queue, node) : queue;
}

/** Splits `backup@node-a` into its base queue and node; undefined for a name that is neither form. */
export function parseQueueName(name: string): { queue: QueueName; node?: string } | undefined {
  const at = name.indexOf('@');
  if (at < 0)
    return (QUEUE_NAMES as readonly string[]).includes(name) ? { queue: name as QueueName } : undefined;
  const queue = name.slice(0, at);
  const node = name.slice(at + 1);
  if (!isNodeRoutedQueue(queue) || !isPlacement(node)) return undefined;
  return { queue, node };
}
