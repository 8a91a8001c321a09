#!/bin/sh
# Role dispatcher of the Vaultline image (one image, role chosen by command):
#   api | worker | report          the long-running processes
#   migrate [migrations-dir]       the one-off job that applies prisma/migrations (once per release)
#   db-status | db-resolve <…>     the catalog's migration status; record a failed migration resolved
#   create-token <name>            prints a new API token once (only its SHA-256 is stored)
#   vaultline <args…>              the `vaultline` command (engine operations on a repository)
#   healthcheck                    GET /health of whichever listener this container runs
# Each role `exec`s node, so the process receives SIGTERM directly (tini, PID 1, forwards it).
set -eu

usage() {
  echo "usage: docker run vaultline api|worker|report|migrate|db-status|db-resolve <args>|create-token <name>|vaultline <args>|healthcheck" >&2
}

if [ "$#" -eq 0 ]; then
  usage
  exit 2
fi

role="$1"
shift

case "$role" in
  api) exec node dist/apps/api/src/main.js "$@" ;;
  # Workers and the command run the engine, whose heap is metadata (trees, manifests): a small young
  # generation keeps V8 from growing it by ~100 MiB between collections, as the CLI launcher does.
  worker) exec node --max-semi-space-size=4 dist/apps/worker/src/main.js "$@" ;;
  report) exec node dist/apps/report/src/main.js "$@" ;;
  migrate) exec node dist/libs/db/src/migrate-main.js "$@" ;;
  db-status) exec node dist/libs/db/src/migrations-main.js status "$@" ;;
  db-resolve) exec node dist/libs/db/src/migrations-main.js resolve "$@" ;;
  create-token)
    if [ "$#" -lt 1 ]; then
      echo "create-token: give the token a name, e.g. create-token admin" >&2
      exit 2
    fi
    exec node dist/apps/api/src/create-token.js "$@"
    ;;
  vaultline | cli) exec node --max-semi-space-size=4 apps/cli/bin/vaultline.js "$@" ;;
  healthcheck) exec node deploy/healthcheck.js "$@" ;;
  -h | --help | help)
    usage
    exit 0
    ;;
  *)
    echo "unknown role '$role'" >&2
    usage
    exit 2
    ;;
esac
