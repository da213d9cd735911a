# CodeMem: `docker build -t codemem .`, then `docker compose up` (PostgreSQL, the bot, two workers) or, on
# one machine with no database server, `docker run --env-file .env -p 3000:3000 codemem`.
# The scripted demo, with no tokens at all:
#   docker run -it --rm --security-opt seccomp=unconfined -e CODEMEM_MODEL=replay:bot/demo/save_attachments.yaml \
#     codemem codemem chat
FROM python:3.11-slim

# bubblewrap jails the sandbox's workers (no network, no host environment, read-only system); util-linux's
# setpriv drops each sandbox worker to its own unprivileged uid. libpq is not needed: psycopg[binary].
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap util-linux \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 codemem
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY integrations ./integrations
COPY sandbox ./sandbox
COPY skills_db ./skills_db
# Every extra: Teams, PostgreSQL, OTLP export and both model providers (README: "Install").
RUN pip install --no-cache-dir ".[all]"

USER codemem
ENV CODEMEM_DATA_DIR=/home/codemem/data CODEMEM_HOST=0.0.0.0 CODEMEM_PORT=3000 CODEMEM_LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz')"
# `codemem worker` for the workers (same image); `codemem doctor` to check a deployment. Without chat settings
# the bot keeps running and /readyz says what to set, rather than exiting into its restart policy's loop.
CMD ["codemem", "serve", "--keep-running"]
