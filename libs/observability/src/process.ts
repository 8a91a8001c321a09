/**
 * The lifecycle every long-running fleet process shares (worker, report service): start, then on
 * SIGTERM/SIGINT close gracefully and exit 0 (1 if closing failed); a start that fails (invalid
 * config, unreachable dependency) prints one line and exits 1.
 *
 * Not Nest's enableShutdownHooks: it re-raises the signal after closing, so a graceful stop would
 * not exit 0 — and orchestrators read a non-zero exit during a rollout as a crash.
 */
export function runUntilStopped(name: string, start: () => Promise<{ close(): Promise<unknown> }>): void {
  start().then(
    (app) => {
      let closing = false;
      const stop = (signal: string): void => {
        if (closing) return;
        closing = true;
        app.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`${name}: error while stopping on ${signal}: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    },
    (err: unknown) => {
      process.stderr.write(`${name}: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
