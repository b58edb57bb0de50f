#!/usr/bin/env bash
# The transfer-path benchmark (issue 5): loopgate against nginx as an mTLS streaming reverse proxy,
# both forwarding to one shared nginx upstream on loopback. Measures 1 KiB transfers (requests/s,
# p50, p99), 64 MiB transfers (MB/s), and loopgate's RSS with 1,000 slow uploads held open and with
# one 1 GiB body against one 1 MiB body. Prints a Markdown table and writes it to
# bench/results/transfer-<date>.md. See bench/README.md for the knobs and how to read the table.
#
#   bash bench/transfer.sh
#
# Installs what it lacks (nginx-light with its echo module, curl, oha). Everything listens on
# 127.0.0.1 only; every process it starts is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

# Knobs (environment).
ROUNDS=${ROUNDS:-3}                        # rounds of each throughput run, sides alternating
SMALL_DURATION=${SMALL_DURATION:-20}       # seconds of 1 KiB transfers per server and round
SMALL_CONNS=${SMALL_CONNS:-64}             # keep-alive connections for 1 KiB transfers
WARMUP=${WARMUP:-3}                        # seconds of warm-up before each 1 KiB run
LARGE_MIB=${LARGE_MIB:-64}                 # body size of the large-transfer run
LARGE_REQUESTS=${LARGE_REQUESTS:-128}      # large transfers per server and round
LARGE_CONNS=${LARGE_CONNS:-64}             # keep-alive connections for large transfers
LARGE_WARMUP=${LARGE_WARMUP:-$LARGE_CONNS} # large transfers per server before the large rounds (not counted)
SLOW_CONNS=${SLOW_CONNS:-1000}             # slow uploads held open at once
SLOW_HOLD=${SLOW_HOLD:-10}                 # seconds RSS is sampled while they are held
RSS_BIG_MIB=${RSS_BIG_MIB:-1024}           # the big body of the RSS-vs-body-size check
RSS_SMALL_MIB=${RSS_SMALL_MIB:-1}          # the small body of that check
RESULTS_DIR=${RESULTS_DIR:-$here/results}
NOTE=${NOTE:-}                             # free text for the results header (e.g. the machine's load)
PROFILE=${PROFILE:-0}                      # 1: perf record loopgate during round 1 (keeps the temp dir)
WITNESSES=${WITNESSES:-1}                  # 1: also compare 1 KiB transfers without and with two witnesses
WITNESS_ONLY=${WITNESS_ONLY:-0}            # 1: only that comparison (no nginx rows, no memory, no large bodies)
WITNESS_DURATION=${WITNESS_DURATION:-$SMALL_DURATION} # seconds per run of the witness comparison
WITNESS_CONNS=${WITNESS_CONNS:-"1 64 256"}            # connection counts of the witness comparison (each run in turn)

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

# ---------------------------------------------------------------------------------------------
# Witnesses (issue 21): the same 1 KiB transfers through a second loopgate that has two
# `loopgate witness serve` processes on loopback as [[witness]] with witness_quorum = 2, so
# every receipt waits for a checkpoint covering its record cosigned by both. The same client,
# the same upstream, rounds alternating; the table gives the ratio.

