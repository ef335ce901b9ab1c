#!/usr/bin/env bash
# The Ansible collection fogbow.xmpp, as Galaxy and ansible-test see it:
#
#   1. ansible-core (>=2.17,<2.20, from PyPI) in a virtualenv of its own under
#      target/ansible/venv (Debian's python refuses a system-wide pip install,
#      PEP 668), made when missing;
#   2. `ansible-galaxy collection build` of ansible/ansible_collections/fogbow/xmpp
#      into target/ansible/, and the artifact checked (no test output, no
#      byte code, every module, the LICENSE);
#   3. the artifact installed into target/ansible/collections, and
#      `ansible-test sanity --local` run there, on the collection as it ships
#      (every test ansible-test offers for a collection, validate-modules,
#      pep8 and pylint included; their requirements installed by
#      `ansible-test sanity --requirements`);
#   4. `ansible-doc` of each module renders its options, examples and
#      return values;
#   5. (run before 4) the integration target tests/integration/targets/fogbow_xmpp:
#      the three modules on this machine against the real fogbow-xmpp-ctl
#      (FXC_BIN, else target/debug/fogbow-xmpp-ctl, built when missing) and
#      the installed prosody, on a scratch config (idempotence, check mode,
#      masked --diff, a bad name leaves the file byte-identical, absent
#      restores the original bytes, a generated secret returned once).
#
# Runs as root or not, with no standard input, on a fresh Debian machine
# (python3 and, when the venv module lacks ensurepip, apt's python3-venv;
# prosody and cargo, as the rest of the tests).
# Takes about 2-3 minutes with a cold virtualenv, under one with a warm one.
#
#   bash tests/ansible/sanity.sh
#
# FXC_ANSIBLE_VENV=DIR uses another virtualenv (made when missing).

set -euo pipefail
exec </dev/null

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The shell suites' prelude: say, fail.
# shellcheck source=tests/systemd/container.sh
. "$ROOT/tests/systemd/container.sh"
SRC="$ROOT/ansible/ansible_collections/fogbow/xmpp"
OUT="$ROOT/target/ansible"
VENV="${FXC_ANSIBLE_VENV:-$OUT/venv}"
ANSIBLE_CORE_SPEC='ansible-core>=2.17,<2.20'

mkdir -p "$OUT"

# 1. ansible-core in its own virtualenv.
if [ ! -x "$VENV/bin/ansible-test" ]; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            say "installing python3-venv (python3 has no ensurepip)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null ||
                { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; }
        else
            fail "python3 cannot make a virtualenv (install python3-venv)"
        fi
    fi
    say "making $VENV with $ANSIBLE_CORE_SPEC"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ANSIBLE_CORE_SPEC"
fi
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
PYV=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
say "$(ansible --version | sed -n 1p), python $PYV"

# Only what this script names: no config file of the caller's (and, below,
# no collection of the caller's).
export ANSIBLE_COLLECTIONS_PATH="$OUT/none"
: >"$OUT/ansible.cfg"
export ANSIBLE_CONFIG="$OUT/ansible.cfg"
export ANSIBLE_NOCOLOR=1

# 2. Build, and check what the artifact holds.
VERSION=$(sed -n 's/^version: *//p' "$SRC/galaxy.yml")
ARTIFACT="$OUT/fogbow-xmpp-$VERSION.tar.gz"
rm -f "$ARTIFACT"
# A previous ansible-test run in the source tree leaves output there: the
# build must not ship it (galaxy.yml's build_ignore), proven by the listing.
ansible-galaxy collection build "$SRC" --output-path "$OUT" --force >/dev/null
[ -f "$ARTIFACT" ] || fail "ansible-galaxy built no $ARTIFACT"
LISTING=$(tar -tzf "$ARTIFACT")
for f in galaxy.yml MANIFEST.json FILES.json README.md LICENSE meta/runtime.yml \
    docs/docsite/links.yml plugins/modules/component.py plugins/modules/listener.py \
    plugins/modules/component_info.py plugins/module_utils/fogbow_xmpp_ctl.py \
    plugins/action/component.py; do
    case "$f" in galaxy.yml) continue ;; esac # replaced by MANIFEST.json in an artifact
    grep -qx "$f" <<<"$LISTING" || fail "$ARTIFACT lacks $f"
done
if grep -E '(^|/)(tests/output|__pycache__)(/|$)|\.pyc$' <<<"$LISTING"; then
    fail "$ARTIFACT ships test output or byte code (build_ignore in galaxy.yml)"
fi
say "built $ARTIFACT ($(wc -l <<<"$LISTING") entries)"

# 3. Install the artifact and run ansible-test where it wants to be:
# .../ansible_collections/fogbow/xmpp as the working directory, outside any
# git work tree (inside one, ansible-test tests only the files git tracks,
# and target/ is ignored: it would skip everything).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fogbow-xmpp-sanity.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export ANSIBLE_COLLECTIONS_PATH="$WORK/collections"
ansible-galaxy collection install "$ARTIFACT" -p "$WORK/collections" --force >/dev/null
INSTALLED="$WORK/collections/ansible_collections/fogbow/xmpp"
[ -f "$INSTALLED/plugins/modules/component.py" ] || fail "the artifact did not install into $INSTALLED"
cd "$INSTALLED"
# ansible-test keeps its virtualenvs and caches under ~/.ansible/test: here,
# under target/ansible/home, so they are reused by the next run and nothing
# of the caller's home is touched.
# rustup and cargo keep finding the caller's toolchain (the tool is built
# below when it is missing).
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export HOME="$OUT/home"
# Each sanity test runs in a virtualenv ansible-test makes without pip and
# bootstraps with pip's get-pip.py, downloaded from a CI file host that is
# not a package registry (unreachable where only PyPI is). This stand-in
# does what get-pip.py does with the same arguments: pip from the
# interpreter's own ensurepip, then `pip install ARGS` (the pinned pip
# among them) from PyPI. A real get-pip.py already cached is kept.
PIP_PIN=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" \
    "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py")
