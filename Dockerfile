# syntax=docker/dockerfile:1
# One image for all five services; the service is chosen at run time:
#   docker run IMAGE projects                                    # sajtmaskin serve projects
#   docker run --entrypoint sajtmaskin IMAGE db migrate          # one-off jobs (deploy/README.md)
# See deploy/README.md for the environment each service needs.

# Builder: the locked dependencies into /app/.venv with uv (the Makefile's version).
FROM python:3.11-slim AS builder

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock changes. Deployments
# install neither the `dev` group (test and lint tools) nor `local` (the embedded servers of
# `sajtmaskin dev`).
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group local --no-install-project

# Then the project itself. It stays an editable install of /app: `sajtmaskin db migrate` finds
# supabase/ beside shared/, which a wheel in site-packages would not have. hatchling reads the
# README (pyproject's `readme`) to build it.
COPY README.md ./
COPY shared ./shared
COPY services ./services
COPY supabase ./supabase
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group local \
    && python -m compileall -q shared services

# Runtime: the interpreter, the environment and the code; no uv, no build tools, no tests.
FROM python:3.11-slim AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The code is root's and read-only to the service's user.
RUN groupadd --system --gid 10001 sajtmaskin \
    && useradd --system --uid 10001 --gid sajtmaskin --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin sajtmaskin

WORKDIR /app
COPY --from=builder /app/.venv ./.venv
COPY --from=builder /app/shared ./shared
COPY --from=builder /app/services ./services
COPY --from=builder /app/supabase ./supabase

USER sajtmaskin:sajtmaskin
EXPOSE 8000

# Liveness only (the process answers); /ready, which also asks the database and Redis, is for
# the platform's readiness probe. No curl in the image: the standard library asks.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]

# WEB_CONCURRENCY processes (default 1) of the service named by the container's command.
ENTRYPOINT ["sajtmaskin", "serve", "--host", "0.0.0.0", "--port", "8000"]
