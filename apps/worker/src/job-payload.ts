import { UnrecoverableError } from 'bullmq';

import { ContractError, parseJobPayload, type JobName, type JobPayload } from '@vaultline/contracts';

/**
 * A job's payload, validated against the contract of its name. A job of another name, or an
 * invalid payload (a producer of an incompatible version), fails at once without retries
 * (UnrecoverableError with the contract's message naming the fields): retrying cannot fix it.
 */
export function payloadOf<N extends JobName>(
  job: { name: string; data: unknown },
  names: readonly N[],
  queue: string,
): { name: N; payload: JobPayload<N> } {
  const name = names.find((n) => n === job.name);
  if (!name) throw new UnrecoverableError(`job ${job.name} is not a job of the ${queue} queue`);
  try {
    return { name, payload: parseJobPayload(name, job.data) };
  } catch (err) {
    if (err instanceof ContractError) throw new UnrecoverableError(err.message);
    throw err;
  }
}
