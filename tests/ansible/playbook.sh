#!/usr/bin/env bash
# The Ansible collection fogbow.xmpp (ansible/), driven by a real
# ansible-playbook against two sites in one run: a booted Debian 12
# (prosody 0.12) and a booted Debian 13 (prosody 13) container, each with the
# .deb installed by apt. Ansible reaches them through the connection plugin
# tests/ansible/connection_plugins/fxc_nsenter.py (nsenter into the
# container's namespaces; the host has no systemd to ask). On both sites:
#   the example playbook's --check --diff passes before the .deb is installed
#   (it reports the package's copy, writes nothing) and, after, previews the
#   listener and the components, writing nothing;
#   --check on a fresh config reports changed and writes nothing;
#   the first run (--diff) changes both, its diff shows no secret; a secret
#   generated on the site reaches `register` (and, from there, a 0600 file)
#   but no output;
#   an identical second run reports changed=0;
#   a real XEP-0114 handshake is accepted with the secrets the playbook set;
#   the listener module moves the component port (restart) and resets it;
#   a bad name fails with the tool's message, the config byte-identical;
#   --check of state=absent writes nothing;
#   state=absent restores the original config byte for byte, the handshake
#   is refused, and a second absent run reports changed=0.
#   bash tests/ansible/playbook.sh
# Needs root. No stdin; loopback only (the containers have nothing else).
# Cleans up every process, cgroup and mount it creates. Installs
# ansible-core from PyPI into target/ansible/venv when it is not there.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh
[ "$(id -u)" -eq 0 ] || { echo "run as root"; exit 1; }
exec </dev/null
need_tools
export LC_ALL=C.UTF-8 LANG=C.UTF-8 # ansible-core refuses a non-UTF-8 locale

# ansible-core as tests/ansible/sanity.sh has it: >=2.17,<2.20 from PyPI in
# the virtualenv target/ansible/venv (Debian's python refuses a system-wide
# pip install, PEP 668), made when missing; FXC_ANSIBLE_VENV=DIR for another.
venv=${FXC_ANSIBLE_VENV:-$repo/target/ansible/venv}
if [ ! -x "$venv/bin/ansible-playbook" ] || [ ! -x "$venv/bin/ansible-galaxy" ]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "== making $venv with ansible-core from PyPI"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'ansible-core>=2.17,<2.20'
fi
export PATH=$venv/bin:$PATH
echo "$(ansible-playbook --version | sed -n 1p), $(python3 --version) on the controller"
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
echo "== cargo deb"
cargo deb --locked >/dev/null
deb=$(ls target/debian/fogbow-xmpp-ctl_0.1.0-1_*.deb)

work=$(mktemp -d /var/tmp/fxc-ansible.XXXXXX)
chmod 700 "$work"
suites=(bookworm trixie)
declare -A LEADERS NSPAWNS MACHINES

