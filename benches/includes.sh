#!/usr/bin/env bash
# Scaling with the number of included files: a main
# config with `Include "conf.d/*.cfg.lua"` and N files of one external
# component each. Prints, side by side per N, the best of RUNS wall times
# of `check --no-prosody` and of `add` (each on a fresh copy), and the time
# per file: linear means that column stays flat. The figures in
# docs/BENCHMARKS.md come from this script.
#   bash benches/includes.sh [RUNS] [SIZES...]      (default: 3 2500 5000 10000 20000)
#   BIN=/path/to/other/fogbow-xmpp-ctl bash benches/includes.sh   (compare a build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
sizes=${*:-2500 5000 10000 20000}
. benches/lib.sh

printf '| included files | check --no-prosody | per file | add | per file |\n|---:|---:|---:|---:|---:|\n'
for n in $sizes; do
  d=$work/$n
  mkdir -p "$d/conf.d"
  printf 'admins = { }\nInclude "conf.d/*.cfg.lua"\n' >"$d/prosody.cfg.lua"
  for i in $(seq "$n"); do
    printf 'Component "c%d.components.example"\n\tcomponent_secret = "secret-%08d-0123456789"\n' "$i" "$i" >"$d/conf.d/c$i.cfg.lua"
  done
  cp "$d/prosody.cfg.lua" "$d/orig.cfg.lua"
  ctl="$BIN --settings $work/settings.toml -c $d/prosody.cfg.lua"
  check=$(prepare= best $ctl check -q --no-prosody)
  add=$(prepare="cp $d/orig.cfg.lua $d/prosody.cfg.lua" best $ctl add new.example --secret-file "$work/secret" -q)
  awk -v n="$n" -v c="$check" -v a="$add" 'BEGIN { printf "| %d | %.2f s | %.0f µs | %.2f s | %.0f µs |\n", n, c, c / n * 1e6, a, a / n * 1e6 }'
  rm -rf "$d"
done

# The glob prosody's own matcher and our old recursive one found hardest:
# `*a*a*a*a*a*b` against a 200-byte name that does not match (capped at 120 s).
d=$work/glob
mkdir -p "$d/conf.d"
printf 'Include "conf.d/*a*a*a*a*a*b"\n' >"$d/prosody.cfg.lua"
: >"$d/conf.d/$(printf 'a%.0s' $(seq 200))"
t0=$(date +%s.%N)
timeout 120 "$BIN" --settings "$work/settings.toml" -c "$d/prosody.cfg.lua" check -q --no-prosody >/dev/null 2>&1 || true
t1=$(date +%s.%N)
echo
echo "$t0 $t1" | awk '{ printf "Include \"conf.d/*a*a*a*a*a*b\" over a 200-byte name: check --no-prosody %.3f s\n", $2 - $1 }'
