#!/usr/bin/env bash
# Benchmark of `check` (whole processes, side by side in one run, with
# hyperfine): `check` and `check --no-prosody` against prosody's bare loader
# (the script `check` runs, `src/system/loader.lua`, alone: the floor of a
# `check` that is right), `prosodyctl check config` and `luac5.4 -p`, on Debian's default config and on a generated
# config with 20,000 components. Prints a markdown table per config; the
# figures in docs/BENCHMARKS.md come from this script.
#   bash benches/check.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
for tool in hyperfine prosodyctl luac5.4; do
  command -v "$tool" >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine prosody lua5.4 >/dev/null; break; }
done
cargo build --release --locked --quiet
bin=$PWD/target/release/fogbow-xmpp-ctl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp src/system/loader.lua "$work/load.lua"

# Debian's default config, with its conf.d, as installed.
cp -a examples/prosody "$work/default"
# The same plus 20,000 external components (about 1.7 MB).
mkdir -p "$work/big"
cp -a examples/prosody/. "$work/big/"
python3 - "$work/big/prosody.cfg.lua" <<'PY'
import sys
with open(sys.argv[1], "a") as f:
    for i in range(20000):
        f.write(f'\nComponent "c{i}.components.example"\n\tcomponent_secret = "secret-{i:08d}-0123456789"\n')
PY
chmod -R a+rX "$work"

for name in default big; do
  cfg=$work/$name/prosody.cfg.lua
  echo "### $name config: $(wc -c <"$cfg") bytes, $(grep -c '^Component' "$cfg" || true) components"
  hyperfine --style none --warmup 3 --runs "$runs" -N --export-markdown "$work/$name.md" \
    -n "fogbow-xmpp-ctl check" "$bin check -q -c $cfg" \
    -n "fogbow-xmpp-ctl check --no-prosody" "$bin check -q --no-prosody -c $cfg" \
    -n "prosody's bare loader" "lua5.4 $work/load.lua $cfg" \
    -n "prosodyctl check config" "prosodyctl --config $cfg check config" \
    -n "luac5.4 -p" "luac5.4 -p $cfg" >/dev/null
  cat "$work/$name.md"
  echo
  for c in "$bin check -q -c $cfg" "$bin check -q --no-prosody -c $cfg" "luac5.4 -p $cfg"; do
    /usr/bin/time -f "peak memory %M KB: ${c/$work/…}" $c >/dev/null 2>"$work/time" || true
    tail -1 "$work/time"
  done
  echo
done