use() { # use SUITE: point container.sh's ct/wait_listening/unit_prop at SUITE
  LEADER=${LEADERS[$1]} NSPAWN_PID=${NSPAWNS[$1]} MACHINE=${MACHINES[$1]}
}
halt_all() { # both containers down at once; then container.sh's halt cleans each up
  local s
  for s in "${!LEADERS[@]}"; do
    kill -0 "${LEADERS[$s]}" 2>/dev/null && nsenter -t "${LEADERS[$s]}" -a systemctl poweroff 2>/dev/null || true
  done
  for s in "${!LEADERS[@]}"; do
    use "$s"
    halt
    unset "LEADERS[$s]"
  done
}
cleanup() {
  halt_all
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that cleanup runs on a signal too

# Running plays, and reading what they did.
play() { # play NAME [ansible-playbook args...]: $work/NAME.out (stdout) and .err; sets rc
  local name=$1
  shift
  timeout 300 ansible-playbook -i "$work/inventory.yml" -e "@$work/vars.yml" "$@" \
    "${PLAYBOOK:-tests/ansible/playbook.yml}" >"$work/$name.out" 2>"$work/$name.err" && rc=0 || rc=$?
}
json_play() { ANSIBLE_STDOUT_CALLBACK=fxc_json play "$@"; }
stats() { # stats NAME HOST: "changed=N failed=N unreachable=N" from the fxc_json callback's stats
  python3 - "$work/$1.out" "$2" <<'EOF'
import json, sys
try:
    st = json.load(open(sys.argv[1]))["stats"][sys.argv[2]]
    print("changed=%d failed=%d unreachable=%d" % (st["changed"], st["failures"], st["unreachable"]))
except Exception as e:
    print("unparsable: %s" % e)
EOF
}
recap() { # recap NAME HOST: "changed=N failed=N unreachable=N" from the default callback's PLAY RECAP
  sed -n "s/^$2 *: .*changed=\([0-9]*\) *unreachable=\([0-9]*\) *failed=\([0-9]*\).*/changed=\1 failed=\3 unreachable=\2/p" "$work/$1.out"
}
result() { # result NAME HOST TASK_PREFIX EXPR: a Python expression over that task's result r
  python3 - "$work/$1.out" "$2" "$3" "$4" <<'EOF'
import json, sys
out, host, prefix, expr = sys.argv[1:]
for play in json.load(open(out))["plays"]:
    for task in play["tasks"]:
        if task["task"]["name"].startswith(prefix) and host in task["hosts"]:
            print(eval(expr, {}, {"r": task["hosts"][host]}))
            sys.exit(0)
print("no task %r for %s" % (prefix, host))
EOF
}
no_secret_in() { # no_secret_in FILE...: none of the secrets appears in them
  local sec
  for sec in "${all_secrets[@]}"; do
    ! grep -qF -- "$sec" "$@" || return 1
  done
}
same_as() { cmp -s "$work/$1$cfg" "$2"; }
backups() { find "$work/$1/var/lib/fogbow-xmpp-ctl/backups" -type f 2>/dev/null | wc -l; }
hs() { # hs SUITE NAME SECRET_FILE [PORT]: a real handshake from inside the site's network namespace
  nsenter -t "${LEADERS[$1]}" -n python3 tests/package/handshake.py 127.0.0.1 "${4:-5347}" "$2" "$3" 2>&1 | head -c 40 || true
}
listens() { nsenter -t "${LEADERS[$1]}" -n bash -c "exec 3<>/dev/tcp/127.0.0.1/$2" 2>/dev/null; }
not() { ! "$@"; }
show_failure() { echo "--- $1 (rc $rc)"; tail -n 40 "$work/$1.out" "$work/$1.err" || true; }

# Ansible's own state stays in $work: nothing in ~/.ansible, no ansible.cfg
# picked up from elsewhere, only the collection built below.
export ANSIBLE_CONFIG=$work/ansible.cfg
: >"$ANSIBLE_CONFIG"
export ANSIBLE_HOME=$work/ansible-home
export ANSIBLE_LOCAL_TEMP=$work/ansible-tmp
export ANSIBLE_COLLECTIONS_PATH=$work/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_CONNECTION_PLUGINS=$repo/tests/ansible/connection_plugins
export ANSIBLE_CALLBACK_PLUGINS=$repo/tests/ansible/callback_plugins
export ANSIBLE_NOCOLOR=1

echo "== ansible-galaxy collection build + install"
src=$repo/ansible/ansible_collections/fogbow/xmpp
ansible-galaxy collection build "$src" --output-path "$work/dist" >"$work/galaxy.log" 2>&1 ||
  { cat "$work/galaxy.log"; exit 1; }
ansible-galaxy collection install "$work"/dist/fogbow-xmpp-*.tar.gz -p "$ANSIBLE_COLLECTIONS_PATH" >>"$work/galaxy.log" 2>&1 ||
  { cat "$work/galaxy.log"; exit 1; }
expect "the collection fogbow.xmpp is installed from this repository's ansible/" \
  test -f "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/fogbow/xmpp/plugins/modules/component.py"

# Both sites booted at the same time, the .deb installed with apt, prosody up.
for s in "${suites[@]}"; do
  make_root "$s" "$work/$s"
  cp "$deb" "$work/$s/root/"
done
for s in "${suites[@]}"; do
  boot "$work/$s" "fxcans$s$$" && rc=0 || rc=$?
  LEADERS[$s]=$LEADER NSPAWNS[$s]=$NSPAWN_PID MACHINES[$s]=$MACHINE
  [ "$rc" -eq 0 ] || exit 1
done
cfg=/etc/prosody/prosody.cfg.lua
for s in "${suites[@]}"; do
  use "$s"
  echo "$s: prosody $(ct dpkg-query -W -f '${Version}' prosody), python $(ct python3 -c 'import platform; print(platform.python_version())')"
  ct systemctl start prosody.service
  expect "$s: prosody runs" wait_listening
done

# 0. The example playbook (examples/ansible/fogbow-xmpp.yml) with --check
# --diff: on the fresh sites (no fogbow-xmpp-ctl yet) it reports the package's
# copy and changes nothing; once the package is installed it previews the
# listener and both components, addresses shown, secrets masked.
{
  echo "fogbow_xmpp:"
  echo "  hosts:"
  for s in "${suites[@]}"; do
    echo "    $s:"
    echo "      fxc_nsenter_leader: ${LEADERS[$s]}"
  done
  echo "  vars:"
  echo "    ansible_connection: fxc_nsenter"
  echo "    ansible_python_interpreter: /usr/bin/python3"
  echo "    ansible_become_method: su"
} >"$work/example-inventory.yml"
# Every secret of this run, which no output may hold.
all_secrets=()
for s in "${suites[@]}"; do
  use "$s"
  for c in manager rendezvous; do
    p=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
    all_secrets+=("$p")
    printf 'xmpp_jid=my-%s.internal.mydomain\nxmpp_password=%s\n' "$c" "$p" |
      ct sh -c "mkdir -p /etc/fogbow && umask 077 && cat >/etc/fogbow/$c.conf"
  done
done
example_check() { # example_check NAME: the example with --check --diff; sets rc
  timeout 300 ansible-playbook -i "$work/example-inventory.yml" -e fogbow_xmpp_ctl_deb="$repo/$deb" \
    --check --diff examples/ansible/fogbow-xmpp.yml >"$work/$1.out" 2>"$work/$1.err" && rc=0 || rc=$?
}
example_check example-fresh
expect_eq "example --check --diff on fresh sites: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure example-fresh
for s in "${suites[@]}"; do
  expect_eq "$s: the example's --check reports the package's copy as its change" \
    "$(recap example-fresh "$s")" "changed=1 failed=0 unreachable=0"
  expect "$s: and installed nothing" test ! -e "$work/$s/usr/bin/fogbow-xmpp-ctl"
  expect "$s: nor copied the package" test ! -e "$work/$s/var/cache/fogbow-xmpp-ctl.deb"
done
expect "the example's --check says what it could not preview" grep -q "not installed yet" "$work/example-fresh.out"

for s in "${suites[@]}"; do
  use "$s"
  out=$(ct env DEBIAN_FRONTEND=noninteractive apt-get install -y "/root/$(basename "$deb")" 2>&1) && rc=0 || rc=$?
  expect_eq "$s: apt-get install the .deb" "$rc" 0
  [ "$rc" -eq 0 ] || echo "$out" | tail -5
  cp -a "$work/$s$cfg" "$work/$s.original"
done
example_check example-installed
expect_eq "example --check --diff with the package installed: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure example-installed
for s in "${suites[@]}"; do
  expect "$s: the example's --check wrote nothing" same_as "$s" "$work/$s.original"
done
expect "the example's --check previews the Manager" \
  grep -qF '+Component "my-manager.internal.mydomain"' "$work/example-installed.out"
expect "the example's --check shows the address it sets" \
  grep -qF '+component_interfaces = { "0.0.0.0" }' "$work/example-installed.out"
expect "the example's --check output holds none of the secrets" \
  no_secret_in "$work"/example-*.out "$work"/example-*.err

# Secrets: random per run and per site, in 0600 files; never on a command line.
secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }
manager=my-manager.internal.mydomain
rendezvous=my-rendezvous.internal.mydomain
generated=my-extra.internal.mydomain
{
  echo "fxc_manager: $manager"
  echo "fxc_rendezvous: $rendezvous"
  echo "fxc_generated: $generated"
  echo "fxc_secrets:"
} >"$work/vars.yml"
for s in "${suites[@]}"; do
  m=$(secret) r=$(secret)
  all_secrets+=("$m" "$r")
  (umask 077 && printf '%s\n' "$m" >"$work/$s.manager.secret" && printf '%s\n' "$r" >"$work/$s.rendezvous.secret")
  use "$s"
  ct sh -c 'umask 077 && cat >/root/manager.secret' <"$work/$s.manager.secret"
  echo "  $s: \"$r\"" >>"$work/vars.yml"
