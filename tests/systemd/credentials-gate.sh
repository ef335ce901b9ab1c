#!/usr/bin/env bash
# The gate accepts prosody 13's own Credential() form. In
# a booted Debian 13 container (real prosody 13, real systemd 257), with the
# package's gate drop-in (ExecStartPre=/ExecReload= fogbow-xmpp-ctl check):
# a hand-written `component_secret = Credential("fogbow-mgr")`, the secret
# encrypted with `systemd-creds encrypt --with-key=host`, and a drop-in
# `LoadCredentialEncrypted=fogbow-mgr:PATH` for prosody.service.
# `systemctl restart prosody` passes the gate; the handshake with the
# secret is accepted and a wrong one refused; `check` as root outside the
# unit decrypts and passes, as the prosody user warns (secret-unverified);
# `probe` and `list` read the reference; a credential the unit does not
# load is refused by the gate at reload (which, in systemd 257, gets no
# $CREDENTIALS_DIRECTORY: the running service's directory is read) and at
# start (credential-missing); no plaintext under /etc or our state
# directories.
#   bash tests/systemd/credentials-gate.sh
# Needs root. Cleans up every process, cgroup and mount it creates.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh

suite_start credgate

hs() { # hs NAME SECRET_FILE: a real handshake from inside the container's network
  nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 "$1" "$2" 2>&1 || true
}

suite=trixie
rootfs=$work/$suite
make_root "$suite" "$rootfs"
install -m 0755 "$bin" "$rootfs/usr/bin/fogbow-xmpp-ctl"
install -d "$rootfs/usr/lib/systemd/system/prosody.service.d"
install -m 0644 systemd/prosody.service.d/fogbow-xmpp-ctl.conf "$rootfs/usr/lib/systemd/system/prosody.service.d/"

# The secret lives on the host side only (for the handshake client); inside,
# only its ciphertext.
secret=cred-gate-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$secret" >"$work/mgr.secret"
printf 'wrong-secret-0123456789\n' >"$work/wrong.secret"

boot "$rootfs" "fxccred$$"
echo "prosody $(ct dpkg-query -W -f '${Version}' prosody)"
ct systemctl start prosody.service
expect "prosody starts with the gate" wait_listening

ct install -d -m 0700 /etc/fogbow-test
printf '%s' "$secret" | ct systemd-creds encrypt --with-key=host --name=fogbow-mgr - /etc/fogbow-test/fogbow-mgr.cred 2>/dev/null
expect "the .cred file is ciphertext" sh -c "! grep -qF '$secret' '$rootfs/etc/fogbow-test/fogbow-mgr.cred'"
ct install -d /etc/systemd/system/prosody.service.d
printf '[Service]\nLoadCredentialEncrypted=fogbow-mgr:/etc/fogbow-test/fogbow-mgr.cred\n' \
  >"$rootfs/etc/systemd/system/prosody.service.d/fogbow-test-credentials.conf"
ct systemctl daemon-reload
cfg=$rootfs/etc/prosody/prosody.cfg.lua
cp "$cfg" "$work/prosody.cfg.lua.orig"
printf '\nComponent "mgr.fog.test"\n\tcomponent_secret = Credential("fogbow-mgr")\n' >>"$cfg"

# The gate runs in the unit with $CREDENTIALS_DIRECTORY: it passes.
ct systemctl restart prosody.service && rc=0 || rc=$?
expect_eq "systemctl restart prosody passes the gate" "$rc" 0
expect_eq "prosody is active" "$(unit_prop ActiveState)" active
expect "the component port listens" wait_listening 5347
expect_eq "the handshake with the secret is accepted" "$(hs mgr.fog.test "$work/mgr.secret")" accepted
expect_eq "a wrong secret is refused" "$(hs mgr.fog.test "$work/wrong.secret")" not-authorized
expect "no prosody-load error in the journal" sh -c "! nsenter -t $LEADER -a journalctl -u prosody --no-pager | grep -q 'prosody-load'"
# systemd 257 gives ExecReload= no $CREDENTIALS_DIRECTORY: the check there
# reads the running service's own /run/credentials/prosody.service.
ct systemctl reload prosody.service && rc=0 || rc=$?
expect_eq "systemctl reload prosody passes the gate" "$rc" 0