WLG_PID=
WITNESS_PIDS=()
stop_witnessed() {
    set +e
    local pid
    for pid in $WLG_PID "${WITNESS_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $WLG_PID "${WITNESS_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    WLG_PID=
    WITNESS_PIDS=()
}

# Starts the two witnesses and the witnessed loopgate (WLG_PID, WAPI_PORT) from the dev folder.
start_witnessed() {
    local name i port ports key tables="" wdir=$WORK/witnesses origin log_key
    origin=$(sed -n 's/^origin = "\(.*\)"/\1/p' "$DEV/gateway.toml" | head -n 1)
    log_key=$(cat "$DEV/log.pub")
    mkdir -p "$wdir"
    read -r WAPI_PORT WOPS_PORT ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')
    read -r -a ports <<<"$ports"
    i=0
    for name in witness.pcpd.hk.example witness.cac-gd.cn.example; do
        port=${ports[$i]}
        key=$("$BIN" witness keygen --out "$wdir/$name.key" --name "$name")
        cat >"$wdir/$name.toml" <<EOT
listen = "127.0.0.1:$port"
key = "$name.key"
state_dir = "$name-state"
[[log]]
origin = "$origin"
key = "$log_key"
EOT
        "$BIN" witness serve --config "$wdir/$name.toml" >"$wdir/$name.out" 2>"$wdir/$name.err" &
        WITNESS_PIDS+=($!)
        wait_for_line "$wdir/$name.out" '^loopgate: witness http' 30 ||
            die "witness $name did not start: $(tail -n 5 "$wdir/$name.err")"
        tables+=$'\n[[witness]]\n'"name = \"$name\""$'\n'"url = \"http://127.0.0.1:$port\""$'\n'"key = \"$key\""$'\n'
        i=$((i + 1))
    done
    # The benchmark's config with its own ports and log folder, and the two witnesses.
    python3 - "$DEV/gateway.toml" "$DEV/gateway-witnessed.toml" "$WAPI_PORT" "$WOPS_PORT" <<'EOT'
import re, sys
src, dst, api, ops = sys.argv[1:]
out = []
for line in open(src).read().splitlines():
    line = re.sub(r'^listen = "127\.0\.0\.1:\d+"', f'listen = "127.0.0.1:{api}"', line)
    line = re.sub(r'^ops_listen = ".*"', f'ops_listen = "127.0.0.1:{ops}"', line)
    line = re.sub(r'^dir = "data"', 'dir = "data-witnessed"', line)
    out.append(line)
    if line.strip() == "[log]":
        out.append("witness_quorum = 2")
open(dst, "w").write("\n".join(out) + "\n")
EOT
    printf '%s' "$tables" >>"$DEV/gateway-witnessed.toml"
    "$BIN" check-config --config "$DEV/gateway-witnessed.toml" >&2
    "$BIN" serve --config "$DEV/gateway-witnessed.toml" >"$WORK/witnessed.out" 2>"$WORK/witnessed.err" &
    WLG_PID=$!
    wait_for_line "$WORK/witnessed.out" '^loopgate: api https://' 30 ||
        die "the witnessed loopgate did not start: $(tail -n 20 "$WORK/witnessed.err")"
}

# One 1 KiB transfer through the witnessed loopgate: its receipt must be cosigned.
check_cosigned() {
    curl -4 -sS -o "$WORK/witnessed-receipt" -w '%{http_code}' "${CLIENT_TLS[@]}" "${TRANSFER_HEADERS[@]}" \
        -H 'Expect:' -X POST --data-binary @"$WORK/body-1k" "https://localhost:$WAPI_PORT/v1/transfers" >"$WORK/curl-status"
    [ "$(cat "$WORK/curl-status")" = 201 ] || die "witnessed: a transfer answered $(cat "$WORK/curl-status"): $(cat "$WORK/witnessed-receipt")"
    grep -q '"cosigned":true' "$WORK/witnessed-receipt" || die "witnessed: the receipt is not cosigned: $(cat "$WORK/witnessed-receipt")"
}

# Runs the comparison at each of WITNESS_CONNS and writes their tables to $WORK/witness-table.md.
# At 1 connection every receipt waits for a round of its own: what one client that sends each
# transfer after the last one's answer sees (the round starts early when nothing else is in
# flight). At 64 connections the client's closed loop makes the rate connections over latency,
# so it shows what a receipt's wait for its round costs; at 256 every side is bound by the CPU
# the machine has, so it shows what the witnesses cost in capacity.
witness_compare() {
    start_witnessed
    check_cosigned
    log "witnesses: ${WITNESS_PIDS[*]}, witnessed loopgate on 127.0.0.1:$WAPI_PORT; receipts are cosigned"
    : >"$WORK/witness-table.md"
    local conns
    for conns in $WITNESS_CONNS; do
        curl -sS "http://127.0.0.1:$WOPS_PORT/metrics" >"$WORK/witness-metrics-before-$conns" || true
        witness_rounds "$conns"
        curl -sS "http://127.0.0.1:$WOPS_PORT/metrics" >"$WORK/witness-metrics-all-$conns" || true
        grep '^loopgate_witness_cosigned_size' "$WORK/witness-metrics-all-$conns" >"$WORK/witness-metrics" || true
        { echo "#### $conns connections"; echo; witness_table "$conns"; echo; } >>"$WORK/witness-table.md"
    done
    check_cosigned
    stop_witnessed
}

# ROUNDS rounds of both sides at CONNS connections, sides alternating.
witness_rounds() { # conns
    local conns=$1 round side name pids before
    for round in $(seq "$ROUNDS"); do
        for side in $(if [ $((round % 2)) = 1 ]; then echo loopgate witnessed; else echo witnessed loopgate; fi); do
            log "witness round $round/$ROUNDS, $side: warm-up ${WARMUP}s, then 1 KiB transfers for ${WITNESS_DURATION}s on $conns connections"
            for name in "wwarmup-$round-c$conns" "wsmall-$round-c$conns"; do
                pids=$(side_pids "$side")
                # shellcheck disable=SC2086
                before=$(cpu_ticks $pids)
                local wbefore
                wbefore=$(cpu_ticks "${WITNESS_PIDS[@]}")
                local seconds=$WITNESS_DURATION
                [[ $name == wwarmup* ]] && seconds=$WARMUP
                local profiled=0
                if [ "$PROFILE" = 1 ] && [[ $name == wsmall-1-* ]]; then
                    profiled=1
                    perf_start "perf-$side" "$(side_pids "$side" | cut -d' ' -f1)"
                fi
                oha "${OHA_COMMON[@]}" -o "$WORK/oha-$side-$name.json" -c "$conns" -z "${seconds}s" \
                    -D "$WORK/body-1k" "https://localhost:$(side_port "$side")/v1/transfers"
                [ "$profiled" = 1 ] && perf_stop "perf-$side"
                # shellcheck disable=SC2086
                echo "${side}_${name}_cpu=$(($(cpu_ticks $pids) - before))" >>"$WORK/witness.env"
                echo "${side}_${name}_wcpu=$(($(cpu_ticks "${WITNESS_PIDS[@]}") - wbefore))" >>"$WORK/witness.env"
            done
        done
    done
}

# Prints the table of the rounds at CONNS connections.
witness_table() { # conns
    local conns=$1
    python3 - "$WORK" "$ROUNDS" "$(getconf CLK_TCK)" "$conns" <<'EOT'
import json, statistics, sys
work, rounds, hz, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
env = dict(l.strip().split("=", 1) for l in open(f"{work}/witness.env") if "=" in l)
def run(side, r):
    d = json.load(open(f"{work}/oha-{side}-wsmall-{r}-c{conns}.json"))
    codes = {int(k): v for k, v in d["statusCodeDistribution"].items()}
    errors = {k: v for k, v in d["errorDistribution"].items() if "deadline" not in k}
    ok = codes.get(201, 0)
    return {"ok": ok, "attempted": sum(codes.values()) + sum(errors.values()),
            "rps": ok / d["summary"]["total"], "p50": d["metrics"]["latency_ms"]["p50"],
            "p99": d["metrics"]["latency_ms"]["p99"], "cpu": int(env[f"{side}_wsmall-{r}-c{conns}_cpu"]) / hz,
            "wcpu": int(env[f"{side}_wsmall-{r}-c{conns}_wcpu"]) / hz}
sides = ("loopgate", "witnessed")
runs = {s: [run(s, r) for r in range(1, rounds + 1)] for s in sides}
med = lambda s, k: statistics.median(r[k] for r in runs[s])
tot = lambda s, k: sum(r[k] for r in runs[s])
n = f"median of {rounds} rounds" if rounds > 1 else "one round"
rps = {s: med(s, "rps") for s in sides}
ratio = rps["witnessed"] / rps["loopgate"]
print("| metric | no witness | two witnesses (quorum 2) | ratio (witnesses/none) | target | |")
print("|---|---:|---:|---:|---|---|")
print(f"| 1 KiB transfers: requests/s (201s, {n}) | {rps['loopgate']:,.0f} | {rps['witnessed']:,.0f} | {ratio:.2f} | ≥ 0.90 | {'**met**' if ratio >= 0.9 else '**MISSED**'} |")
for k, label in (("p50", "p50 latency (ms)"), ("p99", "p99 latency (ms)")):
    a, b = med("loopgate", k), med("witnessed", k)
    print(f"| 1 KiB transfers: {label} | {a:.2f} | {b:.2f} | {b / a:.2f} | | |")
cpu = {s: tot(s, "cpu") / max(1, tot(s, "ok")) * 1e3 for s in sides}
print(f"| 1 KiB transfers: CPU per transfer (ms; loopgate, and the witnesses on the right) | {cpu['loopgate']:.3f} | {cpu['witnessed']:.3f} | {cpu['witnessed'] / cpu['loopgate']:.2f} | | |")
print(f"| 1 KiB transfers: of which the two witnesses' CPU (ms) | | {tot('witnessed', 'wcpu') / max(1, tot('witnessed', 'ok')) * 1e3:.3f} | | | |")
print(f"| 1 KiB transfers: answered 201 (all rounds) | {tot('loopgate', 'ok'):,}/{tot('loopgate', 'attempted'):,} | {tot('witnessed', 'ok'):,}/{tot('witnessed', 'attempted'):,} | | all | {'**met**' if all(tot(s, 'ok') == tot(s, 'attempted') for s in sides) else '**MISSED**'} |")
print()
for s in sides:
    print(f"- {'no witness' if s == 'loopgate' else 'two witnesses'}, every round: " + ", ".join(f"{r['rps']:,.0f}" for r in runs[s]) + " requests/s")
print("- the witnessed gateway's receipts were checked `\"cosigned\": true` before and after the runs; "
      "its witnesses' cosigned sizes at the end: " + "; ".join(l.strip() for l in open(f"{work}/witness-metrics")))
# Means over these rounds (warm-ups included), from the witnessed gateway's histograms.
sums = {}
for sign, file in ((-1, f"witness-metrics-before-{conns}"), (1, f"witness-metrics-all-{conns}")):
    for line in open(f"{work}/{file}"):
        for name in ("witness_request_seconds", "witness_receipt_wait_seconds"):
            for part in ("sum", "count"):
                if line.startswith(f"loopgate_{name}_{part}"):
                    sums[(name, part)] = sums.get((name, part), 0.0) + sign * float(line.split()[-1])
def mean_ms(name):
    count = sums.get((name, "count"), 0.0)
    return f"{sums.get((name, 'sum'), 0.0) / count * 1e3:.2f} ms over {count:,.0f}" if count else "none"
print(f"- mean add-checkpoint request (both witnesses): {mean_ms('witness_request_seconds')}; "
      f"mean receipt wait for its cosigned checkpoint: {mean_ms('witness_receipt_wait_seconds')}")
EOT
}

# ---------------------------------------------------------------------------------------------
# Setup.

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_tools
if [ "$PROFILE" = 1 ]; then
    command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install linux-perf)"
    KEEP_WORKDIR=1
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((SLOW_CONNS * 2 + 200)) ] ||
    die "ulimit -n is $(ulimit -n); $((SLOW_CONNS * 2 + 200)) file descriptors are needed for SLOW_CONNS=$SLOW_CONNS"

