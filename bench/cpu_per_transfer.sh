#!/usr/bin/env bash
# CPU time per 1 KiB transfer, loopgate against nginx in the same run: the number that a noisy
# or small machine affects far less than requests/s. Sets up what bench/transfer.sh does (shared
# nginx upstream, loopgate, nginx as the mTLS streaming proxy; see bench/lib.sh), then per round
# and side sends a warm-up and then exactly TRANSFERS 1 KiB transfers with oha on CONNS
# keep-alive connections, and divides the CPU the side used (user + system from /proc/PID/stat,
# all threads, nginx's workers included) by the 201 answers.
#
#   bash bench/cpu_per_transfer.sh
#
# Knobs: TRANSFERS (20000), CONNS (64), WARMUP_TRANSFERS (2000), ROUNDS (2, the sides taking
# turns), LOOPGATE_BIN (skip the build), PROFILE=1 (perf record loopgate in round 1; its number
# is then not comparable, and the report is kept in the temp folder).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TRANSFERS=${TRANSFERS:-20000}
CONNS=${CONNS:-64}
WARMUP_TRANSFERS=${WARMUP_TRANSFERS:-2000}
ROUNDS=${ROUNDS:-2}
PROFILE=${PROFILE:-0}

# shellcheck source=bench/lib.sh
source "$here/lib.sh"

ensure_tools
if [ "$PROFILE" = 1 ]; then
    command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install linux-perf)"
    KEEP_WORKDIR=1
fi
start_servers

OHA=(oha --no-tui --output-format json --http-version 1.1 --ipv4 -m POST "${TRANSFER_HEADERS[@]}" "${CLIENT_TLS[@]}"
    -c "$CONNS" -D "$WORK/body-1k")

hz=$(getconf CLK_TCK)
results=()
for round in $(seq "$ROUNDS"); do
    sides=(loopgate nginx)
    [ $((round % 2)) = 0 ] && sides=(nginx loopgate)
    for side in "${sides[@]}"; do
        url="https://localhost:$(side_port "$side")/v1/transfers"
        "${OHA[@]}" -n "$WARMUP_TRANSFERS" -o "$WORK/oha-warmup.json" "$url"
        pids=$(side_pids "$side")
        if [ "$PROFILE" = 1 ] && [ "$side" = loopgate ] && [ "$round" = 1 ]; then
            perf_start perf
        fi
        # shellcheck disable=SC2086
        before=$(cpu_ticks $pids)
        "${OHA[@]}" -n "$TRANSFERS" -o "$WORK/oha-$side-$round.json" "$url"
        # shellcheck disable=SC2086
        used=$(($(cpu_ticks $pids) - before))
        perf_stop perf
        read -r ok bad rps p50 < <(answers "$WORK/oha-$side-$round.json")
        [ "$bad" = 0 ] || log "$side, round $round: $bad answers other than 201 (see $WORK/oha-$side-$round.json)"
        [ "$ok" -gt 0 ] || die "$side, round $round: no 201 answers"
        us=$(python3 -c "print(f'{$used / $hz / $ok * 1e6:.1f}')")
        log "$side, round $round: $ok transfers, $(python3 -c "print($used / $hz)") s CPU: $us µs per transfer ($rps/s, p50 $p50 ms; both depend on the machine's load)"
        results+=("$side $us")
    done
done

# The median over the rounds per side, and the ratio.
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
per = {}
for line in sys.stdin:
    side, us = line.split()
    per.setdefault(side, []).append(float(us))
lg, nx = statistics.median(per["loopgate"]), statistics.median(per["nginx"])
for side, med in (("loopgate", lg), ("nginx", nx)):
    rounds = ", ".join(f"{us:.1f}" for us in per[side])
    label = side + ":"
    print(f"{label:10}{med:.1f} µs CPU per 1 KiB transfer (rounds: {rounds})")
print(f"ratio loopgate/nginx: {lg / nx:.2f}")
'
log "loopgate $commit; load average $(cut -d' ' -f1-3 /proc/loadavg)"
