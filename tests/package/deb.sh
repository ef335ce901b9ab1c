#!/usr/bin/env bash
# The Debian package on this machine, as root (as CI runs): build it with
# cargo-deb, lintian it (no E:/W:), install it with apt next to Debian's
# prosody, check every file with owner and mode, the man page, bash
# completion, systemd-analyze verify, add/list/remove on the real
# /etc/prosody/prosody.cfg.lua, an upgrade that keeps a locally edited
# conffile, then remove and purge leaving nothing behind. The machine's state
# (prosody's config, our package) is restored whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/systemd/container.sh
. tests/systemd/container.sh

[ "$(id -u)" -eq 0 ] || { echo "run as root (it installs a package)"; exit 1; }
missing=()
for t in lintian:lintian man:man-db systemd-analyze:systemd; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
dpkg -s prosody >/dev/null 2>&1 || missing+=(prosody)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb

pkg=fogbow-xmpp-ctl
cfg=/etc/prosody/prosody.cfg.lua
if dpkg -s "$pkg" >/dev/null 2>&1; then
  echo "$pkg is already installed here; refusing to touch it"
  exit 1
fi
state=$(mktemp -d)
cp -a "$cfg" "$state/prosody.cfg.lua"
cleanup() {
  dpkg -P "$pkg" >/dev/null 2>&1 || true
  cmp -s "$cfg" "$state/prosody.cfg.lua" || cp -a "$state/prosody.cfg.lua" "$cfg"
  rm -rf "$state"
}
trap cleanup EXIT

echo "== cargo deb"
cargo deb --locked >/dev/null
deb=$(ls target/debian/${pkg}_0.1.0-1_*.deb)
cp "$deb" "$state/"
deb=$state/$(basename "$deb")

lint=$(lintian "$deb" 2>&1 | grep -E '^(E|W):' || true)
expect_eq "lintian reports no errors and no warnings" "$lint" ""
control=$(dpkg-deb -f "$deb")
expect "Depends on prosody" grep -Eq '^Depends: .*\bprosody\b' <<<"$control"
expect "Section: net" grep -q '^Section: net' <<<"$control"
expect "has an extended description" test "$(dpkg-deb -f "$deb" Description | wc -l)" -gt 5
expect "machine-readable copyright" sh -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/share/doc/$pkg/copyright | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/'"

echo "== apt-get install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
expect "installed" sh -c "dpkg -s $pkg >/dev/null"
for f in "/usr/bin/$pkg root:root 755" \
  "/usr/lib/systemd/system/prosody.service.d/$pkg.conf root:root 644" \
  "/usr/share/man/man1/$pkg.1.gz root:root 644" \
  "/usr/share/bash-completion/completions/$pkg root:root 644" \
  "/usr/share/zsh/vendor-completions/_$pkg root:root 644" \
  "/usr/share/fish/vendor_completions.d/$pkg.fish root:root 644" \
  "/etc/$pkg/config.toml root:root 644" \
  "/var/lib/$pkg root:root 700" \
  "/var/lib/$pkg/backups root:root 700"; do
  set -- $f
  expect_eq "$1 owner and mode" "$(stat -c '%U:%G %a' "$1" 2>&1)" "$2 $3"
