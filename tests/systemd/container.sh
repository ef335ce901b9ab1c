# shellcheck shell=bash
# A real systemd in a systemd-nspawn container, for tests; sourced by the
# test scripts. The recipe and its pitfalls are measured in
# ../shared/notes/systemd-in-a-container.md: the host has no systemd as PID 1,
# so nspawn runs without a bus (--register=no --keep-unit) in a cgroup of its
# own, and we drive the container with nsenter.
#
#   make_root SUITE DIR    debootstrap SUITE with prosody into DIR (cached as a tarball)
#   cache_root SUITE       make SUITE's cached tarball when it is missing
#   boot DIR NAME          boot it; sets LEADER (the container's PID 1)
#
# SUITE is a Debian release (bookworm, trixie, forky: prosody from the release
# itself) or RELEASE-backports (that release, with prosody and lua-unbound
# from RELEASE-backports, as an admin who wants prosody 13 on it installs it).
#   ct CMD...              run CMD inside the container
#   halt                   power off and remove every cgroup and mount we made
#   suite_start TAG        a suite's start: $bin (built when missing), the
#                          tools, and $work, a scratch directory under
#                          /var/tmp removed (container halted) at exit
#   say, fail, ok, not_ok, expect, expect_eq, summary
#                          the suites' output (the prelude every shell suite
#                          sources, container or not)
#
# Loopback only: --private-network leaves the container nothing but lo.

set -euo pipefail

FXC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FXC_CACHE=${FXC_CACHE:-$FXC_REPO/target/containers}
NSPAWN_PID=
LEADER=
MACHINE=

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_tools() {
  local missing=()
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v zstd >/dev/null || missing+=(zstd)
  if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The mirror apt already uses on this machine.
mirror() {
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# The release a SUITE's root is debootstrapped from.
root_release() { echo "${1%-backports}"; }

# The packages debootstrap puts into SUITE's root: debootstrap does not
# resolve virtual packages, so the real providers are named. A backports
# root gets prosody later, from apt (root_backports).
root_include() {
  local include=systemd,systemd-sysv,dbus,procps,iproute2,python3
  case $1 in *-backports)
    echo "$include"
    return
    ;;
  esac
  include=$include,prosody,lua-bitop,lua-socket,lua-sec
  [ "$1" = bookworm ] || include=$include,lua-unbound
  echo "$include"
}

# What a backports root installs from RELEASE-backports (apt resolves
# prosody's virtual Lua dependencies itself); nothing for a release root.
root_backports() {
  case $1 in *-backports) echo "prosody lua-unbound" ;; esac
}

# The file name of SUITE's tarball without its key: `-` becomes `+`, so that
# a glob for one release's root (trixie-*.tar.zst, here and in
# tests/credentials/read.rs) never matches its backports root.
root_name() { echo "${1//-/+}"; }

# The cached tarball of SUITE's root, keyed on its package lists (for a
# release root the key is the debootstrap list alone, as it always was).
root_tarball() {
  echo "$FXC_CACHE/$(root_name "$1")-$({ root_include "$1"; root_backports "$1"; } | md5sum | cut -c1-8).tar.zst"
}

