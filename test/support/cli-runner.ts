/**
 * Running the `vaultline` command as a child process, for the CLI tests: where it lives, the
 * environment it gets (no inherited VAULTLINE_* setting, cheap Argon2) and what a run returns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../..');
export const BIN = path.join(ROOT, 'apps/cli/bin/vaultline.js');
export const NODE = existsSync(path.join(ROOT, 'node_modules/.bin/node'))
  ? path.join(ROOT, 'node_modules/.bin/node')
  : process.execPath;

export type Env = Record<string, string | undefined>;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The inherited environment without any VAULTLINE_* setting, plus cheap Argon2. */
export function baseEnv(): Env {
  const env: Env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VAULTLINE_')) env[k] = v;
  env.VAULTLINE_KDF_MEMORY_KIB = '1024';
  env.VAULTLINE_KDF_PASSES = '1';
  return env;
}

export interface RunOptions {
  /** Bytes for stdin (otherwise stdin is closed). */
  input?: Buffer;
  onSpawn?: (child: ChildProcess) => void;
}

export function runFile(file: string, args: string[], env: Env, opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdin = opts.input ? 'pipe' : 'ignore';
    const child = spawn(file, args, { cwd: ROOT, env, stdio: [stdin, 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (opts.input && child.stdin) {
      child.stdin.on('error', () => undefined); // a command that never reads stdin
      child.stdin.end(opts.input);
    }
  });
}

/** Runs the CLI's JavaScript entry on the project's Node. */
export function runCli(args: string[], env: Env, opts: RunOptions = {}): Promise<RunResult> {
  return runFile(NODE, [BIN, ...args], env, opts);
}

export function describeRun(args: string[], r: RunResult): string {
  return `vaultline ${args.join(' ')} → ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}
