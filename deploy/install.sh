#!/usr/bin/env bash
# Installs loopgate on a systemd host without dpkg (the .deb does the same; see deploy/README.md).
#
#   deploy/install.sh [--prefix DIR] [--binary FILE] [DESTDIR=DIR]
#
# --prefix   where the binary and the vendor files go (default /usr): PREFIX/bin/loopgate,
#            PREFIX/lib/systemd/system/loopgate.service, PREFIX/lib/sysusers.d/loopgate.conf,
#            PREFIX/lib/tmpfiles.d/loopgate.conf, PREFIX/share/doc/loopgate/, the man pages
#            (PREFIX/share/man/man1/) and the bash, zsh and fish completions. The unit's
#            ExecStart= lines are rewritten to PREFIX/bin/loopgate.
# --binary   the loopgate binary to install (default: target/release/loopgate of this checkout).
# DESTDIR    a staging root (also read from the environment): every path is written under it and
#            nothing outside it is touched: no user is created, no systemctl is run.
#
# /etc/loopgate/gateway.toml is written from deploy/gateway.toml only when it does not exist yet:
# an operator's config is never overwritten. Without DESTDIR it then runs systemd-sysusers,
# systemd-tmpfiles and `systemctl daemon-reload` when they are present. It never starts or
# enables the service: that is the operator's step after the config is written.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix=/usr
binary="$here/../target/release/loopgate"
destdir="${DESTDIR:-}"

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
        --binary=*) binary="${1#--binary=}"; shift ;;
        DESTDIR=*) destdir="${1#DESTDIR=}"; shift ;;
        -h | --help) usage; exit 0 ;;
        *) printf 'install.sh: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
    esac
done

case "$prefix" in
    /*) prefix="${prefix%/}" ;;
    *) printf 'install.sh: --prefix must be an absolute path, not %s\n' "$prefix" >&2; exit 2 ;;
esac
if [ -n "$destdir" ]; then
    mkdir -p "$destdir"
    destdir="$(cd "$destdir" && pwd)"
fi
if [ ! -x "$binary" ]; then
    printf 'install.sh: no executable %s: build it with "cargo build --release -p loopgate" or pass --binary FILE\n' \
        "$binary" >&2
    exit 1
fi

root="$destdir"
bindir="$prefix/bin"
unitdir="$prefix/lib/systemd/system"
docdir="$prefix/share/doc/loopgate"
sysusersdir="$prefix/lib/sysusers.d"
tmpfilesdir="$prefix/lib/tmpfiles.d"
mandir="$prefix/share/man/man1"
bashcompdir="$prefix/share/bash-completion/completions"
zshcompdir="$prefix/share/zsh/site-functions"
fishcompdir="$prefix/share/fish/vendor_completions.d"
confdir=/etc/loopgate

say() { printf 'install.sh: %s\n' "$*"; }

install -d -m 0755 "$root$bindir" "$root$unitdir" "$root$sysusersdir" "$root$tmpfilesdir" \
    "$root$docdir/examples"
install -m 0755 "$binary" "$root$bindir/loopgate"
say "installed $root$bindir/loopgate"

unit_tmp="$(mktemp)"
trap 'rm -f "$unit_tmp"' EXIT
sed "s#/usr/bin/loopgate #$bindir/loopgate #g" "$here/loopgate.service" >"$unit_tmp"
install -m 0644 "$unit_tmp" "$root$unitdir/loopgate.service"
install -m 0644 "$here/loopgate.sysusers" "$root$sysusersdir/loopgate.conf"
install -m 0644 "$here/loopgate.tmpfiles" "$root$tmpfilesdir/loopgate.conf"
install -m 0644 "$here/gateway.toml" "$root$docdir/examples/gateway.toml"
install -m 0644 "$here/policy.toml" "$root$docdir/examples/policy.toml"
install -m 0644 "$here/README.md" "$root$docdir/README.md"
say "installed $root$unitdir/loopgate.service, sysusers.d and tmpfiles.d entries, $root$docdir"

# Generated from the CLI definition and kept current by a test (gateway/tests/deploy.rs), so
# they are installed as files: the binary may be built for another machine than this one.
install -d -m 0755 "$root$mandir" "$root$bashcompdir" "$root$zshcompdir" "$root$fishcompdir"
install -m 0644 "$here"/man/*.1 "$root$mandir/"
install -m 0644 "$here/completions/loopgate.bash" "$root$bashcompdir/loopgate"
install -m 0644 "$here/completions/_loopgate" "$root$zshcompdir/_loopgate"
install -m 0644 "$here/completions/loopgate.fish" "$root$fishcompdir/loopgate.fish"
say "installed the man pages ($root$mandir) and the bash, zsh and fish completions"

# The folder's owner and mode come from tmpfiles (0750 root:loopgate) on a real install; in a
# staging root there may be no loopgate group, so it is only made here.
install -d -m 0750 "$root$confdir"
if [ -e "$root$confdir/gateway.toml" ]; then
    say "kept the existing $root$confdir/gateway.toml (the example is in $root$docdir/examples/)"
else
    install -m 0644 "$here/gateway.toml" "$root$confdir/gateway.toml"
    say "wrote the example config to $root$confdir/gateway.toml: edit it before starting"
fi

if [ -n "$destdir" ]; then
    say "DESTDIR set: no user created, no systemctl run; on the target host run:"
    say "  systemd-sysusers $sysusersdir/loopgate.conf && systemd-tmpfiles --create $tmpfilesdir/loopgate.conf && systemctl daemon-reload"
    exit 0
fi

if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers "$sysusersdir/loopgate.conf"
    say "ensured the loopgate user and group"
else
    say "no systemd-sysusers: create the system user loopgate (home /var/lib/loopgate) yourself"
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create "$tmpfilesdir/loopgate.conf"
    say "made /etc/loopgate, /etc/loopgate/pki and /var/lib/loopgate with their owners"
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    say "reloaded systemd; next: deploy/README.md's first-day runbook, then systemctl enable --now loopgate"
else
    say "systemd is not running here: no daemon-reload"
fi
