#!/usr/bin/env bash
# bench/pgbench.sh: a real database client through each path. A private
# PostgreSQL (internal/testenv: a temp dir, a free loopback port, run as the
# postgres user when root) gets `pgbench -i -s 5`; then `pgbench -S -c 16
# -j 2 -T 10` (select-only) runs directly, through HAProxy (mode tcp, one
# server, TCP check), through vitals lb (one member, TCP monitor) and
# through bench/floor (the least a Go proxy costs: an epoll and an
# io_uring event loop of FLOOR_LOOPS loops, and a goroutine per
# direction), in ROUNDS rounds that rotate the order. Writes the mean TPS and average
# latency per path, and the ratios, to bench/RESULTS.md (bench/pgbench holds
# the test that does the work).
#
#   bash bench/pgbench.sh       # CLIENTS=16 THREADS=2 DURATION=10 (seconds) ROUNDS=3 SCALE=5 FLOOR_LOOPS=1
set -euo pipefail
cd "$(dirname "$0")/.."

export VITALS_PGBENCH_CLIENTS=${CLIENTS:-16}
export VITALS_PGBENCH_THREADS=${THREADS:-2}
export VITALS_PGBENCH_SECONDS=${DURATION:-10}
export VITALS_PGBENCH_ROUNDS=${ROUNDS:-3}
export VITALS_PGBENCH_SCALE=${SCALE:-5}
export VITALS_FLOOR_LOOPS=${FLOOR_LOOPS:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Bounded: a run is DURATION seconds, and pgbench -i and the starts take well under a minute.
go test -tags pgbench -count=1 -v -timeout 20m ./bench/pgbench -run '^TestPgbench$' 2>&1 | tee "$log" || { echo "bench/pgbench.sh: the test failed; RESULTS.md is unchanged" >&2; exit 1; }
line=$(grep -m1 '^PGBENCH ' "$log" || true)
[ -n "$line" ] || { echo "bench/pgbench.sh: the test printed no PGBENCH line (skipped?); RESULTS.md is unchanged" >&2; exit 1; }

# means per path: "tps lat" from the line's p_tps=… p_lat_ms=… pairs
mean() { tr ' ' '\n' <<<"${line#PGBENCH }" | awk -F= -v k="$1" '$1==k {s+=$2; n++} END {printf "%.1f", s/n}'; }
mean3() { tr ' ' '\n' <<<"${line#PGBENCH }" | awk -F= -v k="$1" '$1==k {s+=$2; n++} END {printf "%.3f", s/n}'; }
field() { tr ' ' '\n' <<<"${line#PGBENCH }" | awk -F= -v k="$1" '$1==k {print $2; exit}'; }
declare -A tps lat
for p in direct haproxy vitals floor_loop floor_uring floor_goroutine; do tps[$p]=$(mean "${p}_tps"); lat[$p]=$(mean3 "${p}_lat_ms"); done
ratio=$(awk -v a="${tps[vitals]}" -v b="${tps[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
add_h=$(awk -v a="${lat[haproxy]}" -v b="${lat[direct]}" 'BEGIN {printf "%+.3f", a-b}')
add_v=$(awk -v a="${lat[vitals]}" -v b="${lat[direct]}" 'BEGIN {printf "%+.3f", a-b}')
tv=$(awk -v r="$ratio" 'BEGIN {print (r >= 1.0) ? "meets" : "MISSES"}')
lv=$(awk -v v="$add_v" -v h="$add_h" 'BEGIN {print (v <= h) ? "meets" : "MISSES"}')
add_fl=$(awk -v a="${lat[floor_loop]}" -v b="${lat[direct]}" 'BEGIN {printf "%+.3f", a-b}')
add_fu=$(awk -v a="${lat[floor_uring]}" -v b="${lat[direct]}" 'BEGIN {printf "%+.3f", a-b}')
add_fg=$(awk -v a="${lat[floor_goroutine]}" -v b="${lat[direct]}" 'BEGIN {printf "%+.3f", a-b}')
floor_h=$(awk -v a="${tps[floor_loop]}" -v b="${tps[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
flooru_h=$(awk -v a="${tps[floor_uring]}" -v b="${tps[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
floorg_h=$(awk -v a="${tps[floor_goroutine]}" -v b="${tps[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
v_floor=$(awk -v a="${tps[vitals]}" -v b="${tps[floor_loop]}" 'BEGIN {printf "%.2f", a/b}')
echo "vitals/HAProxy TPS $ratio ($tv ≥ 1.0); added latency vitals $add_v ms, HAProxy $add_h ms ($lv); Go floor/HAProxy: loop $floor_h, io_uring $flooru_h, goroutine $floorg_h"

out=bench/RESULTS.md
section="## pgbench: select-only through vitals lb vs HAProxy 2.6 (mode tcp) vs direct"
tmp=$(mktemp)
awk -v s="$section" 'BEGIN{skip=0} $0==s {skip=1; next} /^## / && skip {skip=0} !skip' "$out" > "$tmp"
{
  cat "$tmp"
  echo "$section"
  echo
  echo "Script: \`bash bench/pgbench.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(field rounds) rounds interleaved, means; $(pgbench --version | head -1)."
  echo "A private PostgreSQL on loopback, \`pgbench -i -s $(field scale)\`, then \`pgbench -S -n -c $(field clients) -j $(field threads) -T $(field seconds)\`"
  echo "per path: direct, HAProxy $(haproxy -v | awk 'NR==1 {print $3}') (mode tcp, one server, TCP check), vitals lb (one member, TCP monitor)."
  echo
  echo "| path | TPS | average latency | added over direct |"
  echo "|---|---:|---:|---:|"
  echo "| direct | ${tps[direct]} | ${lat[direct]} ms | — |"
  echo "| HAProxy mode tcp | ${tps[haproxy]} | ${lat[haproxy]} ms | $add_h ms |"
  echo "| vitals lb | ${tps[vitals]} | ${lat[vitals]} ms | $add_v ms |"
  echo "| Go floor, epoll loop ($(field floor_loops) loop) | ${tps[floor_loop]} | ${lat[floor_loop]} ms | $add_fl ms |"
  echo "| Go floor, io_uring loop ($(field floor_loops) loop) | ${tps[floor_uring]} | ${lat[floor_uring]} ms | $add_fu ms |"
  echo "| Go floor, goroutine per direction | ${tps[floor_goroutine]} | ${lat[floor_goroutine]} ms | $add_fg ms |"
  echo
  echo "vitals/HAProxy: TPS **$ratio** (target ≥ 1.0: $tv), added latency $add_v ms vs $add_h ms (target ≤ HAProxy's: $lv)."
  echo
  echo "The Go floor rows are bench/floor: a proxy with none of vitals' work (no checks, timeouts, metrics or"
  echo "accounting): as an epoll event loop with raw system calls, as the same loop on io_uring (a batch of"
  echo "receives and sends per system call), and with a goroutine per direction. They show what any Go proxy pays"
  echo "here: floor/HAProxy TPS is $floor_h (epoll loop), $flooru_h (io_uring loop) and $floorg_h (goroutine);"
  echo "vitals reaches $v_floor of the epoll-loop floor."
  echo
} > "$out"
rm -f "$tmp"
