import { removeLocks } from '@vaultline/engine';
import type { Context } from '../context';
import { isoTime } from '../output';

export interface UnlockCommandOptions {
  removeAll?: boolean;
}

/** Removes stale locks, or with --remove-all every lock (when no other vaultline is running). */
export async function unlockCommand(ctx: Context, opts: UnlockCommandOptions): Promise<number> {
  const repo = await ctx.openRepo();
  const result = await removeLocks(repo.backend, { all: opts.removeAll === true });
  ctx.out.emitJson(result);
  for (const l of result.removed) {
    ctx.out.info(
      `removed ${l.stale ? 'stale' : 'active'} ${l.kind} lock of ${l.operation} on ${l.host} (pid ${l.pid}), ` +
        `last refreshed ${isoTime(l.refreshed)}`,
    );
  }
  ctx.out.info(
    `${result.removed.length} lock${result.removed.length === 1 ? '' : 's'} removed` +
      (result.kept.length > 0 ? `, ${result.kept.length} active kept (--remove-all removes them)` : ''),
  );
  return 0;
}