done
chmod 600 "$work/vars.yml"

{
  echo "sites:"
  echo "  hosts:"
  for s in "${suites[@]}"; do
    echo "    $s:"
    echo "      fxc_nsenter_leader: ${LEADERS[$s]}"
  done
  echo "  vars:"
  echo "    ansible_connection: fxc_nsenter"
  echo "    ansible_python_interpreter: /usr/bin/python3"
} >"$work/inventory.yml"


# 1. --check --diff on the fresh configs (default callback, as an operator reads it).
play check --check --diff
expect_eq "--check --diff: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure check
for s in "${suites[@]}"; do
  expect_eq "$s: --check reports the three components as changes" "$(recap check "$s")" "changed=3 failed=0 unreachable=0"
  expect "$s: --check wrote nothing (config byte-identical)" same_as "$s" "$work/$s.original"
  expect_eq "$s: --check wrote no backup" "$(backups "$s")" 0
done
expect "--check --diff shows the prepared diff" grep -qF "+Component \"$rendezvous\"" "$work/check.out"
expect "--check --diff output holds none of the secrets" no_secret_in "$work/check.out" "$work/check.err"

# 2. The first run, with --diff: both sites change.
json_play first --diff
expect_eq "first run: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure first
for s in "${suites[@]}"; do
  expect_eq "$s: first run changed the three components and wrote the generated secret" "$(stats first "$s")" "changed=4 failed=0 unreachable=0"
  expect "$s: the config now differs from the original" sh -c "! cmp -s '$work/$s$cfg' '$work/$s.original'"
  expect_eq "$s: the Rendezvous task returned a masked diff" \
    "$(result first "$s" "The Fogbow Rendezvous" "'+Component \"$rendezvous\"' in str(r.get('diff'))")" True
  b=$(result first "$s" "The Fogbow Manager" "r.get('backup_file') or ''")
  expect "$s: backup_file names a backup on the site ($b)" test -n "$b" -a -f "$work/$s$b"
