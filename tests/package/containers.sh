#!/usr/bin/env bash
# The .deb on Debian 12 (bookworm, prosody 0.12) and Debian 13 (trixie,
# prosody 13.0), each booted with a real systemd in systemd-nspawn: apt
# installs it next to that release's prosody, `fogbow-xmpp-ctl add` +
# `fogbow-xmpp-ctl restart` bring up a component that a real XEP-0114
# handshake accepts, and purge leaves the system clean.
#   bash tests/package/containers.sh [SUITE...]      (default: bookworm trixie)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh
[ "$(id -u)" -eq 0 ] || { echo "run as root"; exit 1; }
need_tools
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
cargo deb --locked >/dev/null
deb=$(ls target/debian/fogbow-xmpp-ctl_0.1.0-1_*.deb)

work=$(mktemp -d /var/tmp/fxc-pkg.XXXXXX)
cleanup() {
  halt
  rm -rf "$work"
}
trap cleanup EXIT

pkg=fogbow-xmpp-ctl

# Purge while prosody's config reads a credential of ours (prosody 13): the
# .cred and the drop-in are kept, and the advice printed works once the
# program is gone: reinstall, migrate --to config, purge again.
purge_with_a_credential() {
  local suite=$1 name=cred.internal.mydomain out
  ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/root/$(basename "$deb")" >/dev/null
  printf 'credential-secret-0123456789abcdef\n' >"$rootfs/root/cred.secret"
  expect "$suite: add --secret-store credential" \
    ct "$pkg" add "$name" --secret-store credential --secret-file /root/cred.secret
  out=$(nsenter -t "$LEADER" -a env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$pkg" 2>&1)
  expect "$suite: purge keeps the credential" sh -c "ls $rootfs/etc/$pkg/credentials/*.cred >/dev/null"
  expect "$suite: the program is gone" test ! -e "$rootfs/usr/bin/$pkg"
  expect "$suite: purge says to reinstall first, then migrate --to config" \
    grep -q "apt install $pkg, then $pkg migrate --to config, then purge again" <<<"$out"
  grep "$pkg: kept" <<<"$out" || true
  ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "/root/$(basename "$deb")" >/dev/null
  expect "$suite: migrate --to config after the reinstall" ct "$pkg" migrate --to config
  expect "$suite: the secret is back in prosody's config" \
    grep -rq 'component_secret = "credential-secret-0123456789abcdef"' "$rootfs/etc/prosody/"
  out=$(nsenter -t "$LEADER" -a env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$pkg" 2>&1)
  expect "$suite: the second purge keeps nothing" test ! -e "$rootfs/etc/$pkg"
  expect "$suite: the credentials drop-in is gone" \
    test ! -e "$rootfs/etc/systemd/system/prosody.service.d/$pkg-credentials.conf"
}

for suite in "${@:-bookworm trixie}"; do
  for suite in $suite; do
    echo "== $suite"
    rootfs=$work/$suite
    make_root "$suite" "$rootfs"
    cp "$deb" "$rootfs/root/"
    boot "$rootfs" "fxcpkg$suite$$"
    echo "prosody $(ct dpkg-query -W -f '${Version}' prosody)"
    ct systemctl start prosody.service
    expect "$suite: prosody runs before we are installed" wait_listening

    out=$(ct env DEBIAN_FRONTEND=noninteractive apt-get install -y "/root/$(basename "$deb")" 2>&1) && rc=0 || rc=$?
    expect_eq "$suite: apt-get install ./$(basename "$deb") (offline, next to prosody)" "$rc" 0
    [ "$rc" -eq 0 ] || echo "$out" | tail -5
    expect "$suite: the drop-in is active without a restart of systemd by hand" \
      sh -c "nsenter -t $LEADER -a systemctl show -p DropInPaths --value prosody.service | grep -q $pkg.conf"
    expect_eq "$suite: systemd-analyze verify prosody.service prints nothing" "$(ct systemd-analyze verify prosody.service 2>&1)" ""
    expect_eq "$suite: installing did not restart prosody" "$(unit_prop ActiveState)" active
    check=$(ct "$pkg" check 2>&1) && rc=0 || rc=$?
    expect_eq "$suite: Debian's default config passes check (with prosody's own loader)" "$rc" 0
    [ "$rc" -eq 0 ] || echo "$check"
    # The check really runs this release's configmanager (0.12: core.*, 13: prosody.core.*).
    printf 'require "no.such.module"\n' >"$rootfs/root/runtime.cfg.lua"
    chmod 644 "$rootfs/root/runtime.cfg.lua"
    runtime=$(ct "$pkg" check --json -c /root/runtime.cfg.lua 2>&1 || true)
    expect "$suite: check loads the config with prosody's own configmanager" grep -q '"code": "prosody-load"' <<<"$runtime"

    printf 'container-secret-%s-0123456789\n' "$suite" >"$rootfs/root/manager.secret"
    expect "$suite: add" ct "$pkg" add my-manager.internal.mydomain --secret-file /root/manager.secret
    expect "$suite: fogbow-xmpp-ctl restart" ct "$pkg" restart
    expect "$suite: prosody listens after the restart" wait_listening
    expect "$suite: the component port opened" wait_listening 5347
    hs=$(nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 my-manager.internal.mydomain "$rootfs/root/manager.secret" 2>&1 || true)
    expect_eq "$suite: a real XEP-0114 handshake is accepted" "$hs" accepted
    printf 'wrong-secret\n' >"$work/wrong"
    hs=$(nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 my-manager.internal.mydomain "$work/wrong" 2>&1 || true)
    expect_eq "$suite: a wrong secret is refused" "$hs" not-authorized

    expect "$suite: remove" ct "$pkg" remove my-manager.internal.mydomain
    expect "$suite: purge" sh -c "nsenter -t $LEADER -a env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkg >/dev/null"
    for f in "/usr/bin/$pkg" "/usr/lib/systemd/system/prosody.service.d/$pkg.conf" "/etc/$pkg" "/var/lib/$pkg" \
      "/usr/share/man/man1/$pkg.1.gz" "/usr/share/bash-completion/completions/$pkg"; do
      expect "$suite: purged $f" test ! -e "$rootfs$f"
    done
    expect "$suite: systemd forgot the drop-in" \
      sh -c "! nsenter -t $LEADER -a systemctl show -p DropInPaths --value prosody.service | grep -q $pkg"
    expect_eq "$suite: prosody's own files are untouched" "$(ct dpkg --verify prosody 2>&1)" ""
    [ "$suite" = trixie ] && purge_with_a_credential "$suite"
    halt
    rm -rf "$rootfs" "$rootfs.boot.log"
  done
done
summary
