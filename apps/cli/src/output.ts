/** Human and machine output: formatting helpers, the stdout/stderr writer and the progress line. */
import type { NodeType, Progress } from '@vaultline/engine';
import { ProgressLine } from './progress';

const UNITS = ['KiB', 'MiB', 'GiB'] as const;

/** `512 B`, `1.5 KiB`, `12.0 MiB`, `3.2 GiB`. */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  let value = bytes;
  let unit: string = 'B';
  for (const u of UNITS) {
    value /= 1024;
    unit = u;
    // Round first so 1023.95 KiB becomes 1.0 MiB rather than 1024.0 KiB.
    if (Math.round(value * 10) / 10 < 1024) break;
  }
  return `${value.toFixed(1)} ${unit}`;
}

/** ISO 8601 in UTC without milliseconds: `2024-05-01T12:00:00Z`. */
export function isoTime(time: string | number | Date): string {
  const d = time instanceof Date ? time : new Date(time);
  if (Number.isNaN(d.getTime())) return String(time);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A tree node's mtime (nanoseconds since the epoch, decimal string) as ISO without ms. */
export function isoFromNs(ns: string): string {
  try {
    return isoTime(Number(BigInt(ns) / 1_000_000n));
  } catch {
    return ns;
  }
}

export function durationText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `drwxr-xr-x`, `-rw-r--r--`, `lrwxrwxrwx`, with setuid/setgid/sticky as s/S and t/T. */
const KIND: Record<NodeType, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  chardev: 'c',
  blockdev: 'b',
  socket: 's',
};

export function modeString(type: NodeType, mode: number): string {
  const kind = KIND[type];
  const bit = (mask: number, ch: string): string => (mode & mask ? ch : '-');
  const special = (exec: boolean, set: boolean, lower: string): string =>
    set ? (exec ? lower : lower.toUpperCase()) : exec ? 'x' : '-';
  return (
    kind +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    special((mode & 0o100) !== 0, (mode & 0o4000) !== 0, 's') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    special((mode & 0o010) !== 0, (mode & 0o2000) !== 0, 's') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    special((mode & 0o001) !== 0, (mode & 0o1000) !== 0, 't')
  );
}

export type Align = 'left' | 'right';

/** A plain-text table: header row, columns separated by two spaces, trailing spaces trimmed. */
export function table(headers: string[], rows: string[][], align: Align[] = []): string[] {
  const widths = headers.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const render = (cells: string[]): string =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(Math.max(0, (widths[i] ?? 0) - [...cell].length));
        return align[i] === 'right' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [render(headers), ...rows.map(render)];
}

export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/**
 * Where a command's output goes. In `--json` mode the command emits exactly one document and
 * nothing else reaches stdout; `--quiet` drops informational lines and progress.
 */
export class Output {
  private jsonWritten = false;
  private progressShown = false;

  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
    private readonly streams: Streams = { stdout: process.stdout, stderr: process.stderr },
  ) {}

  /** Primary human output (tables, listings, ids): printed unless `--json`. */
  print(text = ''): void {
    if (this.json) return;
    this.clearProgress();
    this.streams.stdout.write(text + '\n');
  }

  /** Informational human output (summaries): printed unless `--json` or `--quiet`. */
  info(text = ''): void {
    if (this.quiet) return;
    this.print(text);
  }

  /** The one JSON document of this command. */
  emitJson(value: unknown): void {
    if (!this.json || this.jsonWritten) return;
    this.jsonWritten = true;
    this.streams.stdout.write(JSON.stringify(value) + '\n');
  }

  get jsonEmitted(): boolean {
    return this.jsonWritten;
  }

  /** A warning on stderr (human mode only: in `--json` mode the document carries it). */
  warn(text: string): void {
    if (this.json) return;
    this.clearProgress();
    this.streams.stderr.write(`vaultline: warning: ${text}\n`);
  }

  /** The single failure line. */
  error(text: string): void {
    this.clearProgress();
    this.streams.stderr.write(`vaultline: ${text}\n`);
  }

  /** Extra diagnostics (VAULTLINE_DEBUG=1). */
  debug(text: string): void {
    this.streams.stderr.write(text.endsWith('\n') ? text : text + '\n');
  }

  get progressEnabled(): boolean {
    return !this.json && !this.quiet && this.streams.stderr.isTTY === true;
  }

  /** A progress callback that keeps one updating line on stderr, or undefined when disabled. */
  progress(label: string): ((p: Progress) => void) | undefined {
    if (!this.progressEnabled) return undefined;
    const line = new ProgressLine(
      label,
      (text) => {
        this.streams.stderr.write(`\r\x1b[2K${text}`);
        this.progressShown = true;
      },
      () => this.clearProgress(),
      () => {
        const columns = this.streams.stderr.columns ?? 0;
        return columns >= 20 ? columns : 80;
      },
    );
    return (p: Progress) => line.update(p);
  }

  clearProgress(): void {
    if (!this.progressShown) return;
    this.progressShown = false;
    this.streams.stderr.write('\r\x1b[2K');
  }
}