# debootstrap has no script for a release newer than itself (Debian 12's has
# none for forky, the testing release): those are made like sid.
debootstrap_script() {
  local script=/usr/share/debootstrap/scripts/$1
  [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
  echo "$script"
}

make_root() {
  local suite=$1 dir=$2
  local release include backports tarball log
  release=$(root_release "$suite")
  include=$(root_include "$suite")
  backports=$(root_backports "$suite")
  tarball=$(root_tarball "$suite")
  log=$FXC_CACHE/debootstrap-$suite.log
  rm -rf "$dir"
  mkdir -p "$dir" "$FXC_CACHE"
  # As debootstrap makes it: a root of 0700 (a mktemp -d) makes every step
  # that runs as the prosody user fail (200/CHDIR, no journal stream).
  chmod 0755 "$dir"
  if [ -f "$tarball" ]; then
    tar --zstd -xpf "$tarball" -C "$dir"
    return
  fi
  echo "== debootstrap $suite (cold, one to four minutes)" >&2
  debootstrap --variant=minbase --include="$include" "$release" "$dir" "$(mirror)" "$(debootstrap_script "$release")" >"$log" 2>&1 ||
    { tail -20 "$log" >&2; return 1; }
  if [ -n "$backports" ]; then
    echo "deb $(mirror) $release-backports main" >"$dir/etc/apt/sources.list.d/backports.list"
    # No service starts inside a root that is not booted.
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    # shellcheck disable=SC2086 # a list of package names
    { chroot "$dir" apt-get update -q &&
      chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t "$release-backports" $backports; } >>"$log" 2>&1 ||
      { tail -20 "$log" >&2; return 1; }
    rm -f "$dir/usr/sbin/policy-rc.d"
    chroot "$dir" apt-get clean
  fi
  # Quiet, quick boots: no getty, no network wait.
  rm -f "$dir"/etc/systemd/system/getty.target.wants/* 2>/dev/null || true
  tar --zstd -cpf "$tarball.part" -C "$dir" . && mv "$tarball.part" "$tarball"
  # One root per suite: one of an older package list goes.
  local old
  for old in "$FXC_CACHE/$(root_name "$suite")"-*.tar.zst; do
    [ "$old" = "$tarball" ] || rm -f "$old"
  done
}

# The cached root of SUITE, made (debootstrap, about a minute) when it is
# missing: tests that chroot into it (tests/credentials/read.rs) need it
# before `cargo test` runs.
cache_root() {
  local suite=$1 tmp
  if [ -f "$(root_tarball "$suite")" ]; then
    return 0
  fi
  # Roots of an older package list are stale: only the current one is kept.
  rm -f "$FXC_CACHE/$(root_name "$suite")"-*.tar.zst
  tmp=$(mktemp -d /var/tmp/fxc-root.XXXXXX)
  make_root "$suite" "$tmp/root"
  rm -rf "$tmp"
}

# The major version of the systemd in root DIR (252, 257, 262, ...).
root_systemd() {
  local v
  v=$(dpkg-query --admindir="$1/var/lib/dpkg" -W -f '${Version}' systemd)
  echo "${v%%[.~-]*}"
}

boot() {
  local dir=$1
  MACHINE=$2
  local h unified=
  # systemd 258 dropped cgroup v1: on this hybrid host such a container
  # refuses to boot ("unsupported legacy cgroup hierarchy") unless nspawn
  # gives it a unified hierarchy of its own. Older ones boot as they always
  # did. Decided by the root's systemd, not by its release name.
  [ "$(root_systemd "$dir")" -ge 258 ] && unified=SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
  for h in systemd unified; do
    [ -d /sys/fs/cgroup/$h ] && mkdir -p /sys/fs/cgroup/$h/"$MACHINE"
  done
  setsid sh -c "
    for h in systemd unified; do [ -d /sys/fs/cgroup/\$h/$MACHINE ] && echo \$\$ > /sys/fs/cgroup/\$h/$MACHINE/cgroup.procs; done
    exec env $unified systemd-nspawn -q -D '$dir' -M '$MACHINE' --register=no --keep-unit --private-network -b --console=passive
  " >"$dir.boot.log" 2>&1 </dev/null &
  NSPAWN_PID=$!
  local i state
  # Up to two minutes: five containers may boot at once on two busy cores.
  for i in $(seq 1 600); do
    LEADER=$(pgrep -P "$NSPAWN_PID" | head -1 || true)
    if [ -n "$LEADER" ]; then
      state=$(nsenter -t "$LEADER" -a systemctl is-system-running 2>/dev/null || true)
      case "$state" in running | degraded) return 0 ;; esac
    fi
    sleep 0.2
  done
  echo "the container did not boot; log:" >&2
  tail -30 "$dir.boot.log" >&2
  return 1
}

ct() { nsenter -t "$LEADER" -a "$@"; }

halt() {
  if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
    nsenter -t "$LEADER" -a systemctl poweroff 2>/dev/null || true
  fi
  if [ -n "$NSPAWN_PID" ]; then
    local i
    for i in $(seq 1 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
  fi
  LEADER= NSPAWN_PID=
  # Nothing booted here (a suite that stopped early, or the parent of
  # suites that boot their own): no machine to remove, and an empty name
  # would reach every other machine's entries.
  [ -n "$MACHINE" ] || return 0
  local h
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h/$MACHINE" ] && find "/sys/fs/cgroup/$h/$MACHINE" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Only this machine's entries: other containers (ours, side by side, or
  # another test's) may be running and use theirs.
  rm -rf /run/systemd/nspawn/*/"$MACHINE" 2>/dev/null || true
  rmdir /run/systemd/nspawn/* /run/systemd/nspawn 2>/dev/null || true
}

# Waits until prosody in the container accepts TCP on PORT (default 5222):
# a SIGHUP before prosody has set up its handlers would kill it.
wait_listening() {
  local port=${1:-5222} i
  for i in $(seq 1 150); do
    ct bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

unit_prop() { ct systemctl show -p "$1" --value prosody.service; }

# A step's progress, on stderr; a missing precondition ends the suite.
say() { printf '==> %s\n' "$*" >&2; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# Assertion helpers: every check counts, and the script ends with the count.
PASSED=0
FAILED=0
ok() {
  PASSED=$((PASSED + 1))
  echo "ok - $*"
}
not_ok() {
  FAILED=$((FAILED + 1))
  echo "not ok - $*"
}
expect() { # expect DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
expect_eq() { # expect_eq DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}
summary() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

suite_start() {
  bin=${FXC_BIN:-target/debug/fogbow-xmpp-ctl}
  [ -x "$bin" ] || cargo build --locked --quiet
  need_tools
  work=$(mktemp -d "/var/tmp/fxc-$1.XXXXXX")
  trap suite_cleanup EXIT
}

# A container booted in $work itself logs beside it.
suite_cleanup() {
  halt
  rm -rf "$work" "$work.boot.log"
}
