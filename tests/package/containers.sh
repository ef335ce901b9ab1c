#!/usr/bin/env bash
# The .deb on every Debian release that ships prosody, each booted with a real
# systemd in systemd-nspawn:
#   bookworm            Debian 12, prosody 0.12
#   bookworm-backports  Debian 12 with prosody 13 from bookworm-backports
#   trixie              Debian 13, prosody 13
#   trixie-backports    Debian 13 with the newer prosody 13 of trixie-backports
#   forky               Debian testing (the next stable), the newest systemd
# On each: apt installs it next to that release's prosody; the gate refuses a
# broken config at reload (same MainPID) and at start (FILE:LINE in the
# journal); `fogbow-xmpp-ctl add` + `fogbow-xmpp-ctl restart` bring up a
# component that a real XEP-0114 handshake accepts (a wrong secret refused);
# on prosody 13 the same with the secret in an encrypted systemd credential,
# whose removal leaves nothing behind (on 0.12 it is refused, nothing
# changed); purge leaves the system clean. The suites run side by side, each
# in its own container (the roots debootstrap in parallel when not cached).
#   bash tests/package/containers.sh [SUITE...]      (default: all five)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh
[ "$(id -u)" -eq 0 ] || { echo "run as root"; exit 1; }
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
cargo deb --locked >/dev/null
deb=$(ls target/debian/fogbow-xmpp-ctl_0.1.0-1_*.deb)

# The binary is the one the .deb holds (cargo deb built it).
FXC_BIN=${FXC_BIN:-target/release/fogbow-xmpp-ctl}
suite_start pkg
jobs_running=()
stop_suites() {
  # Each suite halts its own container when it ends, or when stopped here.
  local p
  for p in "${jobs_running[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${jobs_running[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap 'stop_suites; suite_cleanup' EXIT

pkg=fogbow-xmpp-ctl
credentials=/etc/$pkg/credentials
cred_drop_in=/etc/systemd/system/prosody.service.d/$pkg-credentials.conf

# A handshake from inside the container's network namespace:
# accepted, not-authorized, host-unknown, ...
handshake() { # handshake NAME SECRET_FILE (a host path)
  nsenter -t "$LEADER" -n python3 tests/package/handshake.py 127.0.0.1 5347 "$1" "$2" 2>&1 || true
}

# Whether `journalctl -u prosody` shows TEXT (within 3 s: journald may store
# it a moment after systemctl returns). When it does not, says whether the
# record is in the journal all the same, attributed to no unit: journald
# takes a record's unit from its sender's cgroup, and loses it when the
# sender has already exited.
unit_journal_has() { # unit_journal_has TEXT
  local i
  for i in $(seq 1 15); do
    ct journalctl -u prosody.service --no-pager -o cat | grep -qF "$1" && return 0
    sleep 0.2
  done
  echo "# not in journalctl -u prosody: $1; the journal by identifier:"
  ct journalctl --no-pager -o verbose SYSLOG_IDENTIFIER=fogbow-xmpp-ctl --output-fields=MESSAGE,_SYSTEMD_UNIT,_PID | tail -8 | sed 's/^/#   /'
  return 1
}

matches() { # matches STRING GLOB
  # shellcheck disable=SC2254 # the glob is the point
  case $1 in $2) return 0 ;; esac
  return 1
}

# The secret must not appear in FILE, raw or base64-decoded: it is ciphertext.
not_plaintext() { # not_plaintext FILE SECRET
  python3 - "$1" "$2" <<'EOF'
import base64, sys
data = open(sys.argv[1], "rb").read()
secret = sys.argv[2].encode()
try:
    decoded = base64.b64decode(b"".join(data.split()), validate=False)
except ValueError:
    decoded = b""
sys.exit(1 if secret in data or secret in decoded else 0)
EOF
}

# The prosody version each suite must have: proves the root is the release
# (and the backports) it is named after.
want_prosody() {
  case $1 in
    bookworm) echo '0.12.*' ;;
    bookworm-backports) echo '13.*~bpo12*' ;;
    trixie-backports) echo '13.*~bpo13*' ;;
    trixie | forky) echo '13.*' ;;
    *) echo "unknown suite $1" >&2; return 1 ;;
  esac
}

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

