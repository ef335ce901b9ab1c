#!/usr/bin/env bash
# The systemd gate under a real systemd: Debian bookworm with prosody booted
# in a systemd-nspawn container, our binary and drop-in installed inside.
# Proves: good start/reload/restart work; a broken config makes start fail
# with our FILE:LINE message in the journal; reload fails with the same
# MainPID running and ReloadResult=exit-code; `fogbow-xmpp-ctl restart`
# refuses and leaves the server up; after the fix it restarts it. Then
# tests/systemd/running.sh on Debian 12 and 13: the running server.
# Needs root. Cleans up every process, cgroup and mount it creates.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh

suite_start gate
root=$work

make_root bookworm "$root/rootfs"
rootfs=$root/rootfs
install -m 0755 "$bin" "$rootfs/usr/bin/fogbow-xmpp-ctl"
install -d "$rootfs/usr/lib/systemd/system/prosody.service.d"
install -m 0644 systemd/prosody.service.d/fogbow-xmpp-ctl.conf "$rootfs/usr/lib/systemd/system/prosody.service.d/"
cfg=$rootfs/etc/prosody/prosody.cfg.lua
cp -p "$cfg" "$root/good.cfg.lua"

boot "$rootfs" "fxcgate$$"
echo "== booted; prosody $(ct dpkg-query -W -f '${Version}' prosody)"

verify_out=$(ct systemd-analyze verify prosody.service 2>&1 || true)
expect_eq "systemd-analyze verify prosody.service (with the drop-in) prints nothing" "$verify_out" ""
expect "the drop-in is loaded" sh -c "nsenter -t $LEADER -a systemctl show -p DropInPaths --value prosody.service | grep -q fogbow-xmpp-ctl.conf"

ct systemctl start prosody.service
expect "prosody starts with a good config" wait_listening
expect_eq "prosody is active" "$(unit_prop ActiveState)" active
pid=$(unit_prop MainPID)

expect "systemctl reload succeeds with a good config" ct systemctl reload prosody.service
expect_eq "ReloadResult after a good reload" "$(unit_prop ReloadResult)" success
expect_eq "a reload keeps the MainPID" "$(unit_prop MainPID)" "$pid"

expect "fogbow-xmpp-ctl restart succeeds with a good config" ct fogbow-xmpp-ctl restart
expect "prosody listens again after our restart" wait_listening
new=$(unit_prop MainPID)
expect "our restart started a new prosody" test "$new" != "$pid" -a "$new" != 0
pid=$new

# Break the config the way the Fogbow guide does: a `#` comment line.
printf '\n# component_interface = "0.0.0.0"\n' >>"$cfg"
broken_line=$(wc -l <"$cfg")

expect "systemctl reload fails with a broken config" sh -c "! nsenter -t $LEADER -a systemctl reload prosody.service"
expect_eq "ReloadResult after a broken reload" "$(unit_prop ReloadResult)" exit-code
expect_eq "prosody stays active after the refused reload" "$(unit_prop ActiveState)" active
expect_eq "the same prosody keeps running (MainPID)" "$(unit_prop MainPID)" "$pid"

out=$(ct fogbow-xmpp-ctl restart 2>&1) && rc=0 || rc=$?
expect_eq "fogbow-xmpp-ctl restart refuses a broken config (exit 1)" "$rc" 1
expect "it says why, with file and line" grep -q "prosody.cfg.lua:$broken_line:1: error\[syntax\]" <<<"$out"
expect_eq "the running server was not touched (MainPID)" "$(unit_prop MainPID)" "$pid"
expect_eq "and it is still active" "$(unit_prop ActiveState)" active

# Plain systemctl: the stop half cannot be vetoed, the start is refused.
ct systemctl stop prosody.service
expect "systemctl start fails with a broken config" sh -c "! nsenter -t $LEADER -a systemctl start prosody.service"
expect_eq "prosody is failed, not half-started" "$(unit_prop ActiveState)" failed
journal=$(ct journalctl -u prosody.service --no-pager -o cat)
expect "the journal has our FILE:LINE:COLUMN message" grep -q "/etc/prosody/prosody.cfg.lua:$broken_line:1: error\[syntax\]: unexpected symbol near '#'" <<<"$journal"
fields=$(ct journalctl -u prosody.service --no-pager -o verbose SYSLOG_IDENTIFIER=fogbow-xmpp-ctl PRIORITY=3)
expect "the line is an error (PRIORITY=3) of fogbow-xmpp-ctl" grep -q "prosody.cfg.lua:$broken_line:1: error\[syntax\]" <<<"$fields"