done
for s in "${suites[@]}"; do
  cp -a "$work/$s$cfg" "$work/$s.applied"
  # The secret the site generated, as the playbook handed it on (0600 on the site).
  expect_eq "$s: the generated secret was written on the site, mode 0600" "$(stat -c %a "$work/$s/root/generated.secret" 2>&1)" 600
  cp "$work/$s/root/generated.secret" "$work/$s.generated.secret" 2>/dev/null || echo missing >"$work/$s.generated.secret"
  g=$(cat "$work/$s.generated.secret")
  [ "$g" = missing ] || all_secrets+=("$g")
done
expect "first run (--diff, json) output holds none of the secrets, generated ones included" \
  no_secret_in "$work/first.out" "$work/first.err"

# 3. The same run again: nothing to do on either site.
json_play second
expect_eq "second run: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure second
for s in "${suites[@]}"; do
  expect_eq "$s: identical second run reports changed=0" "$(stats second "$s")" "changed=0 failed=0 unreachable=0"
  expect "$s: and left the config byte-identical" same_as "$s" "$work/$s.applied"
done

# 4. The server took the playbook's secrets (apply: reload).
for s in "${suites[@]}"; do
  expect_eq "$s: the Manager's handshake with the secret file is accepted" \
    "$(hs "$s" "$manager" "$work/$s.manager.secret")" accepted
  expect_eq "$s: the Rendezvous's handshake with the inventory's secret is accepted" \
    "$(hs "$s" "$rendezvous" "$work/$s.rendezvous.secret")" accepted
  expect_eq "$s: the generated component's handshake with the registered secret is accepted" \
    "$(hs "$s" "$generated" "$work/$s.generated.secret")" accepted
done
other=${suites[1]}
expect_eq "${suites[0]}: the other site's secret is refused (each site got its own)" \
  "$(hs "${suites[0]}" "$rendezvous" "$work/$other.rendezvous.secret")" not-authorized

# 4b. The listener: another port (restart), unchanged again, then reset to
# prosody's default, the config back to what the components left.
PLAYBOOK=tests/ansible/listener.yml json_play listen -e fxc_port=5348
expect_eq "listener on 5348: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure listen
declare -A pid_before
for s in "${suites[@]}"; do
  pid_before[$s]=$(nsenter -t "${LEADERS[$s]}" -a systemctl show -p MainPID --value prosody.service)
