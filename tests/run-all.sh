#!/usr/bin/env bash
# Runs every test of fogbow-xmpp-ctl: unit and property tests, CLI tests, and
# the tests against Debian's real prosody and Lua. Installs what the suite
# needs when it is missing (apt as root, or through sudo), so it runs the
# same on a fresh machine as on a developer's. Nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
command -v lua5.4 >/dev/null 2>&1 || missing+=(lua5.4)
command -v luac5.4 >/dev/null 2>&1 || missing+=(lua5.4)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
command -v lintian >/dev/null 2>&1 || missing+=(lintian)
command -v setfacl >/dev/null 2>&1 || missing+=(acl)
command -v setfattr >/dev/null 2>&1 || missing+=(attr)
command -v chattr >/dev/null 2>&1 || missing+=(e2fsprogs)
# Java's own Properties reader proves our .properties reader and writer.
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# slixmpp: an XEP-0114 component library we did not write, for the handshake tests.
python3 -c 'import slixmpp' 2>/dev/null || { echo "== installing slixmpp (PyPI)"; python3 -m pip install --quiet --disable-pip-version-check slixmpp; }
command -v cargo-deb >/dev/null 2>&1 || { echo "== installing cargo-deb"; cargo install --locked cargo-deb; }

# Property tests run a fixed, modest number of cases in CI.
export PROPTEST_CASES="${PROPTEST_CASES:-48}"
# The suite must not skip its real parts: tests check this and fail instead.
export FXC_REQUIRE_REAL=1

# Formatting and lints are part of the suite, so CI enforces them. rustup
# installs the two components where they are missing.
cargo fmt --version >/dev/null 2>&1 || { echo "== installing rustfmt"; rustup component add rustfmt; }
cargo clippy --version >/dev/null 2>&1 || { echo "== installing clippy"; rustup component add clippy; }
# The Debian 12 and 13 roots the container tests boot (and in which prosody
# 13's loader runs for cargo test), cached under target/containers: made
# while fmt and clippy compile, as debootstrap mostly waits on the network.
# Each stage's heading says when it started (minutes:seconds into the run).
stage() { printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
stage "the Debian 12 and 13 roots (cached under target/containers), in the background"
roots_log=$(mktemp)
as_root bash -c '. tests/systemd/container.sh && need_tools && cache_root trixie && cache_root bookworm' >"$roots_log" 2>&1 &
roots=$!
stage "cargo fmt --check"
cargo fmt --check
stage "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings 2>&1
stage "cargo doc (the library's documentation links nothing private)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet 2>&1
# prosody 13 (Debian 13) runs in tests through a chroot of the cached root.
stage "waiting for the Debian 12 and 13 roots"
wait "$roots" || { cat "$roots_log"; exit 1; }
rm -f "$roots_log"
# The other roots (12 and 13 with backports, forky), for the credential store
# under forky's systemd and the package matrix: made side by side meanwhile.
stage "the backports and forky roots (cached under target/containers), in the background"
more_roots_log=$(mktemp)
as_root bash -c '. tests/systemd/container.sh && { cache_root forky & f=$!; cache_root bookworm-backports & b=$!; cache_root trixie-backports && wait $f && wait $b; }' >"$more_roots_log" 2>&1 &
more_roots=$!
stage "cargo test"
cargo test --locked --all-targets 2>&1
stage "waiting for the backports and forky roots"
wait "$more_roots" || { cat "$more_roots_log"; exit 1; }
rm -f "$more_roots_log"
stage "the systemd gate, the running server and the credential store under a real systemd (bookworm, trixie, forky in systemd-nspawn)"
as_root bash tests/systemd/gate.sh
stage "the Debian package on this machine: build, lintian, install, upgrade, remove, purge"
as_root bash tests/package/deb.sh
stage "the Debian package on Debian 12, 12 + backports, 13, 13 + backports and forky (systemd-nspawn, side by side)"
as_root bash tests/package/containers.sh
stage "the Ansible collection fogbow.xmpp: build, ansible-test sanity, its integration target"
as_root bash tests/ansible/sanity.sh
stage "Ansible against Debian 12 and Debian 13 at once (booted containers)"
as_root bash tests/ansible/playbook.sh
stage "demo"
bash examples/demo.sh >/dev/null
stage "all test stages passed"