# 20 failed reloads in a row: each exits 1, keeps the MainPID, and
# `journalctl -u prosody` shows its FILE:LINE (a different line each time).
cp -p "$root/good.cfg.lua" "$cfg"
ct systemctl reset-failed prosody.service
ct systemctl start prosody.service
expect "prosody starts again for the reloads" wait_listening
pid=$(unit_prop MainPID)
in_journal() { # in_journal TEXT: within 5 s in journalctl -u prosody
  local i
  for i in $(seq 1 25); do
    ct journalctl -u prosody.service --no-pager -o cat | grep -qF -- "$1" && return 0
    sleep 0.2
  done
  return 1
}
reload_rc=0 same_pid=0 shown=0 once=0 lines=()
for i in $(seq 1 20); do
  { cat "$root/good.cfg.lua"; for _ in $(seq 1 $((100 + i))); do echo; done; echo "# broken $i"; } >"$cfg"
  line=$(wc -l <"$cfg")
  lines+=("$line")
  ct systemctl reload prosody.service 2>/dev/null && rc=0 || rc=$?
  [ "$rc" -eq 1 ] && reload_rc=$((reload_rc + 1))
  [ "$(unit_prop MainPID)" = "$pid" ] && same_pid=$((same_pid + 1))
  if in_journal "/etc/prosody/prosody.cfg.lua:$line:1: error[syntax]"; then
    shown=$((shown + 1))
  else
    echo "reload $i: /etc/prosody/prosody.cfg.lua:$line not in journalctl -u prosody"
  fi
done
expect_eq "20 failed reloads: each exits 1" "$reload_rc" 20
expect_eq "20 failed reloads: the same MainPID each time" "$same_pid" 20
expect_eq "20 failed reloads: journalctl -u prosody shows the FILE:LINE each time" "$shown" 20
journal=$(ct journalctl -u prosody.service --no-pager -o cat)
for line in "${lines[@]}"; do
  [ "$(grep -cF "/etc/prosody/prosody.cfg.lua:$line:1: error[syntax]" <<<"$journal")" = 1 ] && once=$((once + 1))
done
expect_eq "20 failed reloads: each FILE:LINE is in the journal once, not twice" "$once" 20

# Fixed: our restart brings it back.
cp -p "$root/good.cfg.lua" "$cfg"
expect "fogbow-xmpp-ctl restart starts prosody once the config is fixed" ct fogbow-xmpp-ctl restart
expect "prosody listens after the fix" wait_listening
expect_eq "prosody is active after the fix" "$(unit_prop ActiveState)" active

# An edit leaves an audit record in the journal (and never the secret).
printf 'audit-secret-0123456789\n' >"$rootfs/root/secret"
expect "add works inside the container" ct fogbow-xmpp-ctl add audit.example --secret-file /root/secret
audit=$(ct journalctl --no-pager -o verbose SYSLOG_IDENTIFIER=fogbow-xmpp-ctl FXC_ACTION=added)
expect "the audit record names the component" grep -q "FXC_COMPONENT=audit.example" <<<"$audit"
expect "the audit record names the uid" grep -q "FXC_UID=0" <<<"$audit"
expect "the audit record does not hold the secret" sh -c "! grep -q audit-secret" <<<"$(ct journalctl --no-pager -o verbose)"

