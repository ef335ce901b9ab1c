#!/usr/bin/env bash
# Benchmark of whole processes at growing config sizes (10, 1,000, 10,000,
# 20,000 and 100,000 components on top of Debian's default config), side by
# side in one run with hyperfine:
#   - `check --no-prosody` against `luac5.4 -p` (syntax only);
#   - `add` and `remove` of one component, each on a fresh copy;
#   - peak memory of add and remove against the file size: the peak heap
#     (valgrind's dhat, "At t-gmax"), and the peak RSS (/usr/bin/time %M),
#     whose start-up floor (the same binary printing --version) is shown too.
# Goals: --no-prosody within 2x of luac -p at 20,000; add/remove
# linear (100,000 no more than 12x the 10,000 case); peak memory under 4x
# the file. The figures in docs/BENCHMARKS.md come from this script.
#   bash benches/edit.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
command -v hyperfine >/dev/null && command -v luac5.4 >/dev/null && command -v valgrind >/dev/null ||
  { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine lua5.4 valgrind >/dev/null; }
. benches/lib.sh
bin=$BIN

floor=$(/usr/bin/time -f %M "$bin" --version 2>&1 >/dev/null | tail -1)
awk -v kb="$floor" 'BEGIN { printf "Start-up floor (peak RSS of `fogbow-xmpp-ctl --version`): %.2f MB\n\n", kb * 1024 / 1e6 }'
printf '| components | file | check --no-prosody | luac -p | ratio | add | remove | add peak heap (x file) | remove peak heap (x file) | add peak RSS (x file) | remove peak RSS (x file) |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for n in 10 1000 10000 20000 100000; do
  base=$work/base-$n.cfg.lua
  sed 's/^Include "conf.d\/\*.cfg.lua"$//' examples/prosody/prosody.cfg.lua >"$base"
  python3 - "$base" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "a") as f:
    for i in range(n):
        f.write(f'\nComponent "c{i}.components.example"\n\tcomponent_secret = "secret-{i:08d}-0123456789"\n')
PY
  "$bin" --settings "$work/settings.toml" -c "$base" add new.example --secret-file "$work/secret" -q >/dev/null 2>&1 || true
  cp "$base" "$work/with-$n.cfg.lua"
  "$bin" --settings "$work/settings.toml" -c "$base" remove new.example -q >/dev/null
  bytes=$(wc -c <"$base")
  ctl="$bin --settings $work/settings.toml -c $work/w.cfg.lua"
  hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$work/$n-check.json" \
    -n check "$bin check -q --no-prosody -c $base" -n luac "luac5.4 -p $base" >/dev/null
  hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$work/$n-add.json" \
    --prepare "cp $base $work/w.cfg.lua" -n add "$ctl add new.example --secret-file $work/secret -q" >/dev/null
  hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$work/$n-remove.json" \
    --prepare "cp $work/with-$n.cfg.lua $work/w.cfg.lua" -n remove "$ctl remove new.example -q" >/dev/null
  cp "$base" "$work/w.cfg.lua"
  add_rss=$(/usr/bin/time -f %M $ctl add new.example --secret-file "$work/secret" -q 2>&1 >/dev/null | tail -1)
  remove_rss=$(/usr/bin/time -f %M $ctl remove new.example -q 2>&1 >/dev/null | tail -1)
  # The heap's high-water mark, in bytes, as dhat counts it.
  heap() { valgrind --tool=dhat --dhat-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*At t-gmax: *\([0-9,]*\) bytes.*/\1/p' | tr -d ,; }
  cp "$base" "$work/w.cfg.lua"
  add_heap=$(heap $ctl add new.example --secret-file "$work/secret" -q)
  remove_heap=$(heap $ctl remove new.example -q)
  python3 - "$work/$n" "$n" "$bytes" "$add_rss" "$remove_rss" "$add_heap" "$remove_heap" <<'PY'
import json, sys
res = {r["command"]: r["mean"] * 1000 for part in ("check", "add", "remove")
       for r in json.load(open(f"{sys.argv[1]}-{part}.json"))["results"]}
n, size = int(sys.argv[2]), int(sys.argv[3])
add_rss, rm_rss, add_heap, rm_heap = (int(x) for x in sys.argv[4:8])
mb = lambda b: f"{b/1e6:.2f} MB ({b/size:.1f}x)"
print(f"| {n:,} | {size/1e6:.2f} MB | {res['check']:.1f} ms | {res['luac']:.1f} ms | {res['check']/res['luac']:.2f} | "
      f"{res['add']:.1f} ms | {res['remove']:.1f} ms | {mb(add_heap)} | {mb(rm_heap)} | {mb(add_rss*1024)} | {mb(rm_rss*1024)} |")
PY
done
