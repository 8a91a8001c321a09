/**
 * The consumer side: a queue's handlers are a map keyed by the names of that queue's jobs,
 * `{ 'maintenance.retention': fn, 'maintenance.deletePlan': fn, … }`. The map's type has exactly
 * those keys, so a job without a handler does not compile, nor does a handler for a job of another
 * queue in a map written as a literal (or annotated JobHandlers<Q>: TypeScript checks excess keys
 * of literals only). The startup check of the contracts (assertHandlers) is run on the map's own
 * keys, which also covers maps built by casts or plain JS.
 *
 * The dispatcher validates every job before its handler runs: a job of another name, or data that
 * fails the contract (a producer of an incompatible version), fails at once without retries
 * (UnrecoverableError with the contract's message, which names the fields, never their values).
 */
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';

import {
  assertHandlers,
  ContractError,
  isJobName,
  parseJobPayload,
  routedQueueName,
  type JobName,
  type JobPayload,
  type JobResult,
  type JobsOfQueue,
  type QueueName,
} from '@vaultline/contracts';

/** Runs one job: its validated payload, the BullMQ job (progress, ids, attempts) and the lock token. */
export type JobHandler<N extends JobName> = (
  payload: JobPayload<N>,
  job: Job,
  token: string | undefined,
) => Promise<JobResult<N>>;

/** One handler per job of the queue Q, no more, no less. */
export type JobHandlers<Q extends QueueName> = { readonly [N in JobsOfQueue<Q>]: JobHandler<N> };

/**
 * The processor function of queue Q for BullMQ: looks up the handler of the job's name and calls
 * it with the parsed payload. Throws ContractError HANDLERS_MISMATCH at once if the map does not
 * cover the queue's jobs exactly.
 */
export function jobDispatcher<Q extends QueueName>(
  queue: Q,
  handlers: JobHandlers<Q>,
): (job: Job, token?: string) => Promise<JobResult<JobsOfQueue<Q>>> {
  assertHandlers(Object.keys(handlers), [queue]);
  const byName = handlers as unknown as Record<string, JobHandler<JobsOfQueue<Q>>>;
  return async (job, token) => {
    const name = job.name;
    if (!isJobName(name) || !Object.hasOwn(byName, name)) {
      throw new UnrecoverableError(`job ${name} is not a job of the ${queue} queue`);
    }
    let payload: JobPayload<JobsOfQueue<Q>>;
    try {
      payload = parseJobPayload(name as JobsOfQueue<Q>, job.data);
    } catch (err) {
      // Retrying cannot fix a payload.
      if (err instanceof ContractError) throw new UnrecoverableError(err.message);
      throw err;
    }
    return byName[name]!(payload, job, token);
  };
}

export interface JobWorkerOptions extends Omit<WorkerOptions, 'connection' | 'prefix' | 'autorun'> {
  redisUrl: string;
  prefix: string;
  /** Around every job (metrics of active jobs, in-flight tracking). */
  around?: <T>(job: Job, run: () => Promise<T>) => Promise<T>;
  /** Consume that node's own queue (`backup@<node>`) instead of the shared one. */
  node?: string;
}

/** A BullMQ Worker on queue Q that runs `handlers` through jobDispatcher. */
export function jobWorker<Q extends QueueName>(
  queue: Q,
  handlers: JobHandlers<Q>,
  options: JobWorkerOptions,
): Worker {
  const { redisUrl, prefix, around, node, ...workerOptions } = options;
  const dispatch = jobDispatcher(queue, handlers);
  return new Worker(
    routedQueueName(queue, node),
    around ? (job, token) => around(job, () => dispatch(job, token)) : dispatch,
    {
      ...workerOptions,
      connection: { url: redisUrl, maxRetriesPerRequest: null },
      prefix,
    },
  );
}