# --reload: a reload applies a changed secret, but starts and stops components
# only through prosody's admin shell; proven without a restart (same MainPID).
pid=$(unit_prop MainPID)
printf 'reload-secret-0123456789\n' >"$rootfs/root/reload.secret"
out=$(ct fogbow-xmpp-ctl add reload.example --secret-file /root/reload.secret --reload 2>&1) && rc=0 || rc=$?
expect_eq "add --reload succeeds" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out"
expect "add --reload activated the component" grep -q "activated reload.example in the running prosody; a handshake is accepted" <<<"$out"
expect_eq "add --reload did not restart prosody (MainPID)" "$(unit_prop MainPID)" "$pid"
hs=$(nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 reload.example "$rootfs/root/reload.secret" 2>&1 || true)
expect_eq "a real handshake is accepted after add --reload" "$hs" accepted
printf 'reload-secret-changed-0123456789\n' >"$rootfs/root/reload2.secret"
expect "add --replace --reload applies a changed secret" ct fogbow-xmpp-ctl add reload.example --secret-file /root/reload2.secret --replace --reload
hs=$(nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 reload.example "$rootfs/root/reload2.secret" 2>&1 || true)
expect_eq "the changed secret is accepted without a restart" "$hs" accepted
out=$(ct fogbow-xmpp-ctl remove reload.example --reload 2>&1) && rc=0 || rc=$?
expect_eq "remove --reload succeeds" "$rc" 0
[ "$rc" -eq 0 ] || echo "$out"
expect "remove --reload says a connected component stays" grep -q "one already connected stays until it disconnects or prosody restarts" <<<"$out"
hs=$(nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 reload.example "$rootfs/root/reload2.secret" 2>&1 || true)
expect "a handshake is refused after remove --reload" test "$hs" != accepted
expect_eq "remove --reload did not restart prosody (MainPID)" "$(unit_prop MainPID)" "$pid"

# --restart: the guarded restart after the write. (systemd allows 5 starts in
# 10 s; this test restarts faster than any operator, so it resets the count.)
ct systemctl reset-failed prosody.service
pid=$(unit_prop MainPID)
expect "add --restart succeeds" ct fogbow-xmpp-ctl add restart.example --secret-file /root/reload.secret --restart
expect "prosody listens after add --restart" wait_listening
expect "add --restart restarted prosody (new MainPID)" test "$(unit_prop MainPID)" != "$pid"
expect "the component is accepted after add --restart" sh -c "nsenter -t $LEADER -a fogbow-xmpp-ctl probe restart.example >/dev/null"
ct systemctl reset-failed prosody.service
expect "remove --restart succeeds" ct fogbow-xmpp-ctl remove restart.example --restart
expect "and the component is gone (probe fails)" sh -c "! nsenter -t $LEADER -a fogbow-xmpp-ctl probe restart.example >/dev/null 2>&1"

# Without the admin shell, add --reload says so and suggests a restart.
cp -p "$cfg" "$root/with-shell.cfg.lua"
sed -i 's/^\([[:space:]]*\)"admin_shell";/\1-- "admin_shell";/' "$cfg"
expect "admin_shell disabled for this part" sh -c "! grep -q '^[[:space:]]*\"admin_shell\";' '$cfg'"
ct systemctl reset-failed prosody.service
expect "restart without the admin shell" ct fogbow-xmpp-ctl restart
expect "prosody listens without the admin shell" wait_listening
out=$(ct fogbow-xmpp-ctl add noshell.example --secret-file /root/reload.secret --reload 2>&1) && rc=0 || rc=$?
expect_eq "add --reload without the admin shell: written, not applied (exit 3)" "$rc" 3
expect "and says so, suggesting a restart" grep -q "admin shell is unavailable.*run fogbow-xmpp-ctl restart" <<<"$out"
expect "the config was written all the same" grep -q 'Component "noshell.example"' "$cfg"
cp -p "$root/with-shell.cfg.lua" "$cfg"

summary
halt

# The running server (readiness, the restart burst, exit 3, convergence,
# status) in booted Debian 12 and Debian 13 containers.
echo "== the running server: tests/systemd/running.sh ${FXC_RUNNING_SUITES:-bookworm trixie}"
# shellcheck disable=SC2086
bash tests/systemd/running.sh ${FXC_RUNNING_SUITES:-bookworm trixie}

# Secrets in encrypted systemd credentials: the gate with a
# hand-written Credential() config (Debian 13), then the credential store
# (Debian 13; the refusal on Debian 12).
echo "== the gate and Credential(): tests/systemd/credentials-gate.sh"
bash tests/systemd/credentials-gate.sh
echo "== the credential store: tests/systemd/credentials.sh"
bash tests/systemd/credentials.sh
