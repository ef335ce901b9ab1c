#!/usr/bin/env bash
# The disruption benchmark: what a change costs the sessions a prosody holds.
# For each SUITE (default: bookworm trixie forky) it boots that Debian's root
# under systemd-nspawn (tests/systemd/container.sh, loopback only), installs
# the .deb, configures N external components with `fogbow-xmpp-ctl add`
# (secrets in the config), holds N component sessions and 3 c2s sessions
# (STARTTLS + SASL, one user made with prosodyctl) open, every session
# pinging each second, and applies K changes each way:
#   tool        fogbow-xmpp-ctl add NEW --reload / remove NEW --reload /
#               add X --replace --reload (X a held component), in turn
#   hand        the same three changes in a config file edited by hand,
#               each followed by `systemctl restart prosody`
#   credential  add X --secret-store credential --replace --reload
#               (prosody 13 only; X moved into a credential first, with one
#               restart that is not counted)
# and prints, per procedure, the sessions dropped per change (socket closed,
# or a ping unanswered > 3 s) and the time from the command's start to the
# change serving (a probe handshake every 10 ms), min/median/max. The
# sessions and probes run on the host in the container's network namespace
# (benches/disruption.py). Suites run one after another, so that they do not
# share the CPU.
#   bash benches/disruption.sh [SUITE...] [--components N] [--changes K]
#   DEB=path/to.deb bash benches/disruption.sh ...   (skip `cargo deb`)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh
[ "$(id -u)" -eq 0 ] || { echo "run as root"; exit 1; }

components=20 changes=10 suites=()
while [ $# -gt 0 ]; do
  case $1 in
    --components) components=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    -*) echo "usage: $0 [SUITE...] [--components N] [--changes K]" >&2; exit 2 ;;
    *) suites+=("$1"); shift ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie forky)

need_tools
if [ -z "${DEB:-}" ]; then
  cargo deb --locked >/dev/null
  DEB=$(find target/debian -name 'fogbow-xmpp-ctl_*.deb' | head -1)
fi

work=$(mktemp -d /var/tmp/fxc-disruption.XXXXXX)
chmod 0755 "$work"
trap 'halt; rm -rf "$work"' EXIT
trap 'exit 143' TERM INT

results=()
for suite in "${suites[@]}"; do
  started=$(date +%s)
  rootfs=$work/$suite
  make_root "$suite" "$rootfs"
  cp "$DEB" "$rootfs/root/"
  boot "$rootfs" "fxcbench${suite//-/}$$"
  # shellcheck disable=SC2016 # dpkg-query's format, not ours
  prosody_v=$(ct dpkg-query -W -f '${Version}' prosody)
  # shellcheck disable=SC2016
  systemd_v=$(ct dpkg-query -W -f '${Version}' systemd)
  echo "== $suite: prosody $prosody_v, systemd $systemd_v" >&2
  ct systemctl start prosody.service
  wait_listening 5222
  ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/root/$(basename "$DEB")" >/dev/null 2>&1
  credential=
  case $prosody_v in 0.*) ;; *) credential=--credential ;; esac
  # The sessions and probes speak to the container's loopback.
  # shellcheck disable=SC2086 # $credential is a flag or nothing
  timeout 900 nsenter -t "$LEADER" -n python3 benches/disruption.py run --leader "$LEADER" --root "$rootfs" \
    --suite "$suite" --prosody "$prosody_v" --systemd "$systemd_v" \
    --components "$components" --changes "$changes" $credential --json "$work/$suite.json"
  results+=("$work/$suite.json")
  halt
  rm -rf "$rootfs" "$rootfs.boot.log"
  echo "== $suite: $(($(date +%s) - started)) s" >&2
done

echo
echo "$components external components + 3 c2s sessions held, $changes changes per procedure, $(date -u +%Y-%m-%d)"
echo
python3 benches/disruption.py table "${results[@]}"