start_servers
# bench/mixed.sh sources this script for the setup above (tools, release build, dev folder,
# upstream, loopgate, baseline, and the cleanup trap) and runs its own load.
if [ "${BENCH_SETUP_ONLY:-0}" = 1 ]; then return 0 2>/dev/null || exit 0; fi
OHA_COMMON=(--no-tui --output-format json --http-version 1.1 --ipv4 -m POST "${TRANSFER_HEADERS[@]}" "${CLIENT_TLS[@]}")

# The witness comparison alone (WITNESS_ONLY=1).
witness_header() {
    echo "## Transfer path: loopgate without and with two witnesses ($1)"
    echo
    echo "- command: \`WITNESS_ONLY=$WITNESS_ONLY bash bench/transfer.sh\` (ROUNDS=$ROUNDS WITNESS_DURATION=$WITNESS_DURATION WITNESS_CONNS=$WITNESS_CONNS WARMUP=$WARMUP)"
    echo "- loopgate $commit; $(oha --version | head -n 1); two \`loopgate witness serve\` processes on 127.0.0.1 (plain HTTP), witness_quorum = 2, each fsyncs its state before it answers"
    echo "- machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg); client, gateways, witnesses and upstream share the cores"
    [ -n "$NOTE" ] && echo "- note: $NOTE"
    echo
}
if [ "$WITNESS_ONLY" = 1 ]; then
    witness_compare
    mkdir -p "$RESULTS_DIR"
    stamp=$(date -u +%Y-%m-%dT%H%MZ)
    out=$RESULTS_DIR/transfer-witness-$stamp.md
    { witness_header "$stamp"; cat "$WORK/witness-table.md"; } >"$out"
    cat "$out"
    log "written to $out"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Memory: idle, one small and one big body, 1,000 slow uploads (fresh processes, before the load).

