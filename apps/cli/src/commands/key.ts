import { exportWriterKey } from '@vaultline/engine';
import type { Context } from '../context';
import { kdfFromEnv, newPassword } from '../credentials';
import { CliError } from '../errors';
import { isoTime, table } from '../output';

export async function keyListCommand(ctx: Context): Promise<number> {
  const repo = await ctx.openRepo();
  const keys = await repo.listKeys();
  ctx.out.emitJson(keys);
  const rows = keys.map((k) => [k.current ? '*' : '', k.id, isoTime(k.created), k.host]);
  for (const line of table(['', 'ID', 'CREATED', 'HOST'], rows)) ctx.out.print(line);
  return 0;
}

export async function keyAddCommand(ctx: Context, opts: { newPasswordFile?: string }): Promise<number> {
  const kdf = kdfFromEnv(ctx.env);
  const repo = await ctx.openRepo();
  repo.requirePrivateKey('adding a key');
  const password = await newPassword(opts.newPasswordFile);
  const id = await repo.addKey(password, kdf);
  ctx.out.emitJson({ id });
  ctx.out.info(`added key ${id}`);
  if (ctx.out.quiet) ctx.out.print(id);
  return 0;
}

export async function keyRemoveCommand(ctx: Context, ref: string): Promise<number> {
  const repo = await ctx.openRepo();
  repo.requirePrivateKey('removing a key');
  const keys = await repo.listKeys();
  const matches = keys.filter((k) => k.id === ref || (ref.length >= 4 && k.id.startsWith(ref)));
  const exact = matches.find((k) => k.id === ref);
  if (matches.length > 1 && !exact) throw new CliError(`key prefix ${ref} is ambiguous`, 1, 'AMBIGUOUS');
  const id = exact?.id ?? matches[0]?.id ?? ref;
  await repo.removeKey(id);
  ctx.out.emitJson({ removed: id });
  ctx.out.info(`removed key ${id}`);
  return 0;
}

export async function keyPasswdCommand(ctx: Context, opts: { newPasswordFile?: string }): Promise<number> {
  const kdf = kdfFromEnv(ctx.env);
  const repo = await ctx.openRepo();
  repo.requirePrivateKey('changing the password');
  const password = await newPassword(opts.newPasswordFile);
  const oldId = repo.keyId;
  const id = await repo.changePassword(password, kdf);
  ctx.out.emitJson({ id, removed: oldId });
  ctx.out.info(`password changed: added key ${id}${oldId ? `, removed key ${oldId}` : ''}`);
  return 0;
}

export async function keyExportWriterCommand(ctx: Context): Promise<number> {
  const repo = await ctx.openRepo();
  // The writer key could be re-exported from itself, but handing it out is the owner's decision.
  repo.requirePrivateKey('exporting the writer key');
  const writerKey = exportWriterKey(repo.keys);
  ctx.out.emitJson({ writerKey });
  ctx.out.print(writerKey);
  return 0;
}
