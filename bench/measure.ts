/**
 * Running a tool as a child process and measuring it: wall time, and peak RSS with GNU time
 * (`/usr/bin/time -f %M`) or, when that is absent, by polling /proc/<pid>/status every 20 ms.
 * Also: repository size on disk, PATH lookup and machine information.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

export type RssMethod = 'gnu-time' | 'proc-poll';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  rss: RssMethod;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  wallMs: number;
  /** Peak resident set size in KiB (null when it could not be measured). */
  peakRssKiB: number | null;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';
const POLL_MS = 20;
const KEEP_OUTPUT = 256 * 1024;

/** Keeps the first and last part of a long output. */
class Capture {
  private head = '';
  private tail = '';
  private dropped = 0;

  add(chunk: Buffer): void {
    const s = chunk.toString('utf8');
    if (this.head.length < KEEP_OUTPUT) {
      this.head += s;
      return;
    }
    this.tail += s;
    if (this.tail.length > 2 * KEEP_OUTPUT) {
      this.dropped += this.tail.length - KEEP_OUTPUT;
      this.tail = this.tail.slice(-KEEP_OUTPUT);
    }
  }

  text(): string {
    return this.dropped
      ? `${this.head}\n… (${this.dropped} characters dropped) …\n${this.tail}`
      : this.head + this.tail;
  }
}

export function which(cmd: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isDirectory()) continue;
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** GNU time is usable when /usr/bin/time exists and understands `-f %M -o file`. */
export function gnuTimeAvailable(): boolean {
  try {
    accessSync(GNU_TIME, constants.X_OK);
  } catch {
    return false;
  }
  const r = spawnSync(GNU_TIME, ['--version'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes('GNU');
}

function readHwmKiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status) ?? /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : null;
  } catch {
    return null; // gone already
  }
}

export async function runMeasured(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const command = [cmd, ...args].join(' ');
  let timeFile: string | null = null;
  let file = cmd;
  let argv = args;
  if (opts.rss === 'gnu-time') {
    const dir = mkdtempSync(join(tmpdir(), 'bench-time-'));
    timeFile = join(dir, 'rss');
    file = GNU_TIME;
    argv = ['-f', '%M', '-o', timeFile, cmd, ...args];
  }
  const out = new Capture();
  const err = new Capture();
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => out.add(c));
  child.stderr.on('data', (c: Buffer) => err.add(c));

  let polled: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  if (opts.rss === 'proc-poll') {
    const sample = (): void => {
      if (child.pid === undefined) return;
      const v = readHwmKiB(child.pid);
      if (v !== null && (polled === null || v > polled)) polled = v;
    };
    sample();
    timer = setInterval(sample, POLL_MS);
  }

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (res, rej) => {
      child.on('error', rej);
      child.on('close', (c, s) => res({ code: c, signal: s }));
    },
  );
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (timer) clearInterval(timer);

  let peakRssKiB: number | null = polled;
  if (timeFile) {
    try {
      // "Command exited with non-zero status N" may precede the number.
      const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
      const v = Number(lines[lines.length - 1]);
      peakRssKiB = Number.isFinite(v) ? v : null;
    } catch {
      peakRssKiB = null;
    }
    rmSync(join(timeFile, '..'), { recursive: true, force: true });
  }
  return { command, code, signal, wallMs, peakRssKiB, stdout: out.text(), stderr: err.text() };
}

/** Sum of the sizes of all regular files under `dir` (apparent size, like `du -sb` for files). */
export function dirBytes(dir: string): number {
  let total = 0;
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs)) {
      const p = join(abs, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) total += st.size;
    }
  };
  walk(dir);
  return total;
}

/** Flushes dirty pages (restored or changed files) so one operation's writeback does not slow the next. */
export function syncDisks(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  logicalCpus: number;
  ramGiB: number;
  kernel: string;
  node: string;
  filesystem: string;
  restic: string | null;
  borg: string | null;
}

function firstLine(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? null;
}

/** Filesystem type and device holding `path`, from /proc/mounts (longest mount-point prefix). */
function filesystemOf(path: string): string {
  try {
    const abs = resolve(path);
    let best: { mnt: string; desc: string } | null = null;
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [dev, mnt, type] = line.split(' ');
      if (!dev || !mnt || !type) continue;
      const m = mnt.replace(/\\040/g, ' ');
      if (
        (abs === m || abs.startsWith(m.endsWith('/') ? m : `${m}/`)) &&
        (!best || m.length >= best.mnt.length)
      ) {
        best = { mnt: m, desc: `${type} (${dev} on ${m})` };
      }
    }
    return best?.desc ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineInfo(benchDir: string, restic: string | null, borg: string | null): MachineInfo {
  let cpu = cpus()[0]?.model ?? 'unknown';
  let logical = cpus().length;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
    logical = (info.match(/^processor\s*:/gm) ?? []).length || logical;
  } catch {
    // not Linux
  }
  return {
    cpu,
    cores: availableParallelism(),
    logicalCpus: logical,
    ramGiB: totalmem() / 1024 ** 3,
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    filesystem: filesystemOf(benchDir),
    restic: restic ? firstLine(restic, ['version']) : null,
    borg: borg ? firstLine(borg, ['--version']) : null,
  };
}
