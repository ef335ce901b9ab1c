#!/usr/bin/env bash
# The main job on a bundled example: a copy of Debian's default prosody config
# (with its conf.d symlink) in a scratch directory; add the two Fogbow
# components, list them, remove them, and show the file is back byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked
bin="$PWD/target/debug/fogbow-xmpp-ctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a examples/prosody "$work/prosody"
# It holds secrets: Debian ships it 0640 (root:prosody), and so does the demo.
chmod 0640 "$work/prosody/prosody.cfg.lua"
printf 'backup_dir = "%s/backups"\n' "$work" >"$work/settings.toml"
ctl() { "$bin" --settings "$work/settings.toml" -c "$work/prosody/prosody.cfg.lua" "$@"; }
step() { printf '\n$ %s\n' "$*"; "$@"; }

umask 077
printf 'manager-secret-from-manager.conf\n' >"$work/manager.secret"
step ctl add my-manager.internal.mydomain --secret-file "$work/manager.secret"
step ctl add my-rendezvous.internal.mydomain --generate-secret
step ctl list
step ctl list --json
printf '\n$ diff -u examples/prosody/prosody.cfg.lua (copy)\n'
diff -u examples/prosody/prosody.cfg.lua "$work/prosody/prosody.cfg.lua" | sed 's/component_secret = ".*"/component_secret = "********"/' || true
step ctl add my-manager.internal.mydomain --secret-file "$work/manager.secret"
step ctl remove my-manager.internal.mydomain --dry-run
step ctl remove my-manager.internal.mydomain
step ctl remove my-rendezvous.internal.mydomain --json
printf '\n$ cmp examples/prosody/prosody.cfg.lua (copy)\n'
cmp examples/prosody/prosody.cfg.lua "$work/prosody/prosody.cfg.lua" && echo "identical: add then remove restored the file byte for byte"
