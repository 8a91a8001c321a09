/**
 * Credentials: the repository password (file, env or prompt) and the writer key (file or env).
 * Nothing here ever prints a secret; error messages name files and variables only.
 */
import { readFileSync } from 'node:fs';
import { parseWriterKey, type Credentials, type KdfParams, type WriterKeys } from '@vaultline/engine';
import { CliError, usageError } from './errors';

export type Env = Record<string, string | undefined>;

export type KdfOverrides = Partial<Omit<KdfParams, 'salt' | 'algorithm'>>;

export interface CredentialSources {
  passwordFile?: string;
  writerKeyFile?: string;
}

export const NO_PASSWORD = 'no password: use --password-file or VAULTLINE_PASSWORD';

function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : (code ?? 'unreadable');
    throw new CliError(`cannot read ${what} ${file}: ${reason}`, 1, 'UNREADABLE_FILE', { cause: err });
  }
}

/** The first line of a password file, without its line ending. */
export function readPasswordFile(file: string, what = 'password file'): string {
  const text = readSecretFile(file, what);
  const nl = text.indexOf('\n');
  const line = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
  if (line === '') throw new CliError(`${what} ${file} is empty`, 1, 'EMPTY_PASSWORD');
  return line;
}

export function readWriterKeyFile(file: string): WriterKeys {
  return parseWriterKey(readSecretFile(file, 'writer key file'));
}

/** Reads a line from the terminal without echo (raw mode). */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise<string>((resolve, reject) => {
    process.stderr.write(prompt);
    let value = '';
    const finish = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      if (text.startsWith('\x1b')) return; // arrow keys and other escape sequences
      for (const ch of text) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\x03') return finish(new CliError('interrupted', 1, 'INTERRUPTED'));
        if (ch === '\x04') {
          if (value === '') return finish(new CliError('no password entered', 1, 'NO_PASSWORD'));
          continue;
        }
        if (ch === '\x7f' || ch === '\b') {
          value = [...value].slice(0, -1).join('');
          continue;
        }
        if (ch === '\x15') {
          value = '';
          continue;
        }
        if (ch < ' ') continue;
        value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

function stdinIsTty(): boolean {
  return process.stdin.isTTY === true && typeof process.stdin.setRawMode === 'function';
}

/** Resolves credentials lazily, once, from options, environment or the terminal. */
export class CredentialResolver {
  private password: string | undefined;

  constructor(
    private readonly sources: CredentialSources,
    private readonly env: Env,
  ) {}

  private configuredPassword(): string | undefined {
    if (this.password !== undefined) return this.password;
    if (this.sources.passwordFile !== undefined) {
      this.password = readPasswordFile(this.sources.passwordFile);
    } else {
      const fromEnv = this.env.VAULTLINE_PASSWORD;
      if (fromEnv !== undefined && fromEnv !== '') this.password = fromEnv;
    }
    return this.password;
  }

  private configuredWriterKey(): WriterKeys | undefined {
    if (this.sources.writerKeyFile !== undefined) return readWriterKeyFile(this.sources.writerKeyFile);
    const fromEnv = this.env.VAULTLINE_WRITER_KEY;
    if (fromEnv !== undefined && fromEnv.trim() !== '') return parseWriterKey(fromEnv);
    return undefined;
  }

  /** The password if one is given (or can be prompted for); else the writer key; else an error. */
  async credentials(): Promise<Credentials> {
    const password = this.configuredPassword();
    if (password !== undefined) return { password };
    const writerKey = this.configuredWriterKey();
    if (writerKey) return { writerKey };
    return { password: await this.requirePassword() };
  }

  /** The password only (init, key management): from file, env or a prompt. */
  async requirePassword(confirm = false): Promise<string> {
    const configured = this.configuredPassword();
    if (configured !== undefined) return configured;
    if (!stdinIsTty()) throw new CliError(NO_PASSWORD, 1, 'NO_PASSWORD');
    this.password = await promptPassword('repository password', confirm);
    return this.password;
  }
}

/** Prompts (twice when `confirm`) and compares. */
export async function promptPassword(what: string, confirm: boolean): Promise<string> {
  const first = await promptHidden(`enter ${what}: `);
  if (first === '') throw new CliError('empty password', 1, 'NO_PASSWORD');
  if (confirm) {
    const second = await promptHidden(`enter ${what} again: `);
    if (second !== first) throw new CliError('passwords do not match', 1, 'PASSWORD_MISMATCH');
  }
  return first;
}

/** A new password for `key add` / `key passwd`: from `--new-password-file` or a prompt. */
export async function newPassword(file: string | undefined): Promise<string> {
  if (file !== undefined) return readPasswordFile(file, 'new password file');
  if (!stdinIsTty()) throw new CliError('no new password: use --new-password-file', 1, 'NO_PASSWORD');
  return promptPassword('new password', true);
}

function envInt(env: Env, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw usageError(`${name} must be a whole number ≥ ${min}`);
  }
  return Number(raw);
}

/**
 * Argon2 cost overrides for new key files, from VAULTLINE_KDF_MEMORY_KIB and VAULTLINE_KDF_PASSES:
 * a knob for tests and low-memory machines (the defaults are 64 MiB and 3 passes).
 */
export function kdfFromEnv(env: Env): KdfOverrides | undefined {
  const memory = envInt(env, 'VAULTLINE_KDF_MEMORY_KIB', 8);
  const passes = envInt(env, 'VAULTLINE_KDF_PASSES', 1);
  if (memory === undefined && passes === undefined) return undefined;
  const kdf: KdfOverrides = {};
  if (memory !== undefined) kdf.memory = memory;
  if (passes !== undefined) kdf.passes = passes;
  return kdf;
}
