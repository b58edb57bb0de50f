#!/usr/bin/env bash
# Soak (issue 20): does memory follow the log's history? Drives SOAK_TRANSFERS 1 KiB transfers
# (default 2,000,000) on SOAK_CONNS keep-alive connections (default 64) with oha through loopgate,
# then the same through the nginx baseline of transfer.sh, sampling each server's RSS every
# SOAK_SAMPLE seconds (default 10) against the transfers done so far (the shared upstream's
# access log counts them). Then restarts loopgate on the log it wrote and measures how long it
# takes to be ready (SIGTERM to `loopgate: api` on stdout) and how many records it replayed.
# Writes bench/results/soak-<UTC date and time>.{md,png}: RSS at 100k, 1M and 2M transfers per
# server and the restart, and the plot of RSS against transfers (loopgate and nginx on the same
# axes). Not a test: nothing here asserts a number. See bench/README.md.
#
#   bash bench/soak.sh
#   SOAK_TRANSFERS=1000000 SOAK_SIDES=loopgate bash bench/soak.sh
#
# The setup (tools, release build, dev folder, shared upstream, loopgate, baseline, cleanup of
# every process on exit) is transfer.sh's, sourced with BENCH_SETUP_ONLY=1. The plot needs
# python3's matplotlib (apt-get install python3-matplotlib).
set -euo pipefail

