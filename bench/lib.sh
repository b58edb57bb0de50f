#!/usr/bin/env bash
# Shared setup of the benchmarks, sourced by transfer.sh and cpu_per_transfer.sh: the tools,
# process and memory helpers, and `start_servers`, which builds loopgate and starts the shared
# nginx upstream, loopgate and the nginx baseline on free loopback ports. Every process it
# starts is stopped on exit (an EXIT trap), and the temp folders are removed.
#
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); source "$here/lib.sh"
#   ensure_tools; start_servers
#
# Reads WORKERS, KEEP_WORKDIR and LOOPGATE_BIN (a loopgate binary to use instead of building
# one); start_servers sets WORK, DEV, PKI, BIN, commit, LG_PID, API_PORT, OPS_PORT, UP_PORT,
# PROXY_PORT, TRANSFER_HEADERS and CLIENT_TLS, and leaves a 1 KiB body in $WORK/body-1k.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
WORKERS=${WORKERS:-$(nproc)}               # nginx worker processes (loopgate uses one thread per core)
KEEP_WORKDIR=${KEEP_WORKDIR:-0}            # 1: keep the temp dir (configs, logs, oha JSON)
LOOPGATE_BIN=${LOOPGATE_BIN:-}             # a loopgate binary to use instead of building one

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ---------------------------------------------------------------------------------------------
# Tools.

echo_module() {
    { find /usr/lib/nginx/modules /usr/share/nginx/modules -name 'ngx_http_echo_module.so' 2>/dev/null || true; } | head -n 1
}

apt_install() {
    # Keep the distribution's nginx service from starting (it would listen on 0.0.0.0:80): the
    # standard policy-rc.d mechanism, only for the duration of the install.
    local added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod 755 /usr/sbin/policy-rc.d
        added=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || rc=$?
    if [ "$added" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
    return "$rc"
}

ensure_tools() {
    local want=()
    command -v python3 >/dev/null || want+=(python3)
    command -v curl >/dev/null || want+=(curl)
    if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] || [ -z "$(echo_module)" ]; then
        want+=(nginx-light)
    fi
    if [ "${#want[@]}" -gt 0 ]; then
        log "installing ${want[*]}"
        as_root apt-get update -q >&2
        if ! apt_install "${want[@]}"; then
            # Debian 13 has no nginx-light: nginx plus the echo module package.
            local alt=("${want[@]/nginx-light/nginx}")
            apt_install "${alt[@]}" libnginx-mod-http-echo
        fi
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    ECHO_MODULE=$(echo_module)
    [ -n "$ECHO_MODULE" ] || die "nginx's echo module (ngx_http_echo_module.so) was not found"
    if ! command -v oha >/dev/null; then
        if [ -x "$HOME/.cargo/bin/oha" ]; then
            PATH="$HOME/.cargo/bin:$PATH"
        else
            log "installing oha (cargo install --locked oha; several minutes)"
            cargo install --locked oha >&2
            PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
    grep -q -- '--cert' <<<"$(oha --help)" || die "this oha has no --cert (client certificates): cargo install --locked --force oha"
}

# ---------------------------------------------------------------------------------------------
# Processes and memory.

LG_PID=
SLOW_PID=
PERF_PID=
WORK=
BODY_TMP=

# Starts `perf record` on loopgate (or on process PID) into $WORK/NAME.data (PROFILE=1 runs;
# stopped by perf_stop, or by cleanup).
perf_start() { # name [pid]
    perf record -q -F 199 --call-graph dwarf,16384 -p "${2:-$LG_PID}" -o "$WORK/$1.data" 2>/dev/null &
    PERF_PID=$!
    sleep 0.5
}

# Stops the `perf record` that perf_start began, if any, and writes its reports
# $WORK/NAME-{self,children}.txt.
perf_stop() { # name
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    PERF_PID=
    perf report -i "$WORK/$1.data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null >"$WORK/$1-self.txt" || true
    perf report -i "$WORK/$1.data" --children --sort symbol -g none --stdio 2>/dev/null >"$WORK/$1-children.txt" || true
    log "profile of loopgate: $WORK/$1-{self,children}.txt"
}

# Prints "<201 answers> <other answers and errors> <201s per second> <p50 ms>" of an oha JSON
# report.
answers() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
codes = {int(k): v for k, v in d["statusCodeDistribution"].items()}
ok = codes.get(201, 0)
# oha (1.16 and later) counts the requests still in flight when a -z run's time is up as
# "aborted due to deadline": they were cut by the client, not answered badly.
errors = sum(v for k, v in d["errorDistribution"].items() if "aborted due to deadline" not in k)
print(ok, sum(v for k, v in codes.items() if k != 201) + errors,
      f'{ok / d["summary"]["total"]:.0f}', f'{d["metrics"]["latency_ms"]["p50"]:.2f}')
