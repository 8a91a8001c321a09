/**
 * The one way a process of the fleet puts jobs in Redis: `jobs.queue({ name, data, opts? })`.
 * The job's name picks its queue and its default options (attempts, backoff…) from the `JOBS`
 * registry in @vaultline/contracts, and its data is validated against the job's schema before it
 * is stored, so a job cannot land in the wrong queue, with another job's data, or with fields that
 * have no business in Redis (the schema strips unknown keys: a password passed by mistake is
 * dropped). Producers never hold a BullMQ `Queue`.
 *
 * Each queue (and the flow producer) is created on first use and owns its connection: BullMQ then
 * reconnects it after a Redis outage. maxRetriesPerRequest is null, as BullMQ requires, so while
 * Redis is down a command waits instead of failing; callers that answer a client bound that wait
 * themselves (the API's QueuesService.run).
 */
import {
  FlowProducer,
  Queue,
  type ConnectionOptions,
  type FlowJob,
  type Job,
  type JobNode,
  type JobsOptions,
  type JobState,
  type JobType,
  type RepeatOptions,
} from 'bullmq';

import {
  JOBS,
  parseJobPayload,
  parseQueueName,
  routedQueueName,
  type JobName,
  type JobPayload,
} from '@vaultline/contracts';

/** What a producer may set on one job, over the registry's defaults (flows link parents themselves). */
export type JobOptions = Omit<JobsOptions, 'parent' | 'repeat'>;

/**
 * One job to queue. A union over the job names, so `data` must be the payload of that `name`: a
 * `backup.run` with a restore's data does not compile. `node` puts a backup or restore on that
 * node's own queue (`backup@<node>`), which only workers started with that NODE_NAME consume.
 */
export type JobRequest = {
  [N in JobName]: { name: N; data: JobPayload<N>; opts?: JobOptions; node?: string | null };
}[JobName];

/** A flow: a parent job processed once all its children have finished (BullMQ FlowProducer). */
export type FlowRequest = JobRequest & { children?: readonly FlowRequest[] };

export interface JobGatewayOptions {
  redisUrl: string;
  /** QUEUE_PREFIX: the fleet's keys in a shared Redis. */
  prefix: string;
  /** A connection error of one queue or of the flow producer (BullMQ keeps reconnecting). */
  onError?: (err: Error, queue: string) => void;
}

/** The 'error' event Queue and FlowProducer share (their typed overloads differ otherwise). */
interface ErrorSource {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export class JobGateway {
  /** By full queue name: `backup`, `backup@node-a`… */
  private readonly queues = new Map<string, Queue>();
  private flows?: FlowProducer;
  private readonly connection: ConnectionOptions;
  private closed = false;

  constructor(private readonly options: JobGatewayOptions) {
    this.connection = { url: options.redisUrl, maxRetriesPerRequest: null };
  }

  get prefix(): string {
    return this.options.prefix;
  }

  /** Validates the data and adds the job to its queue with the registry's options under `opts`. */
  async queue(job: JobRequest): Promise<Job> {
    const { queue, name, data, opts } = this.prepare(job);
    return this.queueOf(queue).add(name, data, opts);
  }

  /** Several jobs at once, one round trip per queue (BullMQ addBulk); in the order given per queue. */
  async queueBulk(jobs: readonly JobRequest[]): Promise<Job[]> {
    const byQueue = new Map<string, { name: string; data: unknown; opts: JobsOptions }[]>();
    for (const job of jobs) {
      const { queue, ...rest } = this.prepare(job);
      const list = byQueue.get(queue) ?? [];
      list.push(rest);
      byQueue.set(queue, list);
    }
    const added = await Promise.all([...byQueue].map(([q, list]) => this.queueOf(q).addBulk(list)));
    return added.flat();
  }

  /** A parent and its children (each in its own job's queue), added atomically by BullMQ. */
  async queueFlow(flow: FlowRequest): Promise<JobNode> {
    this.flows ??= this.connect(
      new FlowProducer({ connection: this.connection, prefix: this.prefix }),
      'flows',
    );
    return this.flows.add(this.flowJob(flow));
  }

