#!/usr/bin/env bash
# The regulator console's overview on a long log (issue 22): fills a dev gateway's log with
# RECORDS realistic records (`loopgate audit fill`, through the real audit log), starts the
# gateway on it (cold: its views are built from the whole log), times GET /v1/audit/stats and
# the monthly report, restarts it (warm: the views are kept) and prints a Markdown table, also
# written to bench/results/console-<UTC date and time>.md. A benchmark, not a test.
#
#   bash bench/console.sh                      # 1,000,000 records over 30 days
#   RECORDS=100000 bash bench/console.sh
#
# Knobs: RECORDS (1000000), DAYS (30, the span of the records' times, ending now), SENDERS (20),
# REPEAT (10, requests per measured call; the table shows the first and the median of the rest),
# LOOPGATE_BIN (a binary to use instead of `cargo build --release -p loopgate`), KEEP_WORKDIR=1.
# Needs curl and python3. With Debian's chromium and the Python package playwright, it also
# times what a regulator waits for: Chromium drawing the overview (tests/browser/console.py's
# overview check, BROWSER_RUNS times, each a new browser), and keeps its screenshot. Every process it starts is stopped on exit, the temp folder removed.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
RECORDS=${RECORDS:-1000000}
DAYS=${DAYS:-30}
SENDERS=${SENDERS:-20}
REPEAT=${REPEAT:-10}
BROWSER_RUNS=${BROWSER_RUNS:-3}
KEEP_WORKDIR=${KEEP_WORKDIR:-0}
LOOPGATE_BIN=${LOOPGATE_BIN:-}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"

if [ -n "$LOOPGATE_BIN" ]; then
    BIN=$LOOPGATE_BIN
else
    log "building loopgate (release)"
    (cd "$repo" && cargo build --release -p loopgate >&2)
    BIN=${CARGO_TARGET_DIR:-$repo/target}/release/loopgate
fi
[ -x "$BIN" ] || die "no $BIN"
commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)

