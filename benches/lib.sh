# Shared by the scaling benches (sourced; edit.sh, includes.sh, scale.sh): the binary under test, a scratch
# directory with settings and a secret, and `best`, the best wall time of
# RUNS runs. Each bench prints its figures side by side in one run.
#   BIN=/path/to/other/fogbow-xmpp-ctl bash benches/NAME.sh   (compare a build)
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked --quiet
  BIN=$PWD/target/release/fogbow-xmpp-ctl
fi
# These benches measure our own scaling: an edit also runs prosody's loader
# where prosody is installed (its cost is prosody's own start-up cost, in
# benches/check.sh), so it is left out here: the settings' prosody_lib names
# a directory without prosody.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'backups = 0\nlock_timeout_secs = 600\nprosody_lib = "/nonexistent"\n' >"$work/settings.toml"
printf 'bench-secret-0123456789\n' >"$work/secret"

# Best wall time of $runs runs of "$@", in seconds; $prepare runs before each.
best() {
  local b=
  for _ in $(seq "$runs"); do
    ${prepare:-true}
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{ d = $2 - $1; print (d < $3 ? d : $3) }')
  done
  echo "$b"
}
