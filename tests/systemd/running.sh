#!/usr/bin/env bash
# The running server under a real systemd, in booted Debian 12 (prosody 0.12)
# and Debian 13 (prosody 13) containers: readiness (the component port
# accepts a connection right after `restart` returns, no sleep of ours), a
# burst of 8 `add --restart` (systemd's start rate limit recovered), exit 3
# with "applied": false when prosody is stopped, `restart` of a stopped
# prosody, convergence by `reload` (MainPID unchanged) both ways, and
# `status` agreeing with real XEP-0114 handshakes in every state.
#   bash tests/systemd/running.sh [SUITE...]      (default: bookworm trixie)
# Needs root. Cleans up every process, cgroup and mount it creates.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh

suite_start running

hs() { # hs NAME SECRET_FILE: a real handshake from inside the container's network
  nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 "$1" "$2" 2>&1 || true
}
status_of() { # status_of NAME: "in_file active connected" from status --json, or "absent"
  ct fogbow-xmpp-ctl status --json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
c = [c for c in r["components"] if c["name"] == sys.argv[1]]
print("absent" if not c else "%s %s %s" % (c[0]["in_file"], c[0]["active"], c[0]["connected"]))' "$1"
}
status_rc() { ct fogbow-xmpp-ctl status >/dev/null 2>&1 && echo 0 || echo $?; }

for suite in ${@:-bookworm trixie}; do
  echo "== $suite"
  rootfs=$work/$suite
  make_root "$suite" "$rootfs"
  install -m 0755 "$bin" "$rootfs/usr/bin/fogbow-xmpp-ctl"
  install -d "$rootfs/usr/lib/systemd/system/prosody.service.d"
  install -m 0644 systemd/prosody.service.d/fogbow-xmpp-ctl.conf "$rootfs/usr/lib/systemd/system/prosody.service.d/"
  boot "$rootfs" "fxcrun$suite$$"
  echo "prosody $(ct dpkg-query -W -f '${Version}' prosody)"
  ct systemctl start prosody.service
  expect "$suite: prosody starts" wait_listening
  s=$suite

  # Readiness: a connect to the component port in the same shell, right after restart returns.
  printf 'first-secret-0123456789\n' >"$rootfs/root/first.secret"
  expect "$s: add first.example" ct fogbow-xmpp-ctl add first.example --secret-file /root/first.secret
  for i in 1 2 3; do
    ct systemctl reset-failed prosody.service
    expect "$s: restart, then at once a TCP connect to 127.0.0.1:5347 succeeds ($i)" \
      ct bash -c 'fogbow-xmpp-ctl -q restart && exec 3<>/dev/tcp/127.0.0.1/5347'
  done
  ct bash -c 'fogbow-xmpp-ctl -q restart && fogbow-xmpp-ctl probe first.example' >"$work/probe.out" 2>&1 && rc=0 || rc=$?
  expect_eq "$s: restart && probe: the handshake is accepted at once" "$rc" 0
  [ "$rc" -eq 0 ] || cat "$work/probe.out"

  # A re-run that changes nothing does not restart: a reload converges instead.
  pid=$(unit_prop MainPID)
  out=$(ct fogbow-xmpp-ctl add first.example --secret-file /root/first.secret --restart 2>&1) && rc=0 || rc=$?
  expect_eq "$s: an unchanged add --restart exits 0" "$rc" 0
  expect "$s: and says it reloaded instead of restarting" grep -q "unchanged: reloading and converging instead of restarting" <<<"$out"
  expect_eq "$s: same MainPID after the unchanged add --restart" "$(unit_prop MainPID)" "$pid"

  # A burst of 8 --restart edits: systemd's start rate limit is hit and recovered.
  all=0
  recovered=0
  for i in 1 2 3 4 5 6 7 8; do
    ct fogbow-xmpp-ctl add "site$i-manager.fed.example" --generate-secret --restart >"$work/site$i.secret" 2>"$work/site$i.err" && rc=0 || rc=$?
    [ "$rc" -eq 0 ] || { all=1; echo "add site$i --restart: exit $rc"; cat "$work/site$i.err"; }
    grep -q "start rate limit" "$work/site$i.err" && recovered=1
  done
  expect_eq "$s: 8 consecutive add --generate-secret --restart all exit 0" "$all" 0
  expect_eq "$s: prosody is active after the burst" "$(unit_prop ActiveState)" active
  expect_eq "$s: the rate limit was hit and recovered (said so)" "$recovered" 1
  for i in 1 2 3 4 5 6 7 8; do
    expect_eq "$s: site$i accepts its generated secret" "$(hs "site$i-manager.fed.example" "$work/site$i.secret")" accepted
  done

  # Exit 3: written, but prosody is stopped.
  ct systemctl stop prosody.service
  ct fogbow-xmpp-ctl add stopped.example --generate-secret --reload --json >"$work/stopped.json" 2>"$work/stopped.err" && rc=0 || rc=$?
  expect_eq "$s: add --reload with prosody stopped exits 3" "$rc" 3
  expect "$s: its JSON says changed, applied false, apply_error, and the secret" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["changed"] is True and j["applied"] is False and j["apply_error"] and len(j["secret"]) >= 32, j
