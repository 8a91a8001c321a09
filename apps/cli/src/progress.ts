/**
 * The one updating progress line of backup and restore on a terminal: percent, bytes done/total,
 * rate (smoothed), ETA, files done/total and the file being processed, fitted to the terminal
 * width. `formatProgress` is pure; `ProgressLine` adds the smoothing and the throttle.
 */
import type { Progress } from '@vaultline/engine';
import { humanSize } from './output';

export interface ProgressView {
  label: string;
  phase: Progress['phase'];
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second, smoothed; undefined until known. */
  rate?: number;
  /** Relative path of the file being processed. */
  current?: string;
}

/** `0:07`, `12:34`, `1:02:03`. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** `12.3 MiB/s` (always MiB/s, so the column does not jump between units). */
export function rateText(bytesPerSecond: number): string {
  return `${(bytesPerSecond / (1024 * 1024)).toFixed(1)} MiB/s`;
}

const chars = (s: string): string[] => [...s];

/** Keeps the end of a path (the file name) and marks the cut with `…`. */
export function truncateLeft(text: string, width: number): string {
  const c = chars(text);
  if (c.length <= width) return text;
  if (width <= 1) return width === 1 ? '…' : '';
  return '…' + c.slice(c.length - (width - 1)).join('');
}

/** The line, at most `width - 1` characters (the last column would wrap on some terminals). */
export function formatProgress(v: ProgressView, width: number): string {
  const max = Math.max(10, width) - 1;
  let head: string;
  if (v.phase === 'scan') {
    head = `${v.label}: scanning… ${v.filesTotal} files, ${humanSize(v.bytesTotal)}`;
  } else {
    const pct = v.bytesTotal > 0 ? Math.min(100, Math.floor((v.bytesDone / v.bytesTotal) * 100)) : 0;
    const rate = v.rate !== undefined && v.rate > 0 ? v.rate : undefined;
    const eta =
      rate !== undefined && v.bytesTotal > v.bytesDone ? clock((v.bytesTotal - v.bytesDone) / rate) : '-:--';
    head =
      `${v.label} ${String(pct).padStart(3)}%  ${humanSize(v.bytesDone)} / ${humanSize(v.bytesTotal)}  ` +
      `${rate !== undefined ? rateText(rate) : '- MiB/s'}  ETA ${eta}  ${v.filesDone}/${v.filesTotal} files`;
  }
  const headChars = chars(head);
  if (headChars.length > max) return headChars.slice(0, max - 1).join('') + '…';
  if (v.current === undefined || v.current === '' || v.phase === 'scan') return head;
  const room = max - headChars.length - 2;
  if (room < 8) return head;
  return `${head}  ${truncateLeft(v.current, room)}`;
}

/** An exponentially weighted rate: recent seconds count most (time constant `tauMs`). */
export class RateMeter {
  private last: { t: number; bytes: number } | undefined;
  private value: number | undefined;

  constructor(private readonly tauMs = 3000) {}

  sample(bytes: number, now: number): number | undefined {
    if (!this.last) {
      this.last = { t: now, bytes };
      return undefined;
    }
    const dt = now - this.last.t;
    if (dt <= 0) return this.value;
    const instant = (Math.max(0, bytes - this.last.bytes) * 1000) / dt;
    const alpha = 1 - Math.exp(-dt / this.tauMs);
    this.value = this.value === undefined ? instant : this.value + alpha * (instant - this.value);
    this.last = { t: now, bytes };
    return this.value;
  }
}

export const PROGRESS_INTERVAL_MS = 250;

/** Turns Progress callbacks into at most ~4 writes a second of one line; `done` clears it. */
export class ProgressLine {
  private readonly meter = new RateMeter();
  private lastWrite = -Infinity;
  private rate: number | undefined;

  constructor(
    private readonly label: string,
    private readonly write: (line: string) => void,
    private readonly clear: () => void,
    private readonly width: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  update(p: Progress): void {
    if (p.phase === 'done') {
      this.clear();
      return;
    }
    const t = this.now();
    if (p.phase !== 'scan') this.rate = this.meter.sample(p.bytesDone, t) ?? this.rate;
    if (t - this.lastWrite < PROGRESS_INTERVAL_MS) return;
    this.lastWrite = t;
    // The engine's Progress gains `current` (the file being processed); shown when present.
    const current = (p as Progress & { current?: string }).current;
    const view: ProgressView = { label: this.label, ...p };
    if (this.rate !== undefined) view.rate = this.rate;
    if (current !== undefined) view.current = current;
    this.write(formatProgress(view, this.width()));
  }
}