RSS=$WORK/rss.env
: >"$RSS"
record() { echo "$1=$2" >>"$RSS"; }

for side in loopgate nginx; do
    # shellcheck disable=SC2046
    record "${side}_idle" "$(rss_kb $(side_pids "$side"))"
done

log "generating bodies (${RSS_SMALL_MIB} MiB, ${RSS_BIG_MIB} MiB, ${LARGE_MIB} MiB)"
head -c $((RSS_SMALL_MIB << 20)) /dev/urandom >"$WORK/body-rss-small"
head -c $((RSS_BIG_MIB << 20)) /dev/urandom >"$WORK/body-rss-big"
head -c $((LARGE_MIB << 20)) /dev/urandom >"$WORK/body-large"

# Peak RSS of SIDE while one body streams through it: VmHWM reset before, read after, and VmRSS
# sampled every 50 ms in case the kernel does not allow the reset.
peak_during_upload() { # side file key
    local side=$1 pids before peak=0 now status started
    pids=$(side_pids "$side")
    # shellcheck disable=SC2086
    before=$(rss_kb $pids)
    local hwm_ok=1
    # shellcheck disable=SC2086
    reset_hwm $pids || hwm_ok=0
    started=$(date +%s.%N)
    curl_transfer "$side" "$2" >"$WORK/curl-status" &
    local curl_pid=$!
    while kill -0 "$curl_pid" 2>/dev/null; do
        # shellcheck disable=SC2086
        now=$(rss_kb $pids)
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.05
    done
    wait "$curl_pid" || true
    status=$(cat "$WORK/curl-status")
    [ "$status" = 201 ] || die "$side: the ${3} upload answered $status: $(cat "$WORK/curl-body")"
    if [ "$hwm_ok" = 1 ]; then
        # shellcheck disable=SC2086
        now=$(status_kb VmHWM $pids)
        [ "$now" -gt "$peak" ] && peak=$now
    fi
    record "${side}_${3}_before" "$before"
    record "${side}_${3}_peak" "$peak"
    record "${side}_${3}_seconds" "$(python3 -c "import time; print(f'{time.time() - $started:.2f}')")"
    log "$side: $3 body: RSS $((before / 1024)) MiB before, peak $((peak / 1024)) MiB"
}

