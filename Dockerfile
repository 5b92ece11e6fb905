# Dinosaur Island images, from one Dockerfile:
#   docker build -t dinosaur-island .                                 the API (the default, last stage)
#   docker build --target trainer -t dinosaur-island-trainer .        + the training extras (keras, jax, ...)
#
# BASE_IMAGE is any Debian-based image. python:3.11-slim (the default) brings Python; a bare Debian (e.g. a
# debootstrap'd `localbase:bookworm`, as scripts/container-test.sh builds offline) gets Debian's python3 from apt.
# Optional: *.crt files in ./certs (git-ignored) are added to the trust store before pip runs, for networks whose
# HTTPS goes through a CA that a fresh image does not trust. Without ./certs the build needs nothing extra.
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------------------
# base: a Python >= 3.11 interpreter and the environment every stage shares.
FROM ${BASE_IMAGE} AS base
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# Only a base image without Python takes this branch. Debian packages are not version-pinned: a stable release's
# point updates replace old versions in the archive, so pins would break builds; the base image fixes the release.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version'

# ---------------------------------------------------------------------------------------------------------------
# builder: the locked runtime dependencies in a venv at /opt/venv (this layer changes only with the lock file).
FROM base AS builder
# venv support and the CA tools: already in python:*-slim; a bare Debian gets them from apt (not pinned: see above).
# hadolint ignore=DL3008
RUN if ! python3 -c 'import ensurepip' 2>/dev/null || ! command -v update-ca-certificates >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3-venv ca-certificates \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# `certs*` matches nothing when ./certs is absent, which both the classic builder and BuildKit accept.
COPY requirements-serve.lock certs* /tmp/build/
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN if ls /tmp/build/*.crt >/dev/null 2>&1; then \
        cp /tmp/build/*.crt /usr/local/share/ca-certificates/ \
        && update-ca-certificates; \
    fi \
    && python3 -m venv /opt/venv \
    && pip install --no-cache-dir --only-binary=:all: -r /tmp/build/requirements-serve.lock

# venv: the same venv without pip/setuptools and the bundled test suites, for the API image.
FROM builder AS venv
RUN pip uninstall --yes --quiet pip setuptools \
    && find /opt/venv/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
    && rm -rf /tmp/build

# ---------------------------------------------------------------------------------------------------------------
# api: the service. Runs as an unprivileged user; only app/, model_core/ and artifacts/ are copied in.
FROM base AS api
# One BLAS/Numba thread per worker process (more only oversubscribe a small box); the Numba cache lives in the image.
ENV OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NUMBA_NUM_THREADS=1 \
    NUMBA_CACHE_DIR=/var/cache/dinosaur-island/numba \
    PYTHONPATH=/srv/app \
    DINO_ARTIFACT_DIR=/srv/app/artifacts \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-log-init --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir -p "$NUMBA_CACHE_DIR" \
    && chown app:app "$NUMBA_CACHE_DIR"
COPY --from=venv /opt/venv /opt/venv
WORKDIR /srv/app
COPY app/ app/
COPY model_core/ model_core/
COPY artifacts/ artifacts/
# Readable whatever the umask of the checkout (only files that need it are touched: a chmod copies the file into
# the layer); bytecode compiled now, since the code is read-only at run time.
RUN find /srv/app \( -perm /go+w -o ! -perm -a+r -o \( -type d ! -perm -a+x \) \) -exec chmod a+rX,go-w {} + \
    && python -m compileall -q app model_core
USER 10001:10001
# Load every model as the runtime user: this compiles the poem engine's Numba kernels into NUMBA_CACHE_DIR (~15 s
# saved at each start) and fails the build when an artifact does not load.
RUN python -c "from app.registry import load_registry; from app.settings import Settings; \
r = load_registry(Settings()); print('models loaded in', r.load_seconds); raise SystemExit(r.errors or None)"
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
# Exec form, no shell: the launcher (app/__main__.py: uvicorn configured by HOST, PORT, WORKERS) is PID 1, so SIGTERM
# reaches it; in-flight requests finish (up to 30 s), the lifespan shutdown runs, and it exits 0.
CMD ["python", "-m", "app"]

# ---------------------------------------------------------------------------------------------------------------
# trainer (opt-in: --target trainer; docker-compose's `train` profile): the API's venv plus requirements.lock.
FROM builder AS trainer
ENV OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NUMBA_NUM_THREADS=1 \
    PYTHONPATH=/srv/app \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
COPY requirements.lock /tmp/build/
RUN pip install --no-cache-dir --only-binary=:all: -r /tmp/build/requirements.lock \
    && rm -rf /tmp/build \
    && groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-log-init --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
WORKDIR /srv/app
COPY model_core/ model_core/
RUN find /srv/app \( -perm /go+w -o ! -perm -a+r -o \( -type d ! -perm -a+x \) \) -exec chmod a+rX,go-w {} +
USER 10001:10001
CMD ["python", "-m", "model_core.train_names", "--help"]

# ---------------------------------------------------------------------------------------------------------------
# The default target is the API. (Kept last so a plain `docker build .` gives the API image; the classic builder
# skips the trainer stage only when given `--target api`.)
FROM api
