#!/usr/bin/env bash
# bench/soak.sh: the soak test of issue 10 (bench/soak, TestSoak) for
# VITALS_SOAK (default 5m): a vitals lb and one vitals agent per database in
# front of two private PostgreSQL and two private MariaDB servers under
# steady client load, while the test hangs, kills and restarts databases,
# reloads the lb every 10 s, flaps members' admin state through the API and
# floods the admin and event endpoints. Writes its figures to
# bench/RESULTS.md, then exits with the test's status. `make test` runs the
# same test for 60 s.
#
#   bash bench/soak.sh                 # VITALS_SOAK=5m
#   VITALS_SOAK=90s bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export VITALS_SOAK=${VITALS_SOAK:-5m}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

status=0
go test -count=1 -v -timeout 30m ./bench/soak -run '^TestSoak$' 2>&1 | tee "$log" || status=$?
line=$(grep -m1 '^SOAK ' "$log" || true)
if [ -z "$line" ]; then
  echo "bench/soak.sh: the test printed no SOAK line; RESULTS.md is unchanged" >&2
  exit 1
fi
declare -A f
for kv in ${line#SOAK }; do f[${kv%%=*}]=${kv#*=}; done
verdict=PASS
grep -q '^--- FAIL: TestSoak' "$log" && verdict=FAIL

# "warm/end/peak" -> "warm → end (peak peak)", with the growth when it is over 10%
trio() { awk -F/ '{printf "%s → %s (peak %s)", $1, $2, $3; if ($1 > 0 && $2 > $1 * 1.1) printf ", +%.0f%%: over 10%%, within the floor", ($2 / $1 - 1) * 100}' <<<"$1"; }
row() { # process name, key prefix
  local g="–"
  [ -n "${f[$2_goroutines]:-}" ] && g=$(trio "${f[$2_goroutines]}")
  echo "| $1 | $(trio "${f[$2_rss_mib]}") | $(trio "${f[$2_fds]}") | $g |"
}

out=bench/RESULTS.md
section="## soak: lb and agents under chaos"
tmp=$(mktemp)
awk -v s="$section" 'BEGIN{skip=0} $0==s {skip=1; next} /^## / && skip {skip=0} !skip' "$out" > "$tmp"
{
  cat "$tmp"
  echo "$section"
  echo
  echo "Script: \`bash bench/soak.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(go env GOVERSION), ${f[duration]}). Two PostgreSQL and two"
  echo "MariaDB servers (internal/testenv), a \`vitals agent\` beside each, one \`vitals lb\` with a pg and a my pool checking"
  echo "the agents (HTTP, delay 500ms, max_retries_down 2); 3 clients per pool run connect, \`SELECT\` the server's port,"
  echo "close, in a loop. Chaos: ${f[hangs]} hangs (SIGSTOP), ${f[kills]} kills and restarts, ${f[flaps]} admin flaps, ${f[reloads]} SIGHUPs,"
  echo "${f[floods]} floods (200 stalled lb /events, 48 stalled agent /status/events, 200 idle keep-alive admin connections and"
  echo "4 loops of status, metrics and wrong-token PUTs: ${f[admin_ok]} answered, ${f[admin_err]} failed, slowest ${f[admin_max]})."
  echo
  echo "| assertion | result | target |"
  echo "|---|---:|---:|"
  echo "| sessions (duration p50 / p99) | ${f[sessions]} (${f[session_p50]} / ${f[session_p99]}) | |"
  echo "| failed sessions overlapping a hung or dead member of their pool | ${f[failed_excused]} | |"
  echo "| failed sessions while every member of the pool was healthy | ${f[failed_healthy]} | 0 |"
  echo "| sessions to a member already ERROR / OFFLINE | ${f[to_error]} / ${f[to_offline]} | 0 / 0 |"
  echo "| false ONLINE: member ONLINE past the detection bound | ${f[false_online]} | 0 |"
  echo "| slowest detection of a hung or dead database | ${f[detect_max]} | ≤ ${f[detect_bound]} |"
  echo
  echo "Resources, after warm-up (every kind of chaos once, and at least the first fifth; medians of five samples) → at the"
  echo "end (peak during the run); the end may exceed warm-up by 10%, or by 20 for counts and 4 MiB for RSS when that is more:"
  echo "4 MiB is the Go runtime's minimum heap goal, and an agent with a live heap of about 1 MB allocates garbage up to it for"
  echo "a minute or more before its first collection (bench/soak/resources_test.go, rssFloor)."
  echo
  echo "| process | RSS MiB | descriptors | goroutines |"
  echo "|---|---|---|---|"
  row "vitals lb" lb
  for a in pg1 pg2 my1 my2; do row "vitals agent $a" "agent_$a"; done
  echo
  echo "Verdict: **$verdict**."
  echo
} > "$out"
rm -f "$tmp"
exit "$status"