open(sys.argv[2], "w").write(j["secret"])' "$work/stopped.json" "$work/stopped.secret"
  expect "$s: the component was written" grep -q 'Component "stopped.example"' "$rootfs/etc/prosody/prosody.cfg.lua"
  out=$(ct fogbow-xmpp-ctl restart 2>&1) && rc=0 || rc=$?
  expect_eq "$s: restart of a stopped prosody exits 0" "$rc" 0
  expect "$s: and says it started it" grep -q "prosody was inactive: started it" <<<"$out"
  expect_eq "$s: prosody is active" "$(unit_prop ActiveState)" active
  expect_eq "$s: the component written while stopped is accepted" "$(hs stopped.example "$work/stopped.secret")" accepted

  # Convergence: written without --reload, activated by a later reload; same MainPID.
  pid=$(unit_prop MainPID)
  printf 'late-secret-0123456789\n' >"$rootfs/root/late.secret"
  expect_eq "$s: status: late.example absent" "$(status_of late.example)" absent
  expect_eq "$s: status exits 0 while file and server agree" "$(status_rc)" 0
  expect "$s: add late.example without --reload" ct fogbow-xmpp-ctl add late.example --secret-file /root/late.secret
  expect_eq "$s: status: late.example configured, inactive" "$(status_of late.example)" "True False False"
  expect_eq "$s: status exits 4 on drift" "$(status_rc)" 4
  expect_eq "$s: and a handshake gets host-unknown" "$(hs late.example "$rootfs/root/late.secret")" host-unknown
  out=$(ct fogbow-xmpp-ctl add late.example --secret-file /root/late.secret --reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: a re-run of add --reload (file unchanged) exits 0" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out"
  expect_eq "$s: and it activated late.example" "$(hs late.example "$rootfs/root/late.secret")" accepted
  expect_eq "$s: status: late.example active, not connected" "$(status_of late.example)" "True True False"
  expect_eq "$s: same MainPID after the re-run" "$(unit_prop MainPID)" "$pid"
  printf 'later-secret-0123456789\n' >"$rootfs/root/later.secret"
  expect "$s: add later.example without --reload" ct fogbow-xmpp-ctl add later.example --secret-file /root/later.secret
  out=$(ct fogbow-xmpp-ctl reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: fogbow-xmpp-ctl reload exits 0" "$rc" 0
  expect "$s: reload says it activated later.example" grep -q "activated later.example" <<<"$out"
  expect_eq "$s: later.example accepted after reload" "$(hs later.example "$rootfs/root/later.secret")" accepted
  expect_eq "$s: reload kept the MainPID" "$(unit_prop MainPID)" "$pid"

  # Connected: a live session held open.
  HOLD=8 nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 later.example "$rootfs/root/later.secret" >"$work/hold.out" 2>&1 &
  holder=$!
  for _ in $(seq 1 50); do grep -q accepted "$work/hold.out" && break; sleep 0.1; done
  expect_eq "$s: status: later.example connected while a session is live" "$(status_of later.example)" "True True True"
  expect_eq "$s: a second session gets conflict (it is connected)" "$(hs later.example "$rootfs/root/later.secret")" conflict
  wait "$holder" || true

  # Removed without --reload: deactivated by a later reload.
  expect "$s: remove late.example without --reload" ct fogbow-xmpp-ctl remove late.example
  expect_eq "$s: status: late.example active but not in the file" "$(status_of late.example)" "False True False"
  expect_eq "$s: status exits 4 on that drift" "$(status_rc)" 4
  out=$(ct fogbow-xmpp-ctl reload 2>&1) && rc=0 || rc=$?
  expect_eq "$s: reload exits 0" "$rc" 0
  expect "$s: reload says it deactivated late.example" grep -q "deactivated late.example" <<<"$out"
  expect "$s: late.example's handshake is no longer accepted" test "$(hs late.example "$rootfs/root/late.secret")" != accepted
  expect_eq "$s: status: late.example absent after reload" "$(status_of late.example)" absent
  expect_eq "$s: status exits 0 after convergence" "$(status_rc)" 0
  expect_eq "$s: deactivation kept the MainPID" "$(unit_prop MainPID)" "$pid"
  expect "$s: localhost (a VirtualHost) is still served" sh -c "nsenter -t $LEADER -a prosodyctl shell 'host:list()' 2>&1 | grep -qE '^(\| )?localhost$'"


  # A listener change: --reload cannot apply it (exit 3, server untouched);
  # --restart returns when the new port accepts connections.
  pid=$(unit_prop MainPID)
  ct fogbow-xmpp-ctl listen --port 5349 --reload >/dev/null 2>&1 && rc=0 || rc=$?
  expect_eq "$s: listen --port --reload exits 3 (a listener needs a restart)" "$rc" 3
  expect_eq "$s: and did not touch the running server" "$(unit_prop MainPID)" "$pid"
  expect "$s: listen --port 5348 --restart, then at once a TCP connect to 5348 succeeds" \
    ct bash -c 'fogbow-xmpp-ctl -q listen --port 5348 --restart && exec 3<>/dev/tcp/127.0.0.1/5348'
  expect "$s: probe on the new port is accepted" ct fogbow-xmpp-ctl probe later.example

  halt
  rm -rf "$rootfs" "$rootfs.boot.log"
done
summary