  /**
   * Creates or replaces the job scheduler `schedulerId` of the job's queue: it adds `job` on every
   * `repeat` firing (BullMQ job schedulers), with the registry's options when it has any.
   */
  async upsertScheduler(
    schedulerId: string,
    repeat: Omit<RepeatOptions, 'key'>,
    job: JobRequest,
  ): Promise<void> {
    const { queue, name, data, opts } = this.prepare(job);
    await this.queueOf(queue).upsertJobScheduler(schedulerId, repeat, {
      name,
      data,
      ...(Object.keys(opts).length ? { opts } : {}),
    });
  }

  /** Removes the job scheduler `schedulerId` of `name`'s queue; false when there was none. */
  removeScheduler(name: JobName, schedulerId: string): Promise<boolean> {
    return this.queueOf(JOBS[name].queue).removeJobScheduler(schedulerId);
  }

  /** The job `jobId` of `name`'s queue (of `node`'s queue when given), if Redis still has it. */
  async find(name: JobName, jobId: string, node?: string | null): Promise<Job | undefined> {
    return this.queueOf(routedQueueName(JOBS[name].queue, node)).getJob(jobId);
  }

  /** The state of the job `jobId` of `name`'s (or `node`'s) queue ('unknown' when Redis does not have it). */
  async state(name: JobName, jobId: string, node?: string | null): Promise<JobState | 'unknown'> {
    return this.queueOf(routedQueueName(JOBS[name].queue, node)).getJobState(jobId);
  }

  /** Job counts of a queue (`backup`, or a node's `backup@node-a`) by state (metrics). */
  async counts<S extends JobType>(queue: string, states: readonly S[]): Promise<Partial<Record<S, number>>> {
    return (await this.queueOf(queue).getJobCounts(...states)) as Partial<Record<S, number>>;
  }

  /** The oldest `limit` jobs of `queue` waiting for a worker (waiting or prioritized), oldest first. */
  async waitingJobs(queue: string, limit: number): Promise<Job[]> {
    return this.queueOf(queue).getJobs(['waiting', 'prioritized'], 0, limit - 1, true);
  }

  /**
   * How many BullMQ workers consume `queue` right now (BullMQ's CLIENT LIST of the queue's
   * blocking connections): 0 for a node's queue means no worker runs on that node.
   */
  async workerCount(queue: string): Promise<number> {
    return (await this.queueOf(queue).getWorkers()).length;
  }

  /** Closes every queue and the flow producer this gateway opened. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.flows?.close();
  }

  private prepare(job: JobRequest): { queue: string; name: JobName; data: unknown; opts: JobsOptions } {
    const def = JOBS[job.name];
    // Validated here too, not only by the type: casts and plain JS reach this as well.
    const data = parseJobPayload(job.name, job.data);
    // Throws for a node on a queue that is not routed per node, or for a malformed node name.
    const queue = routedQueueName(def.queue, job.node);
    return { queue, name: job.name, data, opts: { ...def.defaults, ...job.opts } };
  }

  private flowJob(flow: FlowRequest): FlowJob {
    const { queue, name, data, opts } = this.prepare(flow);
    return {
      name,
      queueName: queue,
      data,
      opts,
      ...(flow.children ? { children: flow.children.map((c) => this.flowJob(c)) } : {}),
    };
  }

  private queueOf(name: string): Queue {
    if (this.closed) throw new Error('the job gateway is closed');
    if (!parseQueueName(name)) throw new Error(`no queue ${name}`);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = this.connect(new Queue(name, { connection: this.connection, prefix: this.prefix }), name);
      this.queues.set(name, queue);
    }
    return queue;
  }

  private connect<T extends Queue | FlowProducer>(client: T, name: string): T {
    // Without a listener an 'error' event would crash the process.
    (client as unknown as ErrorSource).on('error', (err) => this.options.onError?.(err, name));
    return client;
  }
}
