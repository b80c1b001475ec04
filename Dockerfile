# inferledger runtime image: one image, the command picks the process (`api`, `sidecar`, `migrate`).
# The TypeScript sources run through tsx (a runtime dependency), so there is no build stage.
FROM node:20-bookworm-slim

# onnxruntime-node's postinstall would fetch CUDA binaries from outside npm: skip (CPU build).
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    INFERLEDGER_DATA_DIR=/app/data

WORKDIR /app

# Dependencies first, so source edits reuse this layer. devDependencies (typescript, vitest)
# are not needed at run time (protobufjs is a runtime dependency: the OTLP receiver decodes with it).
# `npm install` is the fallback while package-lock.json lacks the entries of chdb's optional
# binaries for other platforms (npm ci refuses such a lock); it installs the same locked
# versions. .ci/run checks that this is the only difference.
COPY package.json package-lock.json .npmrc ./
RUN (npm ci --omit=dev --no-audit --no-fund \
     || npm install --omit=dev --no-save --no-audit --no-fund) \
    && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY models ./models

# The data dir holds the disk spool (spans/samples ClickHouse could not take yet): mount a volume.
# Created here and owned by `node`, so a fresh named volume inherits that ownership.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]

EXPOSE 8080 8081
ENTRYPOINT ["node", "bin/inferledger.js"]
CMD ["api"]
