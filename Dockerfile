# One image for every Python service of votemon. The command picks the service, the same
# arguments the manifests pass:   votemon front | grpc-server | consumer | results
#
# Build stage: uv (pinned, hash-checked) installs the hash-locked runtime dependencies
# (requirements-runtime.lock, wheels only: no compiler anywhere) into /opt/venv, then the project
# itself without dependencies, built by the hash-locked build backend (no unchecked download).
# Final stage: the same slim base, the venv, a non-root user; nothing is written at run time
# (works with readOnlyRootFilesystem: bytecode is compiled at build time).
# PYTHON_IMAGE is production's digest-pinned base; the local cluster builds this same file on a
# Debian bookworm python3.11 base made here (cluster/image.sh).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv
WORKDIR /src
COPY scripts/delivery/uv-requirements.txt scripts/delivery/build-backend-requirements.txt /tmp/
RUN pip install --no-cache-dir --require-hashes -r /tmp/uv-requirements.txt -r /tmp/build-backend-requirements.txt \
 && uv venv --python /usr/local/bin/python3.11 /opt/venv
COPY requirements-runtime.lock ./
RUN uv pip sync --require-hashes --no-build requirements-runtime.lock
COPY pyproject.toml ./
COPY proto ./proto
COPY src ./src
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheel . \
 && uv pip install --no-deps /tmp/wheel/*.whl \
 && /opt/venv/bin/python -c "import votemon"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="votemon" \
      org.opencontainers.image.description="votemon services: front, grpc-server, consumer, results"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A regular (not --system) account: uid 10001 is above the system range, and --system warns.
RUN groupadd --gid 10001 votemon \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin votemon
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
# front 8080, results 8081, grpc-server 50051 (metrics 9101), consumer metrics/health 9102
EXPOSE 8080 8081 50051 9101 9102
# Which build this is (CI: sha-<commit>), reported by each service's /healthz so a rollout can be
# seen reaching its pods. Last, so that a new value reuses every layer above.
ARG VOTEMON_VERSION=dev
ENV VOTEMON_VERSION=${VOTEMON_VERSION}
# The final image starts as its user and names its build. This RUN also keys the layer cache of
# buildah 1.28 (Debian's, cluster/image.sh) on VOTEMON_VERSION, which it ignores for an ENV alone.
RUN votemon --help >/dev/null && test -n "$VOTEMON_VERSION"
ENTRYPOINT ["votemon"]
CMD ["front"]
