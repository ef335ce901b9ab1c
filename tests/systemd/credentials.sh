#!/usr/bin/env bash
# The credential store under a real systemd: component secrets in encrypted
# systemd credentials. In a booted Debian 13 container (prosody 13, systemd
# 257): `add --secret-store credential` → the real handshake is accepted, a
# wrong secret refused, the secret in plaintext nowhere under /etc or our
# state directory, `systemctl restart prosody` passes the gate; rotation
# (new accepted, old refused); `remove` leaves nothing behind with prosody
# active; `migrate` both ways with handshakes before and after. In a booted
# Debian 12 container (prosody 0.12): the refusal, nothing changed. In a
# booted forky container (systemd 262, which refreshes credentials at a
# reload): the first credential restarts (prosody started without any), then
# rotation, migration and removal apply by reload with a component session
# held open: same MainPID, no restart, the session still answering pings.
#   bash tests/systemd/credentials.sh [SUITE...]   (default: trixie bookworm forky)
# Needs root. Cleans up every process, cgroup and mount it creates.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh

suite_start credentials

hs() { # hs NAME SECRET_FILE: a real XEP-0114 handshake from inside the container's network
  nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 "$1" "$2" 2>&1 || true
}
accepted() { hs "$1" "$2" | grep -q accepted; }
refused() { hs "$1" "$2" | grep -q not-authorized; }
# Files under the container's /etc and our state directory holding $1.
plaintext_in() {
  grep -rlF -- "$1" "$rootfs/etc" "$rootfs/var/lib/fogbow-xmpp-ctl" 2>/dev/null || true
}
cfg=/etc/prosody/prosody.cfg.lua
dropin=/etc/systemd/system/prosody.service.d/fogbow-xmpp-ctl-credentials.conf

# held_start NAME SECRET_FILE: a component session held open in the
# background, pinging localhost twice a second; held_stop ends it and
# prints its count of answered pings (exit 0: every ping answered, the
# session never dropped).
held_start() {
  rm -f "$work/held.stop"
  HOLD_UNTIL=$work/held.stop nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 "$1" "$2" >"$work/held.out" 2>&1 &
  HELD=$!
  local i
  for i in $(seq 1 50); do grep -q accepted "$work/held.out" && return 0; sleep 0.1; done
  return 1
}
held_stop() {
  touch "$work/held.stop"
  wait "$HELD" && rc=0 || rc=$?
  cat "$work/held.out"
  return "$rc"
}

