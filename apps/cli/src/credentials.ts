/**
 * Credentials: the repository password and the writer key. Nothing here ever prints a secret;
 * error messages name files, commands' exit statuses and variables only.
 *
 * Where the password comes from, first match wins (restic's order):
 *   1. `--password-file <file>` or `--password-command <cmd>` (both at once: usage error)
 *   2. VAULTLINE_PASSWORD_FILE or VAULTLINE_PASSWORD_COMMAND (both at once: usage error)
 *   3. VAULTLINE_PASSWORD
 *   4. the writer key (`--writer-key-file`, VAULTLINE_WRITER_KEY), for commands that work with it
 *   5. a prompt, when stdin is a terminal
 * A file gives its first line; a command runs through `sh -c` and gives the first line of its
 * stdout (its stderr and stdin stay the terminal's, so it can ask for a passphrase itself).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseWriterKey, type Credentials, type KdfParams, type WriterKeys } from '@vaultline/engine';
import { CliError, interrupted, usageError } from './errors';

export type Env = Record<string, string | undefined>;

export type KdfOverrides = Partial<Omit<KdfParams, 'salt' | 'algorithm'>>;

export interface CredentialSources {
  passwordFile?: string;
  passwordCommand?: string;
  writerKeyFile?: string;
}

export const NO_PASSWORD =
  'no password: use --password-file, --password-command, VAULTLINE_PASSWORD_FILE, VAULTLINE_PASSWORD_COMMAND or VAULTLINE_PASSWORD';

/** A password source that was configured: a file, a command or the value itself. */
export type PasswordSource =
  | { kind: 'file'; file: string; origin: string }
  | { kind: 'command'; command: string; origin: string }
  | { kind: 'value'; value: string; origin: string };

const set = (v: string | undefined): v is string => v !== undefined && v !== '';

/** Picks the configured password source by the precedence above; conflicts are usage errors. */
export function passwordSource(sources: CredentialSources, env: Env): PasswordSource | undefined {
  if (set(sources.passwordFile) && set(sources.passwordCommand)) {
    throw usageError('--password-file and --password-command are mutually exclusive');
  }
  if (set(sources.passwordFile))
    return { kind: 'file', file: sources.passwordFile, origin: '--password-file' };
  if (set(sources.passwordCommand)) {
    return { kind: 'command', command: sources.passwordCommand, origin: '--password-command' };
  }
  const file = env.VAULTLINE_PASSWORD_FILE;
  const command = env.VAULTLINE_PASSWORD_COMMAND;
  if (set(file) && set(command)) {
    throw usageError('VAULTLINE_PASSWORD_FILE and VAULTLINE_PASSWORD_COMMAND are mutually exclusive');
  }
  if (set(file)) return { kind: 'file', file, origin: 'VAULTLINE_PASSWORD_FILE' };
  if (set(command)) return { kind: 'command', command, origin: 'VAULTLINE_PASSWORD_COMMAND' };
  if (set(env.VAULTLINE_PASSWORD)) {
    return { kind: 'value', value: env.VAULTLINE_PASSWORD, origin: 'VAULTLINE_PASSWORD' };
  }
  return undefined;
}

const COMMAND_OUTPUT_LIMIT = 64 * 1024;

/** The first line of what `sh -c <command>` prints; failure or no output is an error naming `origin`. */
export function runPasswordCommand(command: string, origin: string, signal?: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { stdio: ['inherit', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= COMMAND_OUTPUT_LIMIT) chunks.push(chunk);
    });
    child.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(
        new CliError(`${origin}: cannot run sh: ${err.message}`, 1, 'PASSWORD_COMMAND_FAILED', {
          cause: err,
        }),
      );
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return reject(interrupted());
      // The output is never part of a message: it may be (part of) the password.
      if (code !== 0) {
        const how = sig ? `was killed by ${sig}` : `exited with status ${code}`;
        return reject(new CliError(`${origin}: the password command ${how}`, 1, 'PASSWORD_COMMAND_FAILED'));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const nl = text.indexOf('\n');
      const line = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
      if (line === '') {
        return reject(
          new CliError(`${origin}: the password command printed no password`, 1, 'EMPTY_PASSWORD'),
        );
      }
      resolve(line);
    });
  });
}

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
        if (ch === '\x03') return finish(interrupted());
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
    private readonly signal?: AbortSignal,
  ) {}

  /** Checks the sources for conflicts without reading any (usage errors come first). */
  validate(): void {
    passwordSource(this.sources, this.env);
  }

  private async configuredPassword(): Promise<string | undefined> {
    if (this.password !== undefined) return this.password;
    const source = passwordSource(this.sources, this.env);
    if (!source) return undefined;
    if (source.kind === 'file') this.password = readPasswordFile(source.file);
    else if (source.kind === 'command') {
      this.password = await runPasswordCommand(source.command, source.origin, this.signal);
    } else this.password = source.value;
    return this.password;
  }

  private configuredWriterKey(): WriterKeys | undefined {
    if (this.sources.writerKeyFile !== undefined) return readWriterKeyFile(this.sources.writerKeyFile);
    const fromEnv = this.env.VAULTLINE_WRITER_KEY;
    if (fromEnv === undefined || fromEnv.trim() === '') return undefined;
    return parseWriterKey(fromEnv);
  }

  /** The password if one is given (or can be prompted for); else the writer key; else an error. */
  async credentials(): Promise<Credentials> {
    const password = await this.configuredPassword();
    if (password !== undefined) return { password };
    const writerKey = this.configuredWriterKey();
    if (writerKey) return { writerKey };
    return { password: await this.requirePassword() };
  }

  /** The password only (init, key management): from a file, a command, env or a prompt. */
  async requirePassword(confirm = false): Promise<string> {
    const configured = await this.configuredPassword();
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
