#!/usr/bin/env bash
# Scaling of one large file: a single config with N
# external components (two lines each). Prints, side by side per N, the best
# of RUNS wall times of `check --no-prosody` and of `add` (on a fresh copy),
# with the time per component: linear means that column stays flat.
# The figures in docs/BENCHMARKS.md come from this script.
#   bash benches/scale.sh [RUNS] [SIZES...]     (default: 3 100000 200000 400000 800000)
#   BIN=/path/to/other/fogbow-xmpp-ctl bash benches/scale.sh   (compare a build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
sizes=${*:-100000 200000 400000 800000}
. benches/lib.sh

printf '| components | file | check --no-prosody | per component | add | per component |\n|---:|---:|---:|---:|---:|---:|\n'
for n in $sizes; do
  f=$work/orig.cfg.lua
  awk -v n="$n" 'BEGIN { print "admins = { }"; for (i = 1; i <= n; i++) printf "Component \"c%d.components.example\"\n\tcomponent_secret = \"secret-%08d-0123456789\"\n", i, i }' >"$f"
  cp "$f" "$work/prosody.cfg.lua"
  ctl="$BIN --settings $work/settings.toml -c $work/prosody.cfg.lua"
  check=$(prepare= best $ctl check -q --no-prosody)
  add=$(prepare="cp $f $work/prosody.cfg.lua" best $ctl add new.example --secret-file "$work/secret" -q)
  awk -v n="$n" -v b="$(wc -c <"$f")" -v c="$check" -v a="$add" 'BEGIN { printf "| %d | %.1f MB | %.2f s | %.2f µs | %.2f s | %.2f µs |\n", n, b / 1e6, c, c / n * 1e6, a, a / n * 1e6 }'
done
