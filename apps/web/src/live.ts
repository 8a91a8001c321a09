/**
 * Live events of a run or restore over Server-Sent Events (GET /v1/runs/:id/events,
 * /v1/restores/:id/events): the browser's EventSource sends the session cookie, same origin.
 * The event names and payloads are libs/contracts' EVENTS; the UI reads only the counters.
 */
import { useEffect, useState } from 'react';

export interface LiveProgress {
  phase: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface LiveState {
  /** Progress per `serviceId:targetId` (one entry for a restore). */
  progress: Record<string, LiveProgress>;
  /** Latest status by the stream: the `state` row first, then the events. */
  status: string | null;
  finished: boolean;
  events: { name: string; at: string; text: string }[];
}

const NAMES = [
  'run.started',
  'backup.started',
  'backup.progress',
  'backup.finished',
  'backup.failed',
  'run.finished',
  'restore.progress',
  'restore.finished',
  'restore.failed',
];

export function useLiveEvents(kind: 'runs' | 'restores', id: string | null): LiveState {
  const [state, setState] = useState<LiveState>({ progress: {}, status: null, finished: false, events: [] });
  useEffect(() => {
    if (!id) return;
    setState({ progress: {}, status: null, finished: false, events: [] });
    const source = new EventSource(`/v1/${kind}/${id}/events`, { withCredentials: true });
    let done = false;
    source.addEventListener('state', (e) => {
      const row = JSON.parse((e as MessageEvent<string>).data) as { status?: string };
      const finished = ['success', 'partial', 'failed'].includes(row.status ?? '');
      if (finished) done = true;
      setState((s) => ({ ...s, status: row.status ?? s.status, finished: s.finished || finished }));
    });
    for (const name of NAMES) {
      source.addEventListener(name, (e) => {
        const p = JSON.parse((e as MessageEvent<string>).data) as {
          at: string;
          serviceId?: string;
          targetId?: string;
          progress?: LiveProgress;
          status?: string;
          error?: { message: string };
          willRetry?: boolean;
        };
        const key = `${p.serviceId ?? ''}:${p.targetId ?? ''}`;
        const terminal =
          name === 'run.finished' ||
          name === 'restore.finished' ||
          (name === 'restore.failed' && !p.willRetry);
        if (terminal) done = true;
        setState((s) => ({
          progress: p.progress
            ? { ...s.progress, [key]: p.progress }
            : name === 'backup.finished' || name === 'restore.finished'
              ? { ...s.progress, [key]: completed(s.progress[key]) }
              : s.progress,
          status:
            name === 'run.finished'
              ? (p.status ?? 'finished')
              : name === 'restore.finished'
                ? 'success'
                : name === 'restore.failed' && !p.willRetry
                  ? 'failed'
                  : s.status === 'queued'
                    ? 'running'
                    : s.status,
          finished: s.finished || terminal,
          events: [...s.events.slice(-49), { name, at: p.at, text: p.error?.message ?? '' }],
        }));
      });
    }
    // The server ends the stream after the last event; EventSource would reconnect: stop it.
    source.onerror = () => {
      if (done) source.close();
    };
    return () => source.close();
  }, [kind, id]);
  return state;
}

function completed(p: LiveProgress | undefined): LiveProgress {
  const files = p?.filesTotal ?? 1;
  const bytes = p?.bytesTotal ?? 1;
  return { phase: 'done', filesDone: files, filesTotal: files, bytesDone: bytes, bytesTotal: bytes };
}
