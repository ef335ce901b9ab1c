# shellcheck shell=bash
# A real systemd in a systemd-nspawn container, for tests; sourced by the
# test scripts. The recipe and its pitfalls are measured in
# ../shared/notes/systemd-in-a-container.md: the host has no systemd as PID 1,
# so nspawn runs without a bus (--register=no --keep-unit) in a cgroup of its
# own, and we drive the container with nsenter.
#
#   make_root SUITE DIR    debootstrap SUITE with prosody into DIR (cached as a tarball)
#   boot DIR NAME          boot it; sets LEADER (the container's PID 1)
#   ct CMD...              run CMD inside the container
#   halt                   power off and remove every cgroup and mount we made
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

# The packages of a root: debootstrap does not resolve virtual packages, so
# the real providers are named.
root_include() {
  local include=systemd,systemd-sysv,dbus,procps,iproute2,python3,prosody,lua-bitop,lua-socket,lua-sec
  [ "$1" = bookworm ] || include=$include,lua-unbound
  echo "$include"
}

# The cached tarball of SUITE's root, keyed on its package list.
root_tarball() {
  echo "$FXC_CACHE/$1-$(root_include "$1" | md5sum | cut -c1-8).tar.zst"
}

make_root() {
  local suite=$1 dir=$2
  local include tarball
  include=$(root_include "$suite")
  tarball=$(root_tarball "$suite")
  rm -rf "$dir"
  mkdir -p "$dir" "$FXC_CACHE"
  if [ -f "$tarball" ]; then
    tar --zstd -xpf "$tarball" -C "$dir"
    return
  fi
  echo "== debootstrap $suite (cold, about a minute)" >&2
  debootstrap --variant=minbase --include="$include" "$suite" "$dir" "$(mirror)" >"$FXC_CACHE/debootstrap-$suite.log" 2>&1 ||
    { tail -20 "$FXC_CACHE/debootstrap-$suite.log" >&2; return 1; }
  # Quiet, quick boots: no getty, no network wait.
  rm -f "$dir"/etc/systemd/system/getty.target.wants/* 2>/dev/null || true
  tar --zstd -cpf "$tarball.part" -C "$dir" . && mv "$tarball.part" "$tarball"
  # One root per suite: one of an older package list goes.
  local old
  for old in "$FXC_CACHE/$suite"-*.tar.zst; do
    [ "$old" = "$tarball" ] || rm -f "$old"
  done
}

# The cached root of SUITE, made (debootstrap, about a minute) when it is
# missing: tests that chroot into it (tests/credentials_read.rs) need it
# before `cargo test` runs.
cache_root() {
  local suite=$1 tmp
  if [ -f "$(root_tarball "$suite")" ]; then
    return 0
  fi
  # Roots of an older package list are stale: only the current one is kept.
  rm -f "$FXC_CACHE/$suite"-*.tar.zst
  tmp=$(mktemp -d /var/tmp/fxc-root.XXXXXX)
  make_root "$suite" "$tmp/root"
  rm -rf "$tmp"
}

boot() {
  local dir=$1
  MACHINE=$2
  local h
  for h in systemd unified; do
    [ -d /sys/fs/cgroup/$h ] && mkdir -p /sys/fs/cgroup/$h/"$MACHINE"
  done
  setsid sh -c "
    for h in systemd unified; do [ -d /sys/fs/cgroup/\$h/$MACHINE ] && echo \$\$ > /sys/fs/cgroup/\$h/$MACHINE/cgroup.procs; done
    exec systemd-nspawn -q -D '$dir' -M '$MACHINE' --register=no --keep-unit --private-network -b --console=passive
  " >"$dir.boot.log" 2>&1 </dev/null &
  NSPAWN_PID=$!
  local i state
  for i in $(seq 1 300); do
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
  local h
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h/$MACHINE" ] && find "/sys/fs/cgroup/$h/$MACHINE" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf /run/systemd/nspawn 2>/dev/null || true
  LEADER= NSPAWN_PID=
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
