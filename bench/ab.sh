#!/usr/bin/env bash
# A/B: two loopgate builds (or one build under two environments) against each other, in
# alternating short runs of 1 KiB transfers, each paired with an nginx run on the same setup so
# that a machine whose speed drifts between minutes does not decide the comparison. This is how
# the per-change rows of the README's Performance section were measured.
#
#   bash bench/ab.sh BIN_A BIN_B
#   AB_ENV_B="SOME_SWITCH=1" bash bench/ab.sh BIN BIN     # one binary, two environments
#
# Every run sets everything up afresh (bench/lib.sh: shared nginx upstream, loopgate with an
# empty log, the nginx baseline), warms up, then drives loopgate and then nginx with oha for
# DURATION seconds each and prints one line: requests/s of both, their ratio, the CPU per
# transfer of both (user + system from /proc, all threads) and loopgate's CPU per transfer by
# thread (names without their -N suffix). Runs go A, B, A, B, ...; compare the ratios pairwise.
#
# Knobs: PAIRS (3), DURATION (8), CONNS (64), WARMUP (2 seconds), AB_ENV_A / AB_ENV_B
# (space-separated VAR=value given to that side's loopgate).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2}

usage() {
    echo "usage: bash bench/ab.sh BIN_A BIN_B   (see the comment at the top for the knobs)" >&2
    exit 64
}

# One run: set up, measure, print the line. Run in its own process so lib.sh's exit trap
# stops its servers before the next run starts.
one_run() { # label binary
    local label=$1
    LOOPGATE_BIN=$2
    # shellcheck source=bench/lib.sh
    source "$here/lib.sh"
    ensure_tools
    start_servers
    local oha=(oha --no-tui --output-format json --http-version 1.1 --ipv4 -m POST "${TRANSFER_HEADERS[@]}"
        "${CLIENT_TLS[@]}" -c "$CONNS" -D "$WORK/body-1k")
    threads() { # pid: "tid name ticks" per thread
        local t
        for t in /proc/"$1"/task/*; do
            printf '%s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(awk '{ print $14 + $15 }' "$t/stat")"
        done
    }
    local side pids before used url ok bad rps
    declare -A count rate cpu
    for side in loopgate nginx; do
        url="https://localhost:$(side_port "$side")/v1/transfers"
        "${oha[@]}" -z "${WARMUP}s" -o "$WORK/warmup.json" "$url"
        pids=$(side_pids "$side")
        [ "$side" = loopgate ] && threads "$LG_PID" >"$WORK/threads-0"
        # shellcheck disable=SC2086
        before=$(cpu_ticks $pids)
        "${oha[@]}" -z "${DURATION}s" -o "$WORK/oha-$side.json" "$url"
        # shellcheck disable=SC2086
        used=$(($(cpu_ticks $pids) - before))
        [ "$side" = loopgate ] && threads "$LG_PID" >"$WORK/threads-1"
        read -r ok bad rps _ < <(answers "$WORK/oha-$side.json")
        [ "$bad" = 0 ] || log "$label, $side: $bad answers other than 201 (see $WORK/oha-$side.json)"
        count[$side]=$ok rate[$side]=$rps cpu[$side]=$used
    done
    python3 - "$label" "${count[loopgate]}" "${count[nginx]}" "${rate[loopgate]}" "${rate[nginx]}" \
        "${cpu[loopgate]}" "${cpu[nginx]}" "$(getconf CLK_TCK)" "$WORK/threads-0" "$WORK/threads-1" <<'EOF'
import re, sys
label, lg_ok, ng_ok, lg_rps, ng_rps, lg_cpu, ng_cpu, hz, t0, t1 = sys.argv[1:]
lg_ok, ng_ok, lg_rps, ng_rps, hz = int(lg_ok), int(ng_ok), float(lg_rps), float(ng_rps), int(hz)
if lg_ok == 0 or ng_ok == 0:
    sys.exit(f"{label}: no 201 answers (loopgate {lg_ok}, nginx {ng_ok})")
us = lambda ticks, n: ticks / hz / n * 1e6
before = {l.split()[0]: int(l.split()[2]) for l in open(t0)}
by_name = {}
for line in open(t1):
    tid, name, ticks = line.split()
    name = re.sub(r"-\d+$", "", name)
    by_name[name] = by_name.get(name, 0) + int(ticks) - before.get(tid, 0)
threads = " ".join(f"{k}={us(v, lg_ok):.1f}" for k, v in sorted(by_name.items(), key=lambda kv: -kv[1]) if v > 0)
print(f"{label}: loopgate {lg_rps:,.0f}/s nginx {ng_rps:,.0f}/s ratio {lg_rps / ng_rps:.3f}; "
      f"CPU µs per transfer {us(int(lg_cpu), lg_ok):.1f} / {us(int(ng_cpu), ng_ok):.1f}; loopgate threads: {threads}")
EOF
}

if [ "${1:-}" = --one ]; then
    shift
    label=$1 bin=$2 envs=$3
    # One word per VAR=value.
    # shellcheck disable=SC2086,SC2163
    [ -n "$envs" ] && export $envs
    one_run "$label" "$bin"
    exit 0
fi

[ $# = 2 ] || usage
for bin in "$1" "$2"; do [ -x "$bin" ] || { echo "bench/ab.sh: $bin is not an executable" >&2; exit 66; }; done
# The tools once, before the first run (ensure_tools installs what is missing).
(
    # shellcheck source=bench/lib.sh
    source "$here/lib.sh"
    ensure_tools
)
for pair in $(seq "$PAIRS"); do
    bash "$0" --one "A$pair" "$1" "${AB_ENV_A:-}"
    bash "$0" --one "B$pair" "$2" "${AB_ENV_B:-}"
done