[ -n "$PIP_PIN" ] || fail "cannot find the pip version ansible-test pins (python_requirements.py changed?)"
GET_PIP="$HOME/.ansible/test/cache/get_pip_${PIP_PIN//./_}.py"
if [ ! -s "$GET_PIP" ]; then
    mkdir -p "$(dirname "$GET_PIP")"
    cat >"$GET_PIP" <<'PY'
"""Stand-in for get-pip.py, written by fogbow-xmpp-ctl's tests/ansible/sanity.sh."""
import subprocess
import sys

ARGS = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
# ensurepip in a process of its own: in this one it would set
# PIP_CONFIG_FILE=/dev/null, and the install below would lose the
# machine's pip settings (its CA bundle, its index).
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + ARGS))
PY
fi
# --requirements: each test's requirements installed into its virtualenv
# (made once, then reused from target/ansible/home).
say "ansible-test sanity --local --python $PYV --requirements (every test offered)"
set +e
nice ansible-test sanity --local --python "$PYV" --requirements --color no >"$OUT/sanity.log" 2>&1
status=$?
set -e
grep -v -E '^(Collecting|Downloading|Installing|Requirement already|Successfully|Using cached|Looking in|Processing|  )' \
    "$OUT/sanity.log" >&2 || true
[ "$status" = 0 ] || fail "ansible-test sanity failed (exit $status): $OUT/sanity.log"
for t in validate-modules pep8 pylint; do
    grep -q "^Running sanity test \"$t\"" "$OUT/sanity.log" || fail "ansible-test did not run $t"
done
if grep -E '^(WARNING: )?Skipping sanity test "(validate-modules|pep8|pylint)"' "$OUT/sanity.log"; then
    fail "ansible-test skipped a required test"
fi

# 5. The modules against the real tool: the integration target
# tests/integration/targets/fogbow_xmpp runs them on this machine
# (connection local) on a scratch config, the tool found on PATH, the
# installed prosody's config loader checking every edit.
BIN="${FXC_BIN:-$ROOT/target/debug/fogbow-xmpp-ctl}"
if [ ! -x "$BIN" ]; then
    say "building fogbow-xmpp-ctl"
    (cd "$ROOT" && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" nice cargo build --locked -q --bin fogbow-xmpp-ctl)
    BIN="$ROOT/target/debug/fogbow-xmpp-ctl"
fi
command -v prosody >/dev/null || command -v prosodyctl >/dev/null ||
    fail "prosody is not installed (apt-get install prosody): the tool checks every edit with its config loader"
BINDIR=$(mktemp -d "$WORK/bin.XXXXXX")
ln -s "$BIN" "$BINDIR/fogbow-xmpp-ctl"
say "ansible-test integration fogbow_xmpp (the modules, the real tool $BIN)"
set +e
PATH="$BINDIR:$PATH" nice ansible-test integration --local --python "$PYV" --color no fogbow_xmpp \
    >"$OUT/integration.log" 2>&1
status=$?
set -e
if [ "$status" != 0 ]; then
    tail -n 60 "$OUT/integration.log" >&2
    fail "ansible-test integration failed (exit $status): $OUT/integration.log"
fi
grep -A1 '^PLAY RECAP' "$OUT/integration.log" >&2 || true
grep -qE '^testhost +: ok=[1-9][0-9]* +changed=[0-9]+ +unreachable=0 +failed=0' "$OUT/integration.log" ||
    fail "the integration target did not run to the end: $OUT/integration.log"
cd "$ROOT"

# 4. The docs render: every option, the examples and the return values.
say "ansible-doc"
modules=$(ansible-doc -t module -l fogbow.xmpp | awk '{print $1}' | sort | tr '\n' ' ')
[ "$modules" = "fogbow.xmpp.component fogbow.xmpp.component_info fogbow.xmpp.listener " ] ||
    fail "ansible-doc -l fogbow.xmpp lists: $modules"
doc_has() { # MODULE WORD...
    local module=$1 doc
    shift
    doc=$(ansible-doc "$module") || fail "ansible-doc $module failed"
    for w in "$@"; do
        grep -qF -- "$w" <<<"$doc" || fail "ansible-doc $module does not show $w"
    done
}
doc_has fogbow.xmpp.component 'EXAMPLES:' 'RETURN VALUES:' 'name' 'state' 'secret' \
    'secret_file' 'generate_secret' 'from_properties' 'replace' 'secret_store' 'apply' \
    'config' 'settings' 'executable' 'backup_file' 'applied' 'default: fogbow-xmpp-ctl'
doc_has fogbow.xmpp.listener 'EXAMPLES:' 'RETURN VALUES:' 'interfaces' 'ports' 'reset' 'apply' \
    'listener' 'executable' 'default: fogbow-xmpp-ctl'
doc_has fogbow.xmpp.component_info 'EXAMPLES:' 'RETURN VALUES:' 'components' 'status' 'in_sync' \
    'broken' 'executable' 'default: fogbow-xmpp-ctl'
say "sanity: OK"
echo "ansible collection sanity: 1 passed, 0 failed"
