import { DEFAULT_CHUNKER, Repository, type InitOptions } from '@vaultline/engine';
import type { Context } from '../context';
import { kdfFromEnv } from '../credentials';
import { usageError } from '../errors';

export interface InitCommandOptions {
  chunkMin?: number;
  chunkAvg?: number;
  chunkMax?: number;
  packSize?: number;
  compressionLevel?: number;
}

export async function initCommand(ctx: Context, opts: InitCommandOptions): Promise<number> {
  const location = ctx.location;
  const kdf = kdfFromEnv(ctx.env);
  const init: InitOptions = { password: '' };
  if (opts.chunkMin !== undefined || opts.chunkAvg !== undefined || opts.chunkMax !== undefined) {
    const chunker = {
      min: opts.chunkMin ?? DEFAULT_CHUNKER.min,
      avg: opts.chunkAvg ?? DEFAULT_CHUNKER.avg,
      max: opts.chunkMax ?? DEFAULT_CHUNKER.max,
    };
    if (!(chunker.min >= 64 && chunker.min < chunker.avg && chunker.avg < chunker.max)) {
      throw usageError(
        `chunk sizes must satisfy 64 ≤ --chunk-min < --chunk-avg < --chunk-max (got ${chunker.min}, ${chunker.avg}, ${chunker.max})`,
      );
    }
    if ((chunker.avg & (chunker.avg - 1)) !== 0) throw usageError('--chunk-avg must be a power of two');
    if (chunker.max > 64 * 1024 * 1024) throw usageError('--chunk-max must be at most 64 MiB');
    init.chunker = chunker;
  }
  if (opts.packSize !== undefined) init.packSize = opts.packSize;
  if (opts.compressionLevel !== undefined) init.compressionLevel = opts.compressionLevel;
  if (kdf) init.kdf = kdf;
  // Ask for the password before creating anything, so an aborted prompt leaves no folder behind.
  init.password = await ctx.credentials.requirePassword(true);
  const backend = await ctx.backend(true);
  const repo = await Repository.init(backend, init);
  const { config } = repo;
  ctx.out.emitJson({
    id: config.id,
    location: repo.location,
    created: config.created,
    keyId: repo.keyId,
    chunker: config.chunker,
    packSize: config.packSize,
    compressionLevel: config.compressionLevel,
  });
  ctx.out.info(`created Vaultline repository ${config.id} at ${location}`);
  if (ctx.out.quiet) ctx.out.print(config.id);
  else {
    ctx.out.info('');
    ctx.out.info('Keep the password safe: without it the data cannot be restored.');
  }
  return 0;
}
