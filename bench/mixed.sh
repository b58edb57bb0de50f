#!/usr/bin/env bash
# Mixed load (issue 8): loopgate and the nginx baseline of transfer.sh, one after the other, under
# the same client and the same mix of requests for a fixed time: 70% allowed small transfers, 20%
# denied ones (a purpose the item does not allow), 10% large ones. RSS and open file descriptors
# of each server are sampled every second. Prints a Markdown table (throughput, p50/p99/p999
# latency, the loopgate/nginx ratios, peak RSS and fds) and writes it, with an SVG plot of latency
# and RSS over time, to bench/results/mixed-<date>.{md,svg}. See bench/README.md.
#
#   bash bench/mixed.sh [--duration SECONDS]      # default 600 per server
#
# The setup (tools, release build, dev folder, shared upstream, loopgate, the nginx baseline, the
# cleanup of every process on exit) is transfer.sh's, sourced with BENCH_SETUP_ONLY=1. oha sends
# one kind of request per run, so the load comes from tests/src/bin/mixed_load.rs.
set -euo pipefail

DURATION=${DURATION:-600}
while [ $# -gt 0 ]; do
    case $1 in
    --duration)
        [ $# -ge 2 ] || { echo "mixed.sh: --duration needs a number of seconds" >&2; exit 2; }
        DURATION=$2
        shift 2
        ;;
    --duration=*)
        DURATION=${1#--duration=}
        shift
        ;;
    -h | --help)
        sed -n '2,16p' "$0"
        exit 0
        ;;
    *)
        echo "mixed.sh: unknown argument $1 (only --duration SECONDS)" >&2
        exit 2
        ;;
    esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "mixed.sh: --duration must be a whole number of seconds" >&2; exit 2; }

# Knobs (environment); transfer.sh's own knobs apply to the setup.
MIXED_MIX=${MIXED_MIX:-70,20,10}              # small,denied,large weights
MIXED_CONNS=${MIXED_CONNS:-32}                # keep-alive connections of the driver
MIXED_SMALL_BYTES=${MIXED_SMALL_BYTES:-1024}  # the small body
MIXED_LARGE_MIB=${MIXED_LARGE_MIB:-4}         # the large body
MIXED_SEED=${MIXED_SEED:-1}                   # the driver's request sequence (same for both sides)

mixed_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_SETUP_ONLY=1
# shellcheck source=bench/transfer.sh
source "$mixed_here/transfer.sh"

SAMPLER_PID=
mixed_cleanup() {
    if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    cleanup
}
trap mixed_cleanup EXIT

log "building the load driver (release)"
(cd "$repo" && cargo build --release -p loopgate-tests --bin mixed_load >&2)
DRIVER=$target_dir/release/mixed_load
[ -x "$DRIVER" ] || die "no $DRIVER after the build"

# The baseline has no policy; give it the one rule the mix needs, so that it answers the denied
# share with 403 as loopgate does (a header comparison; loopgate makes a durable log record).
python3 - "$WORK/nginx-proxy.conf" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
anchor = "location = /v1/transfers {"
assert anchor in text, "nginx-proxy.conf.in changed: no transfers location"
rule = anchor + '\n            if ($http_loop_purpose != "research.instrument_qc") { return 403; }'
open(path, "w").write(text.replace(anchor, rule, 1))
EOF
"$NGINX" -p "$WORK/" -c "$WORK/nginx-proxy.conf" -s reload 2>"$WORK/reload.err" ||
    die "nginx reload failed: $(cat "$WORK/reload.err")"
denied_status() {
    curl -4 -sS -o /dev/null -w '%{http_code}' "${CLIENT_TLS[@]}" -H 'Loop-Inventory-Item: INV-NP-001' \
        -H 'Loop-Recipient: hk-biolab' -H 'Loop-Purpose: marketing.campaign' -H 'Expect:' \
        --data-binary @"$WORK/body-1k" "https://localhost:$(side_port "$1")/v1/transfers"
}
for _ in $(seq 50); do [ "$(denied_status nginx)" = 403 ] && break; sleep 0.1; done
for side in loopgate nginx; do
    status=$(denied_status "$side")
    [ "$status" = 403 ] || die "$side answers a denied request with $status, not 403"
done

# Every second: seconds since the run started, RSS (kB) and open fds of the side's processes.
sample() { # side file
    local side=$1 file=$2 start now tenths pids fds pid
    start=${EPOCHREALTIME/./} # microseconds
    echo "t,rss_kb,fds" >"$file"
    while :; do
        pids=$(side_pids "$side")
        fds=0
        for pid in $pids; do
            fds=$((fds + $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
        done
        now=${EPOCHREALTIME/./}
        tenths=$(((now - start) / 100000))
        # shellcheck disable=SC2086
        echo "$((tenths / 10)).$((tenths % 10)),$(rss_kb $pids),$fds" >>"$file"
        sleep 1
    done
}

for side in loopgate nginx; do
    log "$side: mixed load ($MIXED_MIX small/denied/large, $MIXED_CONNS connections) for ${DURATION}s"
    sample "$side" "$WORK/mixed-$side.samples.csv" &
    SAMPLER_PID=$!
    "$DRIVER" --port "$(side_port "$side")" --pki "$PKI" --duration "$DURATION" \
        --connections "$MIXED_CONNS" --mix "$MIXED_MIX" --small-bytes "$MIXED_SMALL_BYTES" \
        --large-bytes $((MIXED_LARGE_MIB << 20)) --seed "$MIXED_SEED" \
        --out "$WORK/mixed-$side" >"$WORK/mixed-$side.json" ||
        die "$side: the load driver failed"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    sleep 2
done

mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y-%m-%dT%H%MZ)
out=$RESULTS_DIR/mixed-$stamp.md
svg=$RESULTS_DIR/mixed-$stamp.svg
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
python3 "$mixed_here/plot_mixed.py" --work "$WORK" --svg "$svg" >"$WORK/table.md"
{
    echo "## Mixed load: loopgate vs nginx ($stamp)"
    echo
    echo "- command: \`bash bench/mixed.sh --duration $DURATION\` (MIXED_MIX=$MIXED_MIX MIXED_CONNS=$MIXED_CONNS MIXED_SMALL_BYTES=$MIXED_SMALL_BYTES MIXED_LARGE_MIB=$MIXED_LARGE_MIB MIXED_SEED=$MIXED_SEED WORKERS=$WORKERS)"
    echo "- loopgate $commit; $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') (baseline and upstream, $WORKERS workers each; the baseline answers the denied share with 403 on a header check)"
    echo "- machine: $(nproc) cores ($cpu), kernel $(uname -r); load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- driver, server and upstream share this machine's cores: compare the ratios."
    [ -n "$NOTE" ] && echo "- note: $NOTE"
    echo
    cat "$WORK/table.md"
    echo
    echo "![latency and RSS over time]($(basename "$svg"))"
} >"$out"
cat "$out"
log "written to $out and $svg"