for side in loopgate nginx; do
    peak_during_upload "$side" "$WORK/body-rss-small" small
    peak_during_upload "$side" "$WORK/body-rss-big" big
done
rm -f "$WORK/body-rss-big"

slow_uploads() { # side
    local side=$1 pids before peak=0 now ready
    pids=$(side_pids "$side")
    # shellcheck disable=SC2086
    before=$(rss_kb $pids)
    python3 "$here/slow_uploads.py" --port "$(side_port "$side")" --ca "$PKI/ca.pem" \
        --cert "$PKI/tenant-sz-genomics.pem" --key "$PKI/tenant-sz-genomics.key" \
        -n "$SLOW_CONNS" --hold 600 >"$WORK/slow-$side.out" 2>"$WORK/slow-$side.err" &
    SLOW_PID=$!
    wait_for_line "$WORK/slow-$side.out" '^ready' 180 || die "$side: the slow uploads did not ramp up"
    ready=$(grep '^ready' "$WORK/slow-$side.out")
    sleep 2
    for _ in $(seq $((SLOW_HOLD * 4))); do
        # shellcheck disable=SC2086
        now=$(rss_kb $pids)
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.25
    done
    kill -TERM "$SLOW_PID"
    wait "$SLOW_PID" || true
    SLOW_PID=
    local done_line open
    done_line=$(grep '^done' "$WORK/slow-$side.out" || echo 'done open=0')
    open=$(sed -n 's/.* open=\([0-9]*\).*/\1/p' <<<"$done_line")
    record "${side}_slow_before" "$before"
    record "${side}_slow_peak" "$peak"
    record "${side}_slow_open" "${open:-0}"
    log "$side: $ready; $done_line; RSS $((before / 1024)) MiB before, $((peak / 1024)) MiB held"
    if [ -s "$WORK/slow-$side.err" ]; then sed 's/^/bench:   /' "$WORK/slow-$side.err" >&2; fi
    # Let the server record the 1,000 interrupted transfers and close the upstream connections.
    sleep 5
}