WORK=$(mktemp -d /tmp/loopgate-console.XXXXXX)
LG_PID=
cleanup() {
    if [ -n "$LG_PID" ] && kill -0 "$LG_PID" 2>/dev/null; then
        kill -TERM "$LG_PID" 2>/dev/null || true
        wait "$LG_PID" 2>/dev/null || true
    fi
    if [ "$KEEP_WORKDIR" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

DEV=$WORK/loopgate-dev
PKI=$DEV/pki
"$BIN" dev init --dir "$DEV" >&2
read -r API_PORT OPS_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')
# Free ports, no demo upstream (nothing is transferred).
python3 - "$DEV/gateway.toml" "$API_PORT" "$OPS_PORT" <<'EOF'
import re, sys
path, api, ops = sys.argv[1:]
out, skip = [], False
for line in open(path).read().splitlines():
    if line.strip().startswith("["):
        skip = line.strip() == "[demo_upstream]"
    if skip:
        continue
    line = re.sub(r'^listen = ".*"', f'listen = "127.0.0.1:{api}"', line)
    line = re.sub(r'^ops_listen = ".*"', f'ops_listen = "127.0.0.1:{ops}"', line)
    out.append(line)
open(path, "w").write("\n".join(out) + "\n")
EOF

now() { python3 -c 'import time; print(time.time())'; }
since() { python3 -c "import time; print(f'{time.time() - $1:.2f}')"; }

log "filling the log with $RECORDS records over $DAYS days"
started=$(now)
"$BIN" audit fill --config "$DEV/gateway.toml" --records "$RECORDS" --days "$DAYS" --senders "$SENDERS" >&2
fill_s=$(since "$started")
log_bytes=$(du -sb "$DEV/data" | cut -f1)

start_gateway() { # label; sets LG_PID and READY_S (seconds to ready)
    local started
    started=$(now)
    "$BIN" serve --config "$DEV/gateway.toml" >"$WORK/loopgate-$1.out" 2>"$WORK/loopgate-$1.err" &
    LG_PID=$!
    for _ in $(seq 1 6000); do
        grep -q '^loopgate: api https://' "$WORK/loopgate-$1.out" 2>/dev/null && break
        kill -0 "$LG_PID" 2>/dev/null || die "loopgate did not start: $(tail -n 20 "$WORK/loopgate-$1.err")"
        sleep 0.1
    done
    READY_S=$(since "$started")
}
stop_gateway() {
    kill -TERM "$LG_PID"
    wait "$LG_PID" || true
    LG_PID=
}

TLS=(--cacert "$PKI/ca.pem" --cert "$PKI/regulator-pcpd.pem" --key "$PKI/regulator-pcpd.key")
# Seconds of one GET (total time, as curl measures it); the body goes to $WORK/last.
timed_get() { # path
    local code
    code=$(curl -4 -sS -o "$WORK/last" -w '%{http_code} %{time_total}' "${TLS[@]}" "https://localhost:$API_PORT$1")
    [ "${code%% *}" = 200 ] || die "GET $1: $code $(head -c 300 "$WORK/last")"
    echo "${code#* }"
}
# "first / median of the next REPEAT-1" in ms.
measure() { # path
    local first rest=()
    first=$(timed_get "$1")
    for _ in $(seq 2 "$REPEAT"); do rest+=("$(timed_get "$1")"); done
    python3 -c "
import statistics, sys
first, rest = float(sys.argv[1]), [float(x) for x in sys.argv[2:]]
print(f'{first*1e3:.0f} ms / {statistics.median(rest)*1e3:.0f} ms' if rest else f'{first*1e3:.0f} ms')
" "$first" "${rest[@]}"
}

log "starting loopgate on the filled log (cold: views built from the log)"
start_gateway cold
cold_s=$READY_S
caught=$(grep -o 'views caught up with the log.*' "$WORK/loopgate-cold.err" | head -n 1 || true)
today=$(python3 -c 'import datetime; print((datetime.datetime.utcnow() + datetime.timedelta(hours=8)).date())')
from90=$(python3 -c 'import datetime; print((datetime.datetime.utcnow() + datetime.timedelta(hours=8)).date() - datetime.timedelta(days=89))')
from366=$(python3 -c 'import datetime; print((datetime.datetime.utcnow() + datetime.timedelta(hours=8)).date() - datetime.timedelta(days=365))')
month=${today:0:7}
stats30=$(measure "/v1/audit/stats")
totals=$(python3 - "$WORK/last" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
print("transfers %d allowed, %d denied; shipments %d allowed, %d denied; %d bytes" % (
    t["transfers"]["allow"], t["transfers"]["deny"], t["shipments"]["allow"], t["shipments"]["deny"], t["bytes"]))
EOF
)
stats90=$(measure "/v1/audit/stats?from=$from90&to=$today")
stats366=$(measure "/v1/audit/stats?from=$from366&to=$today")
stats_tenant=$(measure "/v1/audit/stats?tenant=bench-tenant-07")
report_tenant=$(REPEAT=3 measure "/v1/audit/report?month=$month&tenant=bench-tenant-07&format=csv")
report_all=$(REPEAT=1 measure "/v1/audit/report?month=$month&format=csv")
stop_gateway

log "restarting (warm: views kept)"
start_gateway warm
warm_s=$READY_S
stats_warm=$(measure "/v1/audit/stats")
# The overview in a real browser: from navigation to the page drawn (shell, scripts, whoami,
# the stats, the charts), as console.py's overview check reports it.
drawn="skipped (no /usr/bin/chromium or no Python playwright)"
if [ -x /usr/bin/chromium ] && python3 -c 'import playwright' 2>/dev/null; then
    times=()
    for run in $(seq 1 "$BROWSER_RUNS"); do
        line=$(CONSOLE_CHECKS=overview python3 "$repo/tests/browser/console.py" \
            "https://127.0.0.1:$API_PORT" "$PKI/regulator-pcpd.pem" "$PKI/regulator-pcpd.key" \
            "$DEV/log.pub" "$WORK/screenshots" 2>&1 | grep -o 'drawn [0-9]* ms' || true)
        [ -n "$line" ] || die "the browser's overview check failed (run it by hand: tests/browser/console.py)"
        times+=("${line#drawn }")
        log "browser run $run: overview drawn ${line#drawn }"
    done
    drawn="${times[*]} (each a new browser)"
    mkdir -p "$here/results"
    cp "$WORK/screenshots/overview.png" "$here/results/console-overview-$RECORDS.png"
fi
stop_gateway

mkdir -p "$here/results"
out="$here/results/console-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "loopgate $commit, $(nproc) cores, $RECORDS records over $DAYS days from $SENDERS senders ($((log_bytes / 1048576)) MiB data folder)"
    echo
    echo "| measure | value |"
    echo "|---|---|"
    echo "| \`audit fill\` of $RECORDS records | ${fill_s} s |"
    echo "| cold start to ready (views built from the whole log) | ${cold_s} s |"
    echo "| warm start to ready (views kept) | ${warm_s} s |"
    echo "| GET /v1/audit/stats, last 30 days (first / median of next $((REPEAT - 1))) | $stats30 |"
    echo "| GET /v1/audit/stats, 90 days | $stats90 |"
    echo "| GET /v1/audit/stats, 366 days | $stats366 |"
    echo "| GET /v1/audit/stats?tenant= (one of $SENDERS senders) | $stats_tenant |"
    echo "| GET /v1/audit/stats after the warm start | $stats_warm |"
    echo "| Chromium: the overview drawn after navigation (30 days) | $drawn |"
    echo "| GET /v1/audit/report, one tenant, this month, CSV | $report_tenant |"
    echo "| GET /v1/audit/report, all tenants, this month, CSV | $report_all |"
    echo
    echo "stats totals (30 days): $totals"
    echo
    echo "cold start: ${caught:-no catch-up line}"
} | tee "$out"