done
expect "config.toml is a conffile" grep -q "/etc/$pkg/config.toml" <<<"$(dpkg-query -W -f='${Conffiles}' "$pkg")"
expect "the settings file parses (every key commented)" "$pkg" --settings "/etc/$pkg/config.toml" check -q --no-prosody
expect_eq "man -w finds the page" "$(man -w "$pkg" 2>&1)" "/usr/share/man/man1/$pkg.1.gz"
expect "the man page documents the exit status and files" sh -c "man $pkg 2>/dev/null | grep -q 'EXIT STATUS' && man $pkg 2>/dev/null | grep -q 'config.toml'"
completion=$(bash -c '
  . /usr/share/bash-completion/bash_completion
  . /usr/share/bash-completion/completions/fogbow-xmpp-ctl
  COMP_WORDS=(fogbow-xmpp-ctl a); COMP_CWORD=1; COMP_LINE="fogbow-xmpp-ctl a"; COMP_POINT=${#COMP_LINE}
  _fogbow__xmpp__ctl fogbow-xmpp-ctl a fogbow-xmpp-ctl
  printf "%s\n" "${COMPREPLY[@]}"')
expect_eq "bash completes 'fogbow-xmpp-ctl a' to add" "$completion" "add"
expect_eq "systemd-analyze verify prosody.service prints nothing" "$(systemd-analyze verify prosody.service 2>&1)" ""

echo "== the tool on the real $cfg"
printf 'package-test-secret-0123456789\n' >"$state/secret"
expect "add" "$pkg" add pkgtest.example --secret-file "$state/secret"
expect "list shows it" sh -c "$pkg list --json | grep -q '\"name\": \"pkgtest.example\"'"
expect "check passes" "$pkg" check -q
expect "a backup was kept" sh -c "ls /var/lib/$pkg/backups | grep -q prosody.cfg.lua"
expect_eq "the config keeps root:prosody 0640" "$(stat -c '%U:%G %a' "$cfg")" "$(stat -c '%U:%G %a' "$state/prosody.cfg.lua")"
expect "remove" "$pkg" remove pkgtest.example
expect "the config is byte-identical after add+remove" cmp "$cfg" "$state/prosody.cfg.lua"

echo "== upgrade keeps a locally edited conffile"
sed -i 's/^#backups = 10$/backups = 3/' "/etc/$pkg/config.toml"
cargo deb --locked --deb-revision 2 >/dev/null
deb2=$(ls target/debian/${pkg}_0.1.0-2_*.deb)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold "./$deb2" >/dev/null
rm -f "$deb2"
expect_eq "upgraded" "$(dpkg-query -W -f='${Version}' "$pkg")" "0.1.0-2"
expect "the local edit survived" grep -q '^backups = 3$' "/etc/$pkg/config.toml"

echo "== remove and purge"
dpkg -r "$pkg" >/dev/null
for f in "/usr/bin/$pkg" "/usr/lib/systemd/system/prosody.service.d/$pkg.conf" "/usr/share/man/man1/$pkg.1.gz" \
  "/usr/share/bash-completion/completions/$pkg" "/usr/share/zsh/vendor-completions/_$pkg" "/usr/share/fish/vendor_completions.d/$pkg.fish"; do
  expect "removed: $f" test ! -e "$f"
done
expect "remove keeps the conffile" test -e "/etc/$pkg/config.toml"
dpkg -P "$pkg" >/dev/null
expect "purged: /etc/$pkg" test ! -e "/etc/$pkg"
expect "purged: /var/lib/$pkg" test ! -e "/var/lib/$pkg"
expect "dpkg knows no file of ours" sh -c "! dpkg -L $pkg >/dev/null 2>&1"

echo "== purge keeps encrypted secrets prosody may still read"
dpkg -i "$deb" >/dev/null
install -d -m 0700 "/etc/$pkg/credentials"
echo ciphertext >"/etc/$pkg/credentials/$pkg.kept.example.cred"
chmod 0600 "/etc/$pkg/credentials/$pkg.kept.example.cred"
dpkg -P "$pkg" >/dev/null 2>"$state/purge.err"
expect "the .cred is kept" test -f "/etc/$pkg/credentials/$pkg.kept.example.cred"
expect "the settings file is gone" test ! -e "/etc/$pkg/config.toml"
expect "purge says what it kept" grep -q "kept /etc/$pkg/credentials" "$state/purge.err"
rm -rf "/etc/$pkg"
expect "prosody's config is untouched" cmp "$cfg" "$state/prosody.cfg.lua"
expect_eq "prosody's own files are untouched (dpkg --verify prosody)" "$(dpkg --verify prosody 2>&1)" ""

summary
