#!/bin/sh
# The README's quick start on a fresh clone, as a newcomer follows it: clones the repository's
# current commit (HEAD) into a temporary folder, checks that README.md still opens with the two
# commands (dev mode, the test suite), starts dev mode and runs every block README.md marks
# `<!-- quickstart -->`, in order, in one `sh -e` session. Run by tests/tests/quickstart.rs.
#
# Usage: tests/quickstart.sh LOOPGATE_BINARY
#
# What it does not do literally, and why:
# - the release build: the given binary (already built) is linked as target/release/loopgate,
#   where `cargo run --release -p loopgate -- serve` would put it, and run as that command runs it;
# - the ports: dev mode listens on 8443, 9464 and 9443, which a test running beside others
#   cannot count on; the folder is made first (`loopgate dev init`, what `serve` does first in
#   dev mode), its listeners set to 127.0.0.1:0, and the blocks' `localhost:8443` and
#   `127.0.0.1:9464` replaced by the ports it printed. Everything listens on 127.0.0.1 only.
set -eu

bin=${1:?usage: tests/quickstart.sh LOOPGATE_BINARY}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf 'quickstart: %s\n' "$*" >&2; }

git clone -q "$repo" "$work/loopgate"
cd "$work/loopgate"
say "cloned $(git rev-parse --short HEAD) into $work/loopgate"

# The two commands at the very top stay as they are.
top=$(awk '/^```/ { n++; next } n == 1 { print } n >= 2 { exit }' README.md)
expected='cargo run --release -p loopgate -- serve
cargo test --workspace --locked'
if [ "$top" != "$expected" ]; then
    say "README.md's first block is not the two commands:"; printf '%s\n' "$top" >&2
    exit 1
fi

# The blocks marked for the quick start, in order.
awk '
    /^<!-- quickstart -->$/ { marked = 1; next }
    marked && /^```sh$/ { inside = 1; marked = 0; next }
    inside && /^```$/ { inside = 0; print ""; next }
    inside { print; next }
    { marked = 0 }
' README.md > "$work/tour.sh"
blocks=$(grep -c '^<!-- quickstart -->$' README.md || true)
if [ "$blocks" -lt 6 ]; then
    say "README.md marks $blocks quick-start blocks, expected the tour's (at least 6)"
    exit 1
fi

# `cargo run --release -p loopgate -- serve`, the build skipped.
mkdir -p target/release
ln -s "$bin" target/release/loopgate
target/release/loopgate dev init > "$work/init.out"
sed -i -e 's/^listen = "127\.0\.0\.1:[0-9]*"/listen = "127.0.0.1:0"/' \
    -e 's/^ops_listen = "127\.0\.0\.1:[0-9]*"/ops_listen = "127.0.0.1:0"/' loopgate-dev/gateway.toml
if grep -E '^(ops_)?listen = "127\.0\.0\.1:[1-9]' loopgate-dev/gateway.toml >&2; then
    say "a listener above is still on a fixed port"; exit 1
fi
RUST_LOG=warn target/release/loopgate serve > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
i=0
until grep -q '^loopgate: ops http://' "$work/serve.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
        say "dev mode did not start:"; cat "$work/serve.out" "$work/serve.err" >&2
        exit 1
    fi
    sleep 0.1
done
api=$(sed -n 's|^loopgate: api https://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$work/serve.out")
ops=$(sed -n 's|^loopgate: ops http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$work/serve.out")
say "dev mode serves on 127.0.0.1:$api (ops $ops)"

sed -i -e "s|localhost:8443|localhost:$api|g" -e "s|127\.0\.0\.1:9464|127.0.0.1:$ops|g" "$work/tour.sh"
# Every `audit verify` in the tour must say ok (set -e stops at the first that does not).
verifies=$(grep -c 'audit verify' "$work/tour.sh")
say "running $blocks blocks with $verifies offline checks"
sh -e "$work/tour.sh" > "$work/tour.out" 2>&1 || {
    status=$?
    say "the tour failed (exit $status):"; cat "$work/tour.sh" "$work/tour.out" >&2
    exit 1
}
cat "$work/tour.out"
oks=$(grep -c '^ok: ' "$work/tour.out" || true)
if [ "$oks" -ne "$verifies" ]; then
    say "$oks of $verifies offline checks said ok"; exit 1
fi
say "ok: the quick start holds ($blocks blocks, $oks offline checks)"
