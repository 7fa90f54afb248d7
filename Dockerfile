# The ScopeLock service with what its citizens need: Node and the pinned Claude Code CLI.
# Render builds it from render.yaml; the CLI's version must equal citizens/claude-code-version.txt
# (tests/test_render_yaml.py checks it, and the build fails if the installed CLI differs).
# The CLI's package asks for Node >= 22 (Debian's nodejs is older): take Node from its image.
FROM node:22-bookworm-slim AS node

FROM python:3.11-slim

ARG CLAUDE_CODE_VERSION=2.1.332

COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
    && npm cache clean --force \
    && claude --version | grep -q "^${CLAUDE_CODE_VERSION} "

WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
    && claude --version | grep -q "^$(cat citizens/claude-code-version.txt) "

# The service, and so every citizen's CLI, runs as a user without root rights (CONTRACT §7 v3).
# It may write only its home (the CLI's ~/.claude), its data folder and Daniel's projects/
# folder: the citizens' CLAUDE.md and .claude/ stay root's, as shipped, whatever a session tries.
RUN useradd --create-home --uid 10001 scopelock \
    && mkdir -p citizens/daniel/projects /data \
    && chown scopelock citizens/daniel/projects /data
USER scopelock

# It runs in its data folder, so without DATABASE_URL the default ./scopelock.db (and SQLite's
# -wal beside it) can be created; /app stays root's, with the citizens it is pointed to.
ENV CITIZENS_DIR=/app/citizens
WORKDIR /data

# The CLI keeps its conversations in ~/.claude, which a deploy loses: the database holds them
# between sessions (citizens/transcripts.py). `scopelock worker` runs them (render.yaml).
CMD ["scopelock", "run"]