run_suite() {
  local suite=$1 rootfs=$work/$1
  local prosody_v systemd_v systemd_major out rc check runtime pid cfg broken_line
  echo "== $suite"
  make_root "$suite" "$rootfs"
  cp "$deb" "$rootfs/root/"
  boot "$rootfs" "fxcpkg${suite//-/}$$"
  prosody_v=$(ct dpkg-query -W -f '${Version}' prosody)
  systemd_v=$(ct dpkg-query -W -f '${Version}' systemd)
  systemd_major=$(root_systemd "$rootfs")
  echo "$suite: prosody $prosody_v, systemd $systemd_v"
  expect "$suite: prosody $prosody_v is the suite's ($(want_prosody "$suite"))" matches "$prosody_v" "$(want_prosody "$suite")"
  case $suite in
    *-backports) ;;
    *) expect "$suite: prosody comes from the release, not backports" sh -c "! echo '$prosody_v' | grep -q bpo" ;;
  esac
  # forky is in the matrix for its systemd: credentials refreshed by reload
  # (RefreshOnReload=, systemd 260).
  [ "$suite" != forky ] || expect "forky: systemd $systemd_v is 260 or newer" test "$systemd_major" -ge 260
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

  # The gate, as the package installs it. A good reload is a reload (same
  # MainPID); a broken config (a `#` comment line, as in the Fogbow guide)
  # fails the reload and leaves the running prosody alone, and fails a start
  # with our FILE:LINE in prosody's journal.
  pid=$(unit_prop MainPID)
  expect "$suite: systemctl reload succeeds with a good config" ct systemctl reload prosody.service
  expect_eq "$suite: ReloadResult after a good reload" "$(unit_prop ReloadResult)" success
  expect_eq "$suite: a reload keeps the MainPID" "$(unit_prop MainPID)" "$pid"
  cfg=$rootfs/etc/prosody/prosody.cfg.lua
  cp -p "$cfg" "$work/$suite.cfg.lua"
  printf '\n# component_interface = "0.0.0.0"\n' >>"$cfg"
  broken_line=$(wc -l <"$cfg")
  expect "$suite: systemctl reload fails with a broken config" sh -c "! nsenter -t $LEADER -a systemctl reload prosody.service"
  expect_eq "$suite: ReloadResult after a broken reload" "$(unit_prop ReloadResult)" exit-code
  expect_eq "$suite: prosody stays active after the refused reload" "$(unit_prop ActiveState)" active
  expect_eq "$suite: the same prosody keeps running (MainPID)" "$(unit_prop MainPID)" "$pid"
  ct systemctl stop prosody.service
  expect "$suite: systemctl start fails with a broken config" sh -c "! nsenter -t $LEADER -a systemctl start prosody.service"
  expect "$suite: journalctl -u prosody has FILE:LINE of the error" \
    unit_journal_has "/etc/prosody/prosody.cfg.lua:$broken_line:1: error[syntax]"
  cp -p "$work/$suite.cfg.lua" "$cfg"
  # The failed start counts towards systemd's start rate limit (5 in 10 s).
  ct systemctl reset-failed prosody.service
  expect "$suite: systemctl start succeeds once the config is fixed" ct systemctl start prosody.service
  expect "$suite: prosody listens again" wait_listening

  printf 'container-secret-%s-0123456789\n' "$suite" >"$rootfs/root/manager.secret"
  expect "$suite: add" ct "$pkg" add my-manager.internal.mydomain --secret-file /root/manager.secret
  expect "$suite: fogbow-xmpp-ctl restart" ct "$pkg" restart
  expect "$suite: prosody listens after the restart" wait_listening
  expect "$suite: the component port opened" wait_listening 5347
  expect_eq "$suite: a real XEP-0114 handshake is accepted" "$(handshake my-manager.internal.mydomain "$rootfs/root/manager.secret")" accepted
  printf 'wrong-secret\n' >"$work/wrong"
  expect_eq "$suite: a wrong secret is refused" "$(handshake my-manager.internal.mydomain "$work/wrong")" not-authorized

  # The secret in an encrypted systemd credential.
  local cname=vault.internal.mydomain secret cred before
  secret="credential-secret-$suite-0123456789"
  printf '%s\n' "$secret" >"$rootfs/root/vault.secret"
  cred=$credentials/$pkg.$cname.cred
  if matches "$prosody_v" '0.12*'; then
    # prosody 0.12 has no Credential(): refused, and nothing written.
    before=$(md5sum <"$cfg")
    out=$(ct "$pkg" add "$cname" --secret-file /root/vault.secret --secret-store credential 2>&1) && rc=0 || rc=$?
    expect "$suite: --secret-store credential is refused on prosody 0.12" test "$rc" -ne 0
    expect "$suite: it says why" grep -q "no Credential()" <<<"$out"
    expect_eq "$suite: the refused add left the config as it was" "$(md5sum <"$cfg")" "$before"
    expect "$suite: the refused add wrote no credential" test ! -e "$rootfs$cred"
    expect "$suite: the refused add wrote no credentials drop-in" test ! -e "$rootfs$cred_drop_in"
  else
    out=$(ct "$pkg" add "$cname" --secret-file /root/vault.secret --secret-store credential --json 2>&1) && rc=0 || rc=$?
    expect_eq "$suite: add --secret-store credential" "$rc" 0
    [ "$rc" -eq 0 ] || echo "$out"
    # What a credential change costs here. systemd before 260 hands a
    # service its credentials only at start: a restart.
    local restart_needed
    restart_needed=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["restart_needed"])' <<<"$out" 2>&1 || true)
    echo "$suite: a credential change: restart_needed=$restart_needed (systemd $systemd_major)"
    if [ "$systemd_major" -lt 260 ]; then
      expect_eq "$suite: systemd $systemd_major: the credential needs a restart" "$restart_needed" True
    fi
    # (systemd 260 and newer: the place for a credential applied by reload.)
    expect "$suite: the .cred exists, root 0600" test "$(stat -c %U:%a "$rootfs$cred" 2>&1)" = root:600
    expect "$suite: the .cred is ciphertext (no secret in it, raw or base64)" not_plaintext "$rootfs$cred" "$secret"
    expect "$suite: the config reads Credential(), not the secret" sh -c \
      "grep -rqF 'Credential(\"$pkg.$cname\")' '$rootfs/etc/prosody/' && ! grep -rqF '$secret' '$rootfs/etc/prosody/'"
    expect "$suite: prosody.service loads the credential" sh -c \
      "nsenter -t $LEADER -a systemctl show -p DropInPaths --value prosody.service | grep -q $pkg-credentials.conf"
    expect "$suite: fogbow-xmpp-ctl restart (credential)" ct "$pkg" restart
    expect "$suite: the component port opened (credential)" wait_listening 5347
    expect_eq "$suite: a handshake with the credential's secret is accepted" "$(handshake "$cname" "$rootfs/root/vault.secret")" accepted
    expect_eq "$suite: a wrong secret is refused (credential)" "$(handshake "$cname" "$work/wrong")" not-authorized

    expect "$suite: remove (credential)" ct "$pkg" remove "$cname"
    expect "$suite: remove deleted the .cred" test ! -e "$rootfs$cred"
    expect_eq "$suite: the credentials directory is empty" "$(ls -A "$rootfs$credentials" 2>&1)" ""
    expect "$suite: remove deleted the credentials drop-in" test ! -e "$rootfs$cred_drop_in"
    expect "$suite: no trace of it in prosody's config" sh -c "! grep -rqF '$cname' '$rootfs/etc/prosody/'"
    expect "$suite: systemd forgot the credentials drop-in" \
      sh -c "! nsenter -t $LEADER -a systemctl show -p DropInPaths --value prosody.service | grep -q $pkg-credentials"
    expect "$suite: fogbow-xmpp-ctl restart (after the removal)" ct "$pkg" restart
    expect "$suite: the component port opened (after the removal)" wait_listening 5347
    expect_eq "$suite: the removed component is unknown" "$(handshake "$cname" "$rootfs/root/vault.secret")" host-unknown
    expect_eq "$suite: prosody got no credential" "$(ct ls -A /run/credentials/prosody.service 2>/dev/null || true)" ""
  fi

  expect "$suite: remove" ct "$pkg" remove my-manager.internal.mydomain
  expect "$suite: purge" sh -c "nsenter -t $LEADER -a env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkg >/dev/null"
  local f
  for f in "/usr/bin/$pkg" "/usr/lib/systemd/system/prosody.service.d/$pkg.conf" "/etc/$pkg" "/var/lib/$pkg" \
    "/usr/share/man/man1/$pkg.1.gz" "/usr/share/bash-completion/completions/$pkg"; do
    expect "$suite: purged $f" test ! -e "$rootfs$f"
  done
  expect "$suite: systemd forgot the drop-in" \
    sh -c "! nsenter -t $LEADER -a systemctl show -p DropInPaths --value prosody.service | grep -q $pkg"
  expect_eq "$suite: prosody's own files are untouched" "$(ct dpkg --verify prosody 2>&1)" ""
  [ "$suite" != trixie ] || purge_with_a_credential "$suite"
  halt
  rm -rf "$rootfs" "$rootfs.boot.log"
}

# shellcheck disable=SC2206 # suites are words
suites=(${*:-bookworm bookworm-backports trixie trixie-backports forky})
for suite in "${suites[@]}"; do
  want_prosody "$suite" >/dev/null
  (
    # A stopped suite still halts its container.
    trap 'exit 143' TERM INT
    trap halt EXIT
    run_suite "$suite"
    summary
  ) >"$work/$suite.log" 2>&1 &
  jobs_running+=($!)
done

# Each suite's output in order, as it ends; the counts summed.
total_passed=0 total_failed=0 i=0
for suite in "${suites[@]}"; do
  wait "${jobs_running[$i]}" && rc=0 || rc=$?
  i=$((i + 1))
  cat "$work/$suite.log"
  read -r p _ f _ < <(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/$suite.log" | tail -1 || echo "0 passed 1 failed")
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $suite: the suite ended early (exit $rc)"
    total_failed=$((total_failed + 1))
  fi
done
jobs_running=()
echo "all suites: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