done
PLAYBOOK=tests/ansible/listener.yml json_play listen-again -e fxc_port=5348
expect_eq "listener again: ansible-playbook exits 0" "$rc" 0
for s in "${suites[@]}"; do
  expect_eq "$s: the listener change is a change" "$(stats listen "$s")" "changed=1 failed=0 unreachable=0"
  expect_eq "$s: the same listener again is not" "$(stats listen-again "$s")" "changed=0 failed=0 unreachable=0"
  expect_eq "$s: and restarts nothing (same MainPID: no client dropped)" \
    "$(nsenter -t "${LEADERS[$s]}" -a systemctl show -p MainPID --value prosody.service)" "${pid_before[$s]}"
  expect_eq "$s: the Manager's handshake on port 5348 is accepted" \
    "$(hs "$s" "$manager" "$work/$s.manager.secret" 5348)" accepted
  expect "$s: and nothing listens on 5347 any more" not listens "$s" 5347
done
PLAYBOOK=tests/ansible/listener.yml json_play listen-reset
expect_eq "listener reset: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure listen-reset
for s in "${suites[@]}"; do
  expect_eq "$s: the reset is a change" "$(stats listen-reset "$s")" "changed=1 failed=0 unreachable=0"
  expect "$s: the reset gave back the config the components left, byte for byte" same_as "$s" "$work/$s.applied"
  expect "$s: prosody listens on 5347 again" listens "$s" 5347
  expect "$s: and no longer on 5348" not listens "$s" 5348
  expect_eq "$s: the Rendezvous's handshake on port 5347 is accepted again" \
    "$(hs "$s" "$rendezvous" "$work/$s.rendezvous.secret")" accepted
done

# 5. A bad name: the tool's message, nothing written.
declare -A kept
for s in "${suites[@]}"; do kept[$s]=$(backups "$s"); done
json_play badname -e fxc_rendezvous=a..b
expect_eq "bad name: ansible-playbook exits 2 (a task failed)" "$rc" 2
for s in "${suites[@]}"; do
  expect_eq "$s: bad name fails the Rendezvous task only" "$(stats badname "$s")" "changed=0 failed=1 unreachable=0"
  expect_eq "$s: with the tool's message" \
    "$(result badname "$s" "The Fogbow Rendezvous" "'the component name \"a..b\" has an empty label' in r.get('msg', '')")" True
  expect "$s: the config is byte-identical" same_as "$s" "$work/$s.applied"
  expect_eq "$s: and no backup was made" "$(backups "$s")" "${kept[$s]}"
done

# 6. --check of state=absent: would remove both, writes nothing.
json_play check-absent --check -e fxc_state=absent
expect_eq "--check absent: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure check-absent
for s in "${suites[@]}"; do
  expect_eq "$s: --check absent reports the three as changes" "$(stats check-absent "$s")" "changed=3 failed=0 unreachable=0"
  expect "$s: --check absent wrote nothing" same_as "$s" "$work/$s.applied"
  expect_eq "$s: and no backup" "$(backups "$s")" "${kept[$s]}"
done

# 7. state=absent: the original file, byte for byte; the server lets go.
json_play absent -e fxc_state=absent
expect_eq "absent: ansible-playbook exits 0" "$rc" 0
[ "$rc" -eq 0 ] || show_failure absent
for s in "${suites[@]}"; do
  expect_eq "$s: absent changed the three" "$(stats absent "$s")" "changed=3 failed=0 unreachable=0"
  expect "$s: absent restored the original config byte for byte" same_as "$s" "$work/$s.original"
  expect_eq "$s: the Manager's handshake is refused after absent" \
    "$(hs "$s" "$manager" "$work/$s.manager.secret")" host-unknown
  expect_eq "$s: the Rendezvous's handshake is refused after absent" \
    "$(hs "$s" "$rendezvous" "$work/$s.rendezvous.secret")" host-unknown
  expect_eq "$s: the generated component's handshake is refused after absent" \
    "$(hs "$s" "$generated" "$work/$s.generated.secret")" host-unknown
done
json_play absent-again -e fxc_state=absent
expect_eq "absent again: ansible-playbook exits 0" "$rc" 0
for s in "${suites[@]}"; do
  expect_eq "$s: absent again reports changed=0" "$(stats absent-again "$s")" "changed=0 failed=0 unreachable=0"
done
expect "no output of any run holds a secret" no_secret_in "$work"/*.out "$work"/*.err

halt_all
summary