for side in loopgate nginx; do
    log "$side: $SLOW_CONNS slow uploads, held ${SLOW_HOLD}s"
    slow_uploads "$side"
done

# ---------------------------------------------------------------------------------------------
# Throughput with oha.

upstream_count() { # lines of the upstream's access log with status 201 and at least N bytes
    awk -v min="$1" '$1 == 201 && $2 >= min { n++ } END { print n + 0 }' "$WORK/upstream-access.log"
}

# One oha run against SIDE; records the CPU the side used during it.
oha_run() { # side name oha-args...
    local side=$1 name=$2 pids before
    shift 2
    pids=$(side_pids "$side")
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    if [ "$PROFILE" = 1 ] && [ "$side" = loopgate ] && [[ $name == *-1 ]] && [[ $name != warmup* ]]; then
        perf_start "perf-$name"
    fi
    oha "${OHA_COMMON[@]}" -o "$WORK/oha-$side-$name.json" "$@" "https://localhost:$(side_port "$side")/v1/transfers"
    perf_stop "perf-$name"
    # shellcheck disable=SC2086
    record "${side}_${name}_cpu" $(($(cpu_ticks $pids) - before))
}
# The two sides in turn, the first one alternating from round to round.
sides_for_round() {
    if [ $(($1 % 2)) = 1 ]; then echo loopgate nginx; else echo nginx loopgate; fi
}

for round in $(seq "$ROUNDS"); do
    for side in $(sides_for_round "$round"); do
        log "round $round/$ROUNDS, $side: warm-up ${WARMUP}s, then 1 KiB transfers for ${SMALL_DURATION}s on $SMALL_CONNS connections"
        oha_run "$side" "warmup-$round" -c "$SMALL_CONNS" -z "${WARMUP}s" -D "$WORK/body-1k"
        oha_run "$side" "small-$round" -c "$SMALL_CONNS" -z "${SMALL_DURATION}s" -D "$WORK/body-1k"
    done
done
# A warm-up of large bodies for each side, as the 1 KiB runs have: whichever side went first
# into the large rounds paid for the first large bodies of the run (most likely the upstream's
# temp files' first pages and the side's own first large buffers). Without it, loopgate's first
# large round, which always went first, was the slowest of its three in every run (601-707 MB/s
# against 720-788); with it, 766 and 802 MB/s.
if [ "$LARGE_WARMUP" -gt 0 ]; then
    for side in loopgate nginx; do
        log "$side: warm-up, $LARGE_WARMUP transfers of $LARGE_MIB MiB on $LARGE_CONNS connections"
        oha_run "$side" "warmup-large" -c "$LARGE_CONNS" -n "$LARGE_WARMUP" -D "$WORK/body-large"
    done
fi
for round in $(seq "$ROUNDS"); do
    for side in $(sides_for_round "$round"); do
        log "round $round/$ROUNDS, $side: $LARGE_REQUESTS transfers of $LARGE_MIB MiB on $LARGE_CONNS connections"
        before=$(upstream_count $((LARGE_MIB << 20)))
        oha_run "$side" "large-$round" -c "$LARGE_CONNS" -n "$LARGE_REQUESTS" -D "$WORK/body-large"
        sleep 1
        record "${side}_large-${round}_upstream" $(($(upstream_count $((LARGE_MIB << 20))) - before))
    done
done

# ---------------------------------------------------------------------------------------------
# The table.

mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y-%m-%dT%H%MZ)
out=$RESULTS_DIR/transfer-$stamp.md
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK" "$RSS" "$ROUNDS" "$LARGE_MIB" "$RSS_SMALL_MIB" "$RSS_BIG_MIB" "$SLOW_CONNS" "$(getconf CLK_TCK)" >"$WORK/table.md" <<'EOF'
import json, statistics, sys
work, rss_path = sys.argv[1:3]
rounds, large_mib, small_mib, big_mib, slow_conns, hz = map(int, sys.argv[3:])
rss = dict(line.strip().split("=", 1) for line in open(rss_path) if "=" in line)
kb = lambda k: float(rss[k])
sides = ("loopgate", "nginx")

def oha(side, run):
    d = json.load(open(f"{work}/oha-{side}-{run}.json"))
    codes = {int(k): v for k, v in d["statusCodeDistribution"].items()}
    # oha cuts off the requests in flight when a timed run ends: not attempts.
    errors = {k: v for k, v in d["errorDistribution"].items() if "deadline" not in k}
    ok = codes.get(201, 0)
    return {
        "ok": ok, "attempted": sum(codes.values()) + sum(errors.values()),
        "seconds": d["summary"]["total"], "rps": ok / d["summary"]["total"],
        "mbps": ok * (large_mib << 20) / d["summary"]["total"] / 1e6,
        "p50": d["metrics"]["latency_ms"]["p50"], "p99": d["metrics"]["latency_ms"]["p99"],
        "cpu": int(rss[f"{side}_{run}_cpu"]) / hz,
        "upstream": int(rss.get(f"{side}_{run}_upstream", 0)),
        "others": {**{str(k): v for k, v in codes.items() if k != 201}, **errors},
    }

runs = {(s, kind): [oha(s, f"{kind}-{r}") for r in range(1, rounds + 1)] for s in sides for kind in ("small", "large")}
med = lambda s, kind, key: statistics.median(r[key] for r in runs[(s, kind)])
total = lambda s, kind, key: sum(r[key] for r in runs[(s, kind)])

rows = []
def row(metric, lg, nx, fmt, target="", met=""):
    ratio = f"{lg / nx:.2f}" if nx else ""
    rows.append((metric, fmt.format(lg), fmt.format(nx), ratio, target, met))
verdict = lambda ok: "**met**" if ok else "**MISSED**"
n = f"median of {rounds} rounds" if rounds > 1 else "one round"

rps = {s: med(s, "small", "rps") for s in sides}
row(f"1 KiB transfers: requests/s (201s, {n})", rps["loopgate"], rps["nginx"], "{:,.0f}",
    "≥ 0.5x nginx", verdict(rps["loopgate"] >= 0.5 * rps["nginx"]))
row("1 KiB transfers: p50 latency (ms)", med("loopgate", "small", "p50"), med("nginx", "small", "p50"), "{:.2f}")
row("1 KiB transfers: p99 latency (ms)", med("loopgate", "small", "p99"), med("nginx", "small", "p99"), "{:.2f}")
row("1 KiB transfers: server CPU per transfer (ms)", *(total(s, "small", "cpu") / max(1, total(s, "small", "ok")) * 1e3 for s in sides), "{:.3f}")
ok_all = lambda kind: all(total(s, kind, "ok") == total(s, kind, "attempted") for s in sides)
rows.append(("1 KiB transfers: answered 201 (all rounds)",
             *(f"{total(s, 'small', 'ok'):,}/{total(s, 'small', 'attempted'):,}" for s in sides), "", "all", verdict(ok_all("small"))))
mbps = {s: med(s, "large", "mbps") for s in sides}
row(f"{large_mib} MiB transfers: MB/s (10^6 B of 201s, {n})", mbps["loopgate"], mbps["nginx"], "{:,.0f}",
    "≥ 0.9x nginx", verdict(mbps["loopgate"] >= 0.9 * mbps["nginx"]))
row(f"{large_mib} MiB transfers: server CPU per GB (s)",
    *(total(s, "large", "cpu") / max(1e-9, total(s, "large", "ok") * (large_mib << 20) / 1e9) for s in sides), "{:.2f}")
complete = all(total(s, "large", "ok") == total(s, "large", "upstream") for s in sides)
rows.append((f"{large_mib} MiB transfers: answered 201 (all rounds; bodies complete at the upstream)",
             *(f"{total(s, 'large', 'ok')}/{total(s, 'large', 'attempted')} ({total(s, 'large', 'upstream')})" for s in sides),
             "", "all", verdict(ok_all("large") and complete)))
