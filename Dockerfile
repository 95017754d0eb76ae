# syntax=docker/dockerfile:1
# One image for every Python service of votemon. The command picks the service, the same
# arguments the manifests pass:   votemon front | grpc-server | consumer | results
#
# Build stage: uv (pinned, hash-checked) installs the hash-locked runtime dependencies
# (requirements-runtime.lock, wheels only: no compiler anywhere) into /opt/venv, then the project
# itself without dependencies. Final stage: the same slim base, the venv, a non-root user; nothing
# is written at run time (works with readOnlyRootFilesystem: bytecode is compiled at build time).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv
WORKDIR /src
COPY scripts/delivery/uv-requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/uv-requirements.txt \
 && uv venv --python /usr/local/bin/python3.11 /opt/venv
COPY requirements-runtime.lock ./
RUN uv pip sync --require-hashes --no-build requirements-runtime.lock
COPY pyproject.toml ./
COPY proto ./proto
COPY src ./src
RUN uv pip install --no-deps . \
 && /opt/venv/bin/python -c "import votemon"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="votemon" \
      org.opencontainers.image.description="votemon services: front, grpc-server, consumer, results"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 votemon \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin votemon
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
# front 8080, results 8081, grpc-server 50051 (metrics 9101), consumer metrics/health 9102
EXPOSE 8080 8081 50051 9101 9102
ENTRYPOINT ["votemon"]
CMD ["front"]