# systemd >= 260 (forky): credential changes by reload, sessions kept.
refresh_by_reload() {
  local s=$1 out rc pid restarts
  expect "$s: systemd knows RefreshOnReload= (systemctl show prints it)" \
    bash -c '[ -n "$(nsenter -t "$1" -a systemctl show -p RefreshOnReload prosody.service)" ]' _ "$LEADER"
  # The first credential: prosody runs without any, so systemd has nothing to refresh.
  out=$(ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/mgr.secret --secret-store credential --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: the first credential (add --reload) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: it restarts, and says why (started without any credential)" \
    grep -q "restarting instead of reloading: .*started without any credential" <<<"$out"
  expect "$s: the drop-in asks for RefreshOnReload=credentials" grep -qx 'RefreshOnReload=credentials' "$rootfs$dropin"
  expect_eq "$s: systemd-analyze verify prosody.service prints nothing" "$(ct systemd-analyze verify prosody.service 2>&1)" ""
  expect "$s: the handshake with the secret is accepted" accepted mgr.fog.test "$work/mgr.secret"

  # A second credential component: prosody has credentials now, so a reload.
  printf 'peer-secret-0123456789abcdef\n' >"$rootfs/root/peer.secret"
  cp "$rootfs/root/peer.secret" "$work/"
  pid=$(unit_prop MainPID)
  restarts=$(unit_prop NRestarts)
  out=$(ct fogbow-xmpp-ctl add peer.fog.test --secret-file /root/peer.secret --secret-store credential --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: a second credential component (add --reload) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: it does not restart" bash -c '! grep -q "restarting" <<<"$1"' _ "$out"
  expect_eq "$s: MainPID unchanged by the add" "$(unit_prop MainPID)" "$pid"
  expect "$s: its handshake is accepted" accepted peer.fog.test "$work/peer.secret"

  # Rotation by reload, with a component connected throughout (another
  # one: prosody refuses a second session of a connected component).
  expect "$s: a component session is held open" held_start peer.fog.test "$work/peer.secret"
  out=$(ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/rotated.secret --secret-store credential --replace --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: rotate (add --replace --reload) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: the rotation does not restart" bash -c '! grep -q "restarting" <<<"$1"' _ "$out"
  expect_eq "$s: MainPID unchanged" "$(unit_prop MainPID)" "$pid"
  expect_eq "$s: NRestarts unchanged" "$(unit_prop NRestarts)" "$restarts"
  expect "$s: the new secret is accepted" accepted mgr.fog.test "$work/rotated.secret"
  expect "$s: the old secret is refused" refused mgr.fog.test "$work/mgr.secret"
  out=$(ct fogbow-xmpp-ctl status 2>&1) && rc=0 || rc=$?
  expect_eq "$s: status exits 0 (in sync)" "$rc" 0
  expect "$s: status shows the held session connected" grep -Eq '^peer.fog.test +yes +yes +yes' <<<"$out"
  expect "$s: the held session answered every ping across the rotation" held_stop

  # A rotation not yet applied is a pending reload; reload applies it.
  expect "$s: rotate back without applying (add --replace)" ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/mgr.secret --secret-store credential --replace
  out=$(ct fogbow-xmpp-ctl status 2>&1) && rc=0 || rc=$?
  expect_eq "$s: status exits 4 with a reload pending" "$rc" 4
  expect "$s: status says reload pending" grep -q "^mgr.fog.test .*reload pending.*fogbow-xmpp-ctl reload" <<<"$out"
  out=$(ct fogbow-xmpp-ctl probe mgr.fog.test 2>&1) || true
  expect "$s: probe's hint says a reload is pending" grep -q "a reload is pending.*run fogbow-xmpp-ctl reload" <<<"$out"
  out=$(ct fogbow-xmpp-ctl doctor 2>&1 || true)
  expect "$s: doctor says a reload is pending" grep -q "a reload is pending" <<<"$out"
  out=$(ct fogbow-xmpp-ctl reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: reload exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect_eq "$s: the reload kept MainPID" "$(unit_prop MainPID)" "$pid"
  out=$(ct fogbow-xmpp-ctl status 2>&1) && rc=0 || rc=$?
  expect_eq "$s: after the reload, status exits 0" "$rc" 0
  expect "$s: the secret on disk is accepted" accepted mgr.fog.test "$work/mgr.secret"
  expect "$s: the rotated one is refused" refused mgr.fog.test "$work/rotated.secret"

  # Migration both ways, by reload.
  expect "$s: add rdv.fog.test (a string in the config)" ct fogbow-xmpp-ctl add rdv.fog.test --secret-file /root/rdv.secret --reload
  expect "$s: migrate --to credential rdv.fog.test --reload" ct fogbow-xmpp-ctl migrate --to credential rdv.fog.test --reload
  expect "$s: rdv handshake accepted after migrating" accepted rdv.fog.test "$work/rdv.secret"
  expect "$s: migrate --to config rdv.fog.test --reload" ct fogbow-xmpp-ctl migrate --to config rdv.fog.test --reload
  expect "$s: rdv handshake accepted after migrating back" accepted rdv.fog.test "$work/rdv.secret"
  expect_eq "$s: MainPID unchanged by the migrations" "$(unit_prop MainPID)" "$pid"

  # Removal by reload.
  out=$(ct fogbow-xmpp-ctl remove mgr.fog.test --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: remove --reload exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: its handshake is refused (host-unknown or not-authorized)" \
    bash -c 'grep -Eq "host-unknown|not-authorized" <<<"$1"' _ "$(hs mgr.fog.test "$work/mgr.secret")"
  expect_eq "$s: MainPID unchanged by the removal" "$(unit_prop MainPID)" "$pid"
  expect_eq "$s: NRestarts unchanged by the removal" "$(unit_prop NRestarts)" "$restarts"
  expect "$s: the drop-in no longer loads its credential" bash -c '! grep -q "mgr.fog.test" "$1"' _ "$rootfs$dropin"
  expect "$s: remove peer.fog.test --reload (the last credential)" ct fogbow-xmpp-ctl remove peer.fog.test --reload
  expect "$s: the drop-in is gone (no credential left)" test ! -e "$rootfs$dropin"
  expect_eq "$s: MainPID unchanged by the last removal" "$(unit_prop MainPID)" "$pid"
}

for suite in ${@:-trixie bookworm forky}; do
  echo "== $suite"
  rootfs=$work/$suite
  make_root "$suite" "$rootfs"
  install -m 0755 "$bin" "$rootfs/usr/bin/fogbow-xmpp-ctl"
  install -d "$rootfs/usr/lib/systemd/system/prosody.service.d"
  install -m 0644 systemd/prosody.service.d/fogbow-xmpp-ctl.conf "$rootfs/usr/lib/systemd/system/prosody.service.d/"
  boot "$rootfs" "fxccred$suite$$"
  echo "prosody $(ct dpkg-query -W -f '${Version}' prosody)"
  ct systemctl start prosody.service
  expect "$suite: prosody starts" wait_listening
  s=$suite
  printf 'mgr-secret-0123456789abcdef\n' >"$rootfs/root/mgr.secret"
  printf 'wrong-secret-0123456789abcd\n' >"$rootfs/root/wrong.secret"
  printf 'rotated-secret-9876543210fedcba\n' >"$rootfs/root/rotated.secret"
  printf 'rdv-secret-0123456789abcdef\n' >"$rootfs/root/rdv.secret"
  cp "$rootfs/root/"*.secret "$work/"

  if [ "$suite" = bookworm ]; then
    cp -a "$rootfs$cfg" "$work/before.cfg"
    out=$(ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/mgr.secret --secret-store credential 2>&1) && rc=0 || rc=$?
    expect_eq "$s: add --secret-store credential is refused (exit 1)" "$rc" 1
    expect "$s: the refusal says why (prosody 0.12 has no Credential())" grep -q "has no Credential()" <<<"$out"
    out=$(ct fogbow-xmpp-ctl migrate --to credential 2>&1) && rc=0 || rc=$?
    expect_eq "$s: migrate --to credential is refused (exit 1)" "$rc" 1
    expect "$s: the config is unchanged" cmp -s "$work/before.cfg" "$rootfs$cfg"
    expect "$s: no credentials directory, no drop-in" test ! -e "$rootfs/etc/fogbow-xmpp-ctl/credentials" -a ! -e "$rootfs$dropin"
    halt
    continue
  fi

  if [ "$suite" = forky ]; then
    refresh_by_reload "$s"
    halt
    continue
  fi

  # A hand-written Credential() config passes the gate and serves its handshake.
  ct bash -c "printf 'hand-secret-0123456789abcdef' | systemd-creds encrypt --with-key=host --name=hand-mgr - /root/hand-mgr.cred" 2>/dev/null
  ct bash -c "mkdir -p /etc/systemd/system/prosody.service.d && printf '[Service]\nLoadCredentialEncrypted=hand-mgr:/root/hand-mgr.cred\n' >/etc/systemd/system/prosody.service.d/hand.conf"
  printf '\nComponent "hand.fog.test"\n\tcomponent_secret = Credential("hand-mgr")\n' >>"$rootfs$cfg"
  ct systemctl daemon-reload
  expect "$s: a hand-written Credential() config passes the gate (systemctl restart)" ct systemctl restart prosody.service
  wait_listening 5222 || true
  printf 'hand-secret-0123456789abcdef' >"$work/hand.secret"
  expect "$s: its handshake is accepted" accepted hand.fog.test "$work/hand.secret"

  # add --secret-store credential, applied by a restart (--reload restarts).
  out=$(ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/mgr.secret --secret-store credential --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: add --secret-store credential --reload exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: it says it restarts instead of reloading" grep -q "restarting instead of reloading" <<<"$out"
  expect "$s: the config reads Credential(\"fogbow-xmpp-ctl.mgr.fog.test\")" grep -q 'component_secret = Credential("fogbow-xmpp-ctl.mgr.fog.test")' "$rootfs$cfg"
  expect "$s: the drop-in has its LoadCredentialEncrypted= line" grep -q '^LoadCredentialEncrypted=fogbow-xmpp-ctl.mgr.fog.test:/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.mgr.fog.test.cred$' "$rootfs$dropin"
  expect_eq "$s: the .cred is root 0600" "$(stat -c '%u %a' "$rootfs/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.mgr.fog.test.cred")" "0 600"
  expect_eq "$s: in a root 0700 directory" "$(stat -c '%u %a' "$rootfs/etc/fogbow-xmpp-ctl/credentials")" "0 700"
  expect "$s: the handshake with the secret is accepted" accepted mgr.fog.test "$work/mgr.secret"
  expect "$s: a wrong secret is refused" refused mgr.fog.test "$work/wrong.secret"
  expect_eq "$s: the secret in plaintext nowhere under /etc or /var/lib/fogbow-xmpp-ctl" "$(plaintext_in mgr-secret-0123456789abcdef)" ""
  expect "$s: systemctl restart prosody passes the gate" ct systemctl restart prosody.service
  wait_listening 5222 || true
  expect "$s: and the handshake is still accepted" accepted mgr.fog.test "$work/mgr.secret"

  # Rotation.
  out=$(ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/rotated.secret --replace --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: rotate (add --replace --reload) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: systemd $(root_systemd "$rootfs"): the rotation restarts, and says why" \
    grep -q "restarting instead of reloading: .*RefreshOnReload= came in systemd 260" <<<"$out"
  expect "$s: the drop-in has no RefreshOnReload= (this systemd does not know it)" bash -c '! grep -q RefreshOnReload "$1"' _ "$rootfs$dropin"
  expect "$s: the new secret is accepted" accepted mgr.fog.test "$work/rotated.secret"
  expect "$s: the old secret is refused" refused mgr.fog.test "$work/mgr.secret"

  # A rotation without a restart: the running prosody keeps the credential
  # it loaded at start. status (drift, exit 4), probe, doctor and reload say
  # a restart is pending; after fogbow-xmpp-ctl restart, status is in sync.
  expect "$s: rotate back without a restart (add --replace)" ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/mgr.secret --secret-store credential --replace
  expect "$s: the running prosody still accepts only the old secret" accepted mgr.fog.test "$work/rotated.secret"
  out=$(ct fogbow-xmpp-ctl status 2>&1) && rc=0 || rc=$?
  expect_eq "$s: status exits 4 (drift) with a restart pending" "$rc" 4
  expect "$s: status says restart pending for mgr.fog.test" grep -q "^mgr.fog.test .*restart pending" <<<"$out"
  [ "$rc" -eq 4 ] || echo "$out"
  pending=$(ct fogbow-xmpp-ctl status --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(p["component"] + ":" + p["credential"] for p in json.load(sys.stdin)["restart_pending"]))' || true)
  expect_eq "$s: status --json names the component and its credential" "$pending" "mgr.fog.test:fogbow-xmpp-ctl.mgr.fog.test"
  out=$(ct fogbow-xmpp-ctl probe mgr.fog.test 2>&1) && rc=0 || rc=$?
  expect_eq "$s: probe exits 1 (refused)" "$rc" 1
  expect "$s: probe's hint says a restart is pending" grep -q "a restart is pending.*run fogbow-xmpp-ctl restart" <<<"$out"
  expect "$s: probe does not advise a reload" bash -c '! grep -q "reload or restart" <<<"$1"' _ "$out"
  out=$(ct fogbow-xmpp-ctl doctor 2>&1 || true)
  expect "$s: doctor says the running prosody has another credential" grep -q "✘ mgr.fog.test: running prosody has the credential on disk" <<<"$out"
  pid=$(unit_prop MainPID)
  out=$(ct fogbow-xmpp-ctl reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: reload with a restart pending exits 1" "$rc" 1
  expect "$s: reload says a restart is pending and why" grep -q "prosody reloaded, but a restart is pending.*credentials at start only" <<<"$out"
  expect "$s: reload does not say done" bash -c '! grep -q "reload done" <<<"$1"' _ "$out"
  expect_eq "$s: the reload did not restart prosody (MainPID)" "$(unit_prop MainPID)" "$pid"
  ct systemctl reset-failed prosody.service
  # Another component's edit applied by reload (its secret in the config):
  # applied (exit 0, its handshake accepted), and it says the restart still
  # pending for mgr.fog.test and the command that applies it.
  printf 'second-secret-0123456789abcdef\n' >"$rootfs/root/second.secret"
  cp "$rootfs/root/second.secret" "$work/"
  out=$(ct fogbow-xmpp-ctl add second.fog.test --secret-file /root/second.secret --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: add second.fog.test --reload (mgr.fog.test's restart pending) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: second.fog.test's handshake is accepted" accepted second.fog.test "$work/second.secret"
  expect "$s: it says mgr.fog.test's restart is still pending" grep -q "restart is pending.*mgr.fog.test" <<<"$out"
  expect "$s: and says to run fogbow-xmpp-ctl restart" grep -q "restart is pending.*: run fogbow-xmpp-ctl restart$" <<<"$out"
  grep -q "restart is pending" <<<"$out" || echo "$out"
  expect "$s: fogbow-xmpp-ctl restart" ct fogbow-xmpp-ctl restart
  out=$(ct fogbow-xmpp-ctl status 2>&1) && rc=0 || rc=$?
  expect_eq "$s: after the restart, status exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect "$s: and the secret on disk is accepted" accepted mgr.fog.test "$work/mgr.secret"

  # 20 rotations in a row on a config of 20+ components, each applied by the
  # restart --reload takes: each exits 0 and its new secret is accepted.
  for i in $(seq -w 1 20); do
    ct fogbow-xmpp-ctl add "c$i.fog.test" --generate-secret >/dev/null 2>&1 || echo "add c$i.fog.test failed"
  done
  ct systemctl reset-failed prosody.service
  expect "$s: restart with 20+ components" ct fogbow-xmpp-ctl restart
  rotated_ok=0
  rotated_accepted=0
  for i in $(seq 1 20); do
    printf 'rotation-%02d-secret-0123456789abcdef\n' "$i" >"$rootfs/root/rot.secret"
    cp "$rootfs/root/rot.secret" "$work/rot.secret"
    out=$(ct fogbow-xmpp-ctl add mgr.fog.test --secret-file /root/rot.secret --secret-store credential --replace --reload 2>&1) && rc=0 || rc=$?
    if [ "$rc" -eq 0 ]; then rotated_ok=$((rotated_ok + 1)); else echo "rotation $i: exit $rc: $out"; fi
    accepted mgr.fog.test "$work/rot.secret" && rotated_accepted=$((rotated_accepted + 1))
  done
  expect_eq "$s: 20 rotations with --reload each exit 0" "$rotated_ok" 20
  expect_eq "$s: after each, the new secret is accepted" "$rotated_accepted" 20

  # Migration both ways, handshakes before and after.
  expect "$s: add rdv.fog.test (a string in the config)" ct fogbow-xmpp-ctl add rdv.fog.test --secret-file /root/rdv.secret --reload
  expect "$s: rdv handshake accepted before migrating" accepted rdv.fog.test "$work/rdv.secret"
  expect "$s: migrate --to credential rdv.fog.test --reload" ct fogbow-xmpp-ctl migrate --to credential rdv.fog.test --reload
  expect "$s: rdv handshake accepted after migrating" accepted rdv.fog.test "$work/rdv.secret"
  expect_eq "$s: rdv's secret in plaintext nowhere (backups included)" "$(plaintext_in rdv-secret-0123456789abcdef)" ""
  expect "$s: migrate --to config rdv.fog.test --reload" ct fogbow-xmpp-ctl migrate --to config rdv.fog.test --reload
  expect "$s: rdv handshake accepted after migrating back" accepted rdv.fog.test "$work/rdv.secret"
  expect "$s: rdv's .cred is gone" test ! -e "$rootfs/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.rdv.fog.test.cred"

  # remove: nothing left behind, prosody active.
  expect "$s: remove mgr.fog.test --reload" ct fogbow-xmpp-ctl remove mgr.fog.test --reload
  expect "$s: its .cred is gone" test ! -e "$rootfs/etc/fogbow-xmpp-ctl/credentials/fogbow-xmpp-ctl.mgr.fog.test.cred"
  expect "$s: the drop-in is gone (no credential left)" test ! -e "$rootfs$dropin"
  expect_eq "$s: prosody is active" "$(unit_prop ActiveState)" active
  expect "$s: systemctl restart prosody still passes the gate" ct systemctl restart prosody.service
  halt
done
summary