mib = "{:,.1f}"
row("RSS idle, fresh process (MiB)", kb("loopgate_idle") / 1024, kb("nginx_idle") / 1024, mib)
row(f"RSS peak, one {small_mib} MiB transfer (MiB)", kb("loopgate_small_peak") / 1024, kb("nginx_small_peak") / 1024, mib)
growth = (kb("loopgate_big_peak") - kb("loopgate_small_peak")) / 1024
row(f"RSS peak, one {big_mib:,} MiB transfer (MiB)", kb("loopgate_big_peak") / 1024, kb("nginx_big_peak") / 1024, mib,
    "independent of body size: within 32 MiB of the row above", verdict(growth <= 32))
row(f"RSS with {slow_conns:,} slow uploads held (MiB)", kb("loopgate_slow_peak") / 1024, kb("nginx_slow_peak") / 1024, mib)
per = {s: (kb(f"{s}_slow_peak") - kb(f"{s}_slow_before")) / max(1, int(rss[f"{s}_slow_open"])) for s in sides}
row("RSS per held slow upload (KiB, peak over the RSS before)", per["loopgate"], per["nginx"], "{:,.1f}")
rows.append(("slow uploads still held when sampling ended", rss["loopgate_slow_open"], rss["nginx_slow_open"], "",
             f"{slow_conns:,}", verdict(all(int(rss[f"{s}_slow_open"]) == slow_conns for s in sides))))

print("| metric | loopgate | nginx | ratio (loopgate/nginx) | target | |")
print("|---|---:|---:|---:|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
fmt = lambda xs, f: ", ".join(f.format(x) for x in xs)
for s in sides:
    print(f"- {s}, every round: 1 KiB {fmt([r['rps'] for r in runs[(s, 'small')]], '{:,.0f}')} requests/s "
          f"({fmt([r['cpu'] / max(1, r['ok']) * 1e3 for r in runs[(s, 'small')]], '{:.3f}')} ms CPU per transfer); "
          f"{large_mib} MiB {fmt([r['mbps'] for r in runs[(s, 'large')]], '{:,.0f}')} MB/s")
    for kind in ("small", "large"):
        for i, r in enumerate(runs[(s, kind)], 1):
            if r["others"]:
                print(f"- {s}, {kind} round {i}: answers other than 201: {r['others']}")
print(f"- the one {big_mib:,} MiB transfer took {float(rss['loopgate_big_seconds']):.1f} s through loopgate "
      f"and {float(rss['nginx_big_seconds']):.1f} s through nginx.")
EOF

{
    echo "## Transfer path: loopgate vs nginx ($stamp)"
    echo
    echo "- command: \`bash bench/transfer.sh\` (ROUNDS=$ROUNDS SMALL_DURATION=$SMALL_DURATION SMALL_CONNS=$SMALL_CONNS WARMUP=$WARMUP LARGE_MIB=$LARGE_MIB LARGE_REQUESTS=$LARGE_REQUESTS LARGE_CONNS=$LARGE_CONNS LARGE_WARMUP=$LARGE_WARMUP SLOW_CONNS=$SLOW_CONNS SLOW_HOLD=$SLOW_HOLD RSS_BIG_MIB=$RSS_BIG_MIB WORKERS=$WORKERS)"
    echo "- loopgate $commit; $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') (baseline and upstream, $WORKERS workers each); $(oha --version | head -n 1); $(python3 --version)"
    echo "- machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r); load average (1, 5, 15 min) at the start: $LOAD_START, at the end: $load"
    echo "- client (oha, python), loopgate or the baseline, and the upstream all run on this one machine and share its cores: absolute numbers are lower bounds, the ratios are what to compare."
    [ -n "$NOTE" ] && echo "- note: $NOTE"
    echo
    cat "$WORK/table.md"
} >"$out"
cat "$out"
log "written to $out"

if [ "$WITNESSES" = 1 ]; then
    witness_compare
    { echo; echo "### Without and with two witnesses on loopback"; echo; cat "$WORK/witness-table.md"; } >>"$out"
    cat "$WORK/witness-table.md"
    log "appended to $out"
fi
