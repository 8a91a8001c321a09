# syntax=docker/dockerfile:1
# One image for every role of the fleet (what runs in production is what was tested, and
# there is one thing to build, scan and pin): the command selects it —
#   api | worker | report | migrate | create-token <name> | vaultline <args> | healthcheck
# (deploy/docker-entrypoint.sh). Non-root (UID 10001), works with a read-only root filesystem:
# nothing is written outside /tmp and the mounted volumes.
#
#   docker build -t vaultline:dev .
#   docker run --rm --read-only --tmpfs /tmp -e DATABASE_URL=… vaultline:dev migrate

ARG NODE_IMAGE=node:24-trixie-slim

# ── build: install everything, generate the Prisma client, compile, then keep production deps ──
FROM ${NODE_IMAGE} AS build
# A C compiler: npm run build compiles the native helper (@vaultline/native, scripts/build-native.js)
# and fails without one. The slim image has none; the runtime image needs none (it only loads it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV CI=true \
    NX_DAEMON=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1
COPY . .
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
RUN npm run build \
    # the addon must load here, with this image's libc, or the image is not built
    && node -e "const n = require('./dist/libs/native/src/index.js'); if (!n.nativeAvailable()) { console.error(n.nativeLoadError()); process.exit(1); }" \
    && npm prune --omit=dev --no-audit --no-fund \
    # the Node 24 binary the lockfile brings for the toolchain: the runtime image has its own node
    && rm -rf node_modules/node-linux-* node_modules/.bin/node \
    # only what the processes run: compiled apps and libs (the native helper in dist/native), the
    # migrations, the workspace manifests (node_modules/@vaultline/* link to them) and the CLI's
    # launcher (apps/cli/bin)
    && rm -rf dist/test dist/bench dist/scripts \
    && find apps libs -mindepth 2 -maxdepth 2 ! -name package.json ! -name bin -exec rm -rf {} +

# ── runtime ──────────────────────────────────────────────────────────────────────────────────────
FROM ${NODE_IMAGE} AS runtime
# tini: PID 1 that forwards SIGTERM to node and reaps the children of command hooks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vaultline \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin vaultline \
    && mkdir -p /var/lib/vaultline/targets /var/lib/vaultline/restores /srv/services \
    && chown 10001:10001 /var/lib/vaultline/targets /var/lib/vaultline/restores

WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    HTTP_PORT=3000 \
    METRICS_PORT=9464 \
    VAULTLINE_DEFAULT_TARGET_DIR=/var/lib/vaultline/targets/default

# Owned by root and read-only for the process user: the image's code cannot be changed at run time.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# dist includes dist/native/vaultline_native.node, the native helper the restore loads.
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/libs ./libs
COPY --from=build /app/apps ./apps
COPY deploy/docker-entrypoint.sh deploy/healthcheck.js ./deploy/

USER 10001:10001
# api: HTTP API, /health and /metrics; worker and report: /health and /metrics only.
EXPOSE 3000 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "/app/deploy/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/deploy/docker-entrypoint.sh"]
CMD ["api"]