SOAK_TRANSFERS=${SOAK_TRANSFERS:-2000000} # transfers per server
SOAK_CONNS=${SOAK_CONNS:-64}              # keep-alive connections
SOAK_SAMPLE=${SOAK_SAMPLE:-10}            # seconds between RSS samples
SOAK_SIDES=${SOAK_SIDES:-loopgate nginx}  # which servers, in order
SOAK_REBUILD=${SOAK_REBUILD:-0}           # 1: also time a start with data/index deleted (a full rebuild)
SOAK_CACHE_MB=${SOAK_CACHE_MB:-}          # loopgate's [log] cache_mb (default: the config's, 64)
[[ $SOAK_TRANSFERS =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: SOAK_TRANSFERS must be a number" >&2; exit 2; }

soak_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_SETUP_ONLY=1
SLOW_CONNS=${SLOW_CONNS:-10} # transfer.sh checks descriptors for its slow uploads, which this does not run
# shellcheck source=bench/transfer.sh
source "$soak_here/transfer.sh"

PLOT_PY=python3
"$PLOT_PY" -c 'import matplotlib' 2>/dev/null || PLOT_PY=/usr/bin/python3
"$PLOT_PY" -c 'import matplotlib' 2>/dev/null || die "no python3 with matplotlib (apt-get install python3-matplotlib)"

# transfer.sh's oha options (set after the point where BENCH_SETUP_ONLY returns).
OHA_COMMON=(--no-tui --output-format json --http-version 1.1 --ipv4 -m POST "${TRANSFER_HEADERS[@]}" "${CLIENT_TLS[@]}")

SAMPLER_PID=
soak_cleanup() {
    if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    cleanup
}
trap soak_cleanup EXIT

delivered() { wc -l <"$WORK/upstream-access.log"; }

# One sample line "<unix seconds>,<transfers since START>,<RSS KiB>" of SIDE into OUT.
sample_once() { # side start out
    # shellcheck disable=SC2046
    echo "$(date +%s),$(($(delivered) - $2)),$(rss_kb $(side_pids "$1"))" >>"$3"
}

# A restart of loopgate over the log it just wrote: SIGTERM, then serve again; ready is the
# `loopgate: api` line (the views caught up, recovery done, listeners bound).
stop_loopgate() {
    kill -TERM "$LG_PID"
    wait "$LG_PID" 2>/dev/null || true
}
start_loopgate_timed() { # name
    local began ready
    began=$(date +%s.%N)
    "$BIN" serve --config "$DEV/gateway.toml" >"$WORK/loopgate-$1.out" 2>"$WORK/loopgate-$1.err" &
    LG_PID=$!
    wait_for_line "$WORK/loopgate-$1.out" '^loopgate: api https://' 600 ||
        die "loopgate did not restart: $(tail -n 20 "$WORK/loopgate-$1.err")"
    ready=$(date +%s.%N)
    local line
    line=$(grep 'views caught up with the log' "$WORK/loopgate-$1.err" | tail -n 1)
    echo "$1_ready_s=$(python3 -c "print(f'{$ready - $began:.2f}')")" >>"$WORK/soak.env"
    echo "$1_replayed=$(sed -n 's/.*records_replayed=\([0-9]*\).*/\1/p' <<<"$line")" >>"$WORK/soak.env"
    echo "$1_log_size=$(sed -n 's/.*log_size=\([0-9]*\).*/\1/p' <<<"$line")" >>"$WORK/soak.env"
    sleep 2
    echo "$1_rss_kib=$(rss_kb "$LG_PID")" >>"$WORK/soak.env"
}
if [ -n "$SOAK_CACHE_MB" ]; then
    log "loopgate with [log] cache_mb = $SOAK_CACHE_MB"
    sed -i "s/^cache_mb = .*/cache_mb = $SOAK_CACHE_MB/" "$DEV/gateway.toml"
    grep -q "^cache_mb = $SOAK_CACHE_MB\$" "$DEV/gateway.toml" || die "no cache_mb line in $DEV/gateway.toml"
    stop_loopgate
    start_loopgate_timed cache
fi

for side in $SOAK_SIDES; do
    out=$WORK/soak-$side.csv
    echo "time,transfers,rss_kib" >"$out"
    start=$(delivered)
    sample_once "$side" "$start" "$out"
    (while sleep "$SOAK_SAMPLE"; do sample_once "$side" "$start" "$out"; done) &
    SAMPLER_PID=$!
    log "$side: $SOAK_TRANSFERS transfers of 1 KiB on $SOAK_CONNS connections"
    began=$(date +%s)
    oha "${OHA_COMMON[@]}" -o "$WORK/soak-$side.json" -c "$SOAK_CONNS" -n "$SOAK_TRANSFERS" \
        -D "$WORK/body-1k" "https://localhost:$(side_port "$side")/v1/transfers"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    sample_once "$side" "$start" "$out"
    echo "${side}_seconds=$(($(date +%s) - began))" >>"$WORK/soak.env"
    read -r ok bad rps _ < <(answers "$WORK/soak-$side.json")
    echo "${side}_ok=$ok ${side}_bad=$bad ${side}_rps=$rps" >>"$WORK/soak.env"
    log "$side: $ok answered 201, $bad otherwise, $rps/s"
done

if [[ " $SOAK_SIDES " == *" loopgate "* ]]; then
    log "restarting loopgate over its log"
    stop_loopgate
    start_loopgate_timed restart
    if [ "$SOAK_REBUILD" = 1 ]; then
        log "restarting loopgate with data/index deleted (rebuilds the index and the views)"
        stop_loopgate
        rm -rf "$DEV/data/index"
        start_loopgate_timed rebuild
    fi
fi

mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%d-%H%M%S)
{
    echo "# Soak: RSS against transfers ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- $SOAK_TRANSFERS transfers of 1 KiB per server on $SOAK_CONNS connections (oha, HTTP/1.1, mTLS), RSS sampled every ${SOAK_SAMPLE}s"
    echo "- loopgate $commit; $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') ($WORKERS workers); $(oha --version | head -n 1)"
    echo "- loopgate's [log] cache_mb: ${SOAK_CACHE_MB:-64 (the default)}"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    [ -n "$NOTE" ] && echo "- note: $NOTE"
    echo
    "$PLOT_PY" "$soak_here/plot_soak.py" --work "$WORK" --png "$RESULTS_DIR/soak-$stamp.png" --sides $SOAK_SIDES
} >"$RESULTS_DIR/soak-$stamp.md"
cat "$RESULTS_DIR/soak-$stamp.md"
log "wrote $RESULTS_DIR/soak-$stamp.md and soak-$stamp.png"