EOF
}

cleanup() {
    set +e
    if declare -F stop_witnessed >/dev/null; then stop_witnessed; fi
    if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; fi
    if [ -n "$SLOW_PID" ]; then kill "$SLOW_PID" 2>/dev/null; wait "$SLOW_PID" 2>/dev/null; fi
    if [ -n "$LG_PID" ]; then
        kill -TERM "$LG_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$LG_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$LG_PID" 2>/dev/null
        wait "$LG_PID" 2>/dev/null
    fi
    local pidfile pid
    for pidfile in "$WORK/proxy.pid" "$WORK/upstream.pid"; do
        [ -n "$WORK" ] && [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null   # nginx master: fast shutdown, takes its workers along
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    [ -n "$BODY_TMP" ] && rm -rf "$BODY_TMP"
    if [ -n "$WORK" ]; then
        if [ "$KEEP_WORKDIR" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The children of an nginx master (its workers).
children() {
    local stat fields
    for stat in /proc/[0-9]*/stat; do
        read -r -a fields 2>/dev/null <"$stat" || continue # gone meanwhile
        [ "${fields[3]}" = "$1" ] && echo "${fields[0]}"
    done
    return 0
}

# Sum of a /proc/PID/status field (kB) over PIDs.
status_kb() {
    local field=$1 pid total=0 v
    shift
    for pid in "$@"; do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
rss_kb() { status_kb VmRSS "$@"; }

# CPU time (user + system, clock ticks) used so far by PIDs, all their threads included.
cpu_ticks() {
    local pid total=0 v
    for pid in "$@"; do
        v=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# Resets the peak-RSS counter (VmHWM) of PIDs; fails where the kernel does not allow it.
reset_hwm() {
    local pid
    for pid in "$@"; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || return 1; done
}

# The PIDs whose memory counts for a side: loopgate's process, or nginx's master and workers.
side_pids() {
    case $1 in
    loopgate) echo "$LG_PID" ;;
    # transfer.sh's gateway with two witnesses: its CPU and theirs.
    witnessed) echo "$WLG_PID" "${WITNESS_PIDS[@]}" ;;
    nginx)
        local master
        master=$(cat "$WORK/proxy.pid")
        echo "$master" $(children "$master")
        ;;
    esac
}
side_port() {
    case $1 in
    loopgate) echo "$API_PORT" ;;
    witnessed) echo "$WAPI_PORT" ;;
    nginx) echo "$PROXY_PORT" ;;
    esac
}