# Outside the unit.
ct fogbow-xmpp-ctl check --json >"$work/root.json" 2>&1 && rc=0 || rc=$?
expect_eq "check as root (decrypts what the unit loads) exits 0" "$rc" 0
expect "and reports nothing" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] and j["diagnostics"] == [], j' "$work/root.json"
ct runuser -u prosody -- fogbow-xmpp-ctl check --json >"$work/prosody.json" 2>&1 && rc=0 || rc=$?
expect_eq "check as the prosody user outside the unit exits 0" "$rc" 0
expect "with a secret-unverified warning only" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert [d["code"] for d in j["diagnostics"]] == ["secret-unverified"], j' "$work/prosody.json"
expect "probe as root is accepted (the decrypted secret)" ct fogbow-xmpp-ctl probe mgr.fog.test
ct fogbow-xmpp-ctl list --json >"$work/list.json"
expect "list names the credential" python3 -c '
import json, sys
c = [c for c in json.load(open(sys.argv[1]))["components"] if c["name"] == "mgr.fog.test"][0]
assert c["secret_source"] == "expression" and c["secret_ref"] == {"kind": "Credential", "name": "fogbow-mgr"}, c' "$work/list.json"
for f in root.json prosody.json list.json; do
  expect "no secret in $f" sh -c "! grep -qF '$secret' '$work/$f'"
done

# A credential the unit does not load: the gate refuses a reload (the
# running server keeps its config) and a start (prosody stays down).
sed -i 's/Credential("fogbow-mgr")/Credential("fogbow-none")/' "$cfg"
pid=$(unit_prop MainPID)
ct systemctl reload prosody.service 2>/dev/null && rc=0 || rc=$?
expect "systemctl reload fails at the gate" test "$rc" -ne 0
expect_eq "the running server is untouched (same MainPID)" "$(unit_prop MainPID)" "$pid"
expect_eq "and still accepts the handshake" "$(hs mgr.fog.test "$work/mgr.secret")" accepted
out=$(ct fogbow-xmpp-ctl check 2>&1) && rc=0 || rc=$?
expect_eq "check of a credential the unit does not load exits 1" "$rc" 1
expect "and says credential-missing" grep -q "error\[credential-missing\]" <<<"$out"
ct systemctl restart prosody.service && rc=0 || rc=$?
expect "systemctl restart fails at the gate" test "$rc" -ne 0
expect "the journal says credential-missing" sh -c "nsenter -t $LEADER -a journalctl -u prosody --no-pager | grep -q 'credential-missing'"
cp "$work/prosody.cfg.lua.orig" "$cfg"
printf '\nComponent "mgr.fog.test"\n\tcomponent_secret = Credential("fogbow-mgr")\n' >>"$cfg"
ct systemctl reset-failed prosody.service
ct systemctl restart prosody.service && rc=0 || rc=$?
expect_eq "fixed: restart passes again" "$rc" 0
expect "the component port listens again" wait_listening 5347
expect_eq "the handshake is accepted again" "$(hs mgr.fog.test "$work/mgr.secret")" accepted

# Plaintext nowhere on disk but systemd's own credential tmpfs.
expect "the secret in plaintext nowhere under /etc, /var/lib/fogbow-xmpp-ctl, /var/lib/prosody" \
  sh -c "! grep -rlF '$secret' '$rootfs/etc' '$rootfs/var/lib/fogbow-xmpp-ctl' '$rootfs/var/lib/prosody' 2>/dev/null | grep -q ."

halt
summary