wait_for_line() { # file pattern seconds
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Setup.

# Builds loopgate (unless LOOPGATE_BIN is set), starts the upstream, loopgate and the nginx
# baseline, and checks that the upstream reads whole bodies and that both answer a 1 KiB
# transfer with 201.
start_servers() {
    if [ -n "$LOOPGATE_BIN" ]; then
        BIN=$LOOPGATE_BIN
    else
        log "building loopgate (release)"
        (cd "$repo" && cargo build --release -p loopgate >&2)
        target_dir=${CARGO_TARGET_DIR:-$repo/target}
        BIN=$target_dir/release/loopgate
    fi
    [ -x "$BIN" ] || die "no $BIN after the build"
    # What was built (read now: others may commit while the benchmark runs).
    commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(cd "$repo" && git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi

    WORK=$(mktemp -d /tmp/loopgate-bench.XXXXXX)
    chmod 755 "$WORK" # nginx workers (user nobody when started as root) write temp files below it
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        BODY_TMP=$(mktemp -d /dev/shm/loopgate-bench-body.XXXXXX)
    else
        BODY_TMP=$(mktemp -d "$WORK/body.XXXXXX")
    fi
    chmod 755 "$BODY_TMP"
    DEV=$WORK/loopgate-dev
    PKI=$DEV/pki
    "$BIN" dev init --dir "$DEV" >&2

    read -r API_PORT OPS_PORT UP_PORT PROXY_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')

    # The dev config, pointed at the shared upstream instead of the built-in demo upstream.
    python3 - "$DEV/gateway.toml" "$API_PORT" "$OPS_PORT" "$UP_PORT" <<'EOF'
import re, sys
path, api, ops, up = sys.argv[1:]
out, skip = [], False
for line in open(path).read().splitlines():
    if line.strip().startswith("["):
        skip = line.strip() == "[demo_upstream]"
    if skip:
        continue
    line = re.sub(r'^listen = ".*"', f'listen = "127.0.0.1:{api}"', line)
    line = re.sub(r'^ops_listen = ".*"', f'ops_listen = "127.0.0.1:{ops}"', line)
    # Every benchmark client uses one tenant's certificate (SLOW_CONNS of them at once); the
    # nginx baseline has no per-principal cap either.
    line = re.sub(r'^max_connections_per_principal = .*', 'max_connections_per_principal = 100000', line)
    # One tenant certificate sends the whole load: lift its request quota.
    line = re.sub(r'^(requests_per_second_per_principal|request_burst) = .*', r'\1 = 1000000', line)
    out.append(line)
out += ["", "[[upstream]]", 'tenant = "hk-biolab"', f'url = "https://127.0.0.1:{up}/ingest"',
        'ca = "pki/ca.pem"', ""]
open(path, "w").write("\n".join(out))
EOF
    "$BIN" check-config --config "$DEV/gateway.toml" >&2

    render() { # template output
        sed -e "s#@DIR@#$WORK#g" -e "s#@PKI@#$PKI#g" -e "s#@UP_PORT@#$UP_PORT#g" \
            -e "s#@PROXY_PORT@#$PROXY_PORT#g" -e "s#@WORKERS@#$WORKERS#g" \
            -e "s#@BODY_TMP@#$BODY_TMP#g" -e "s#@ECHO_MODULE@#$ECHO_MODULE#g" "$1" >"$2"
    }
    start_nginx() { # name
        render "$here/nginx-$1.conf.in" "$WORK/nginx-$1.conf"
        "$NGINX" -p "$WORK/" -c "$WORK/nginx-$1.conf" 2>"$WORK/$1-start.err" ||
            die "nginx ($1) did not start: $(cat "$WORK/$1-start.err")"
        wait_for_line "$WORK/$1.pid" . 10 || die "nginx ($1) did not start: $(cat "$WORK/$1-error.log" 2>/dev/null)"
    }

    log "starting the upstream (nginx on 127.0.0.1:$UP_PORT)"
    start_nginx upstream
    log "starting loopgate (127.0.0.1:$API_PORT)"
    "$BIN" serve --config "$DEV/gateway.toml" >"$WORK/loopgate.out" 2>"$WORK/loopgate.err" &
    LG_PID=$!
    wait_for_line "$WORK/loopgate.out" '^loopgate: api https://' 30 ||
        die "loopgate did not start: $(tail -n 20 "$WORK/loopgate.err")"
    log "starting the nginx baseline (127.0.0.1:$PROXY_PORT)"
    start_nginx proxy

    TRANSFER_HEADERS=(
        -H 'Loop-Inventory-Item: INV-NP-001'
        -H 'Loop-Recipient: hk-biolab'
        -H 'Loop-Purpose: research.instrument_qc'
        -H 'Content-Type: application/octet-stream'
    )
    CLIENT_TLS=(--cacert "$PKI/ca.pem" --cert "$PKI/tenant-sz-genomics.pem" --key "$PKI/tenant-sz-genomics.key")

    # One transfer with curl, streaming FILE; prints the HTTP status.
    curl_transfer() { # side file
        curl -4 -sS -o "$WORK/curl-body" -w '%{http_code}' "${CLIENT_TLS[@]}" "${TRANSFER_HEADERS[@]}" \
            -H 'Expect:' -X POST -T "$2" "https://localhost:$(side_port "$1")/v1/transfers"
    }

    # The upstream must read a body to its end before it answers, or the comparison is meaningless:
    # a body whose second half comes 2 s late must be answered no sooner than 2 s.
    log "checking that the upstream answers only after the whole body"
    started=$(date +%s.%N)
    status=$({ printf 'first half '; sleep 2; printf 'second half'; } |
        curl -4 -sS -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" -X POST -T - \
            "https://localhost:$UP_PORT/ingest")
    elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.2f}')")
    [ "$status" = 201 ] || die "the upstream answered $status"
    python3 -c "import sys; sys.exit(0 if $elapsed >= 1.9 else 1)" ||
        die "the upstream answered after ${elapsed}s, before the body was complete"

    head -c 1024 /dev/urandom >"$WORK/body-1k"
    for side in loopgate nginx; do
        status=$(curl_transfer "$side" "$WORK/body-1k")
        [ "$status" = 201 ] || die "$side: a 1 KiB transfer answered $status: $(cat "$WORK/curl-body")"
    done
    log "both answer 201"
}
