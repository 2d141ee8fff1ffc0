#!/usr/bin/env bash
# bench/agent.sh: requests per second and p99 latency of `vitals agent`'s
# /health, side by side with a bare net/http handler, in the same run, on
# loopback. Writes the numbers and the ratio to bench/RESULTS.md.
#
#   bash bench/agent.sh            # DURATION=10s CONNS=64 THREADS=2 by default
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else echo "bench/agent.sh needs wrk: sudo apt-get install wrk"; exit 1; fi
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/vitals" ./cmd/vitals
go build -o "$work/barehttp" ./bench/barehttp

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
bare_port=$(free_port)
agent_port=$(free_port)

"$work/barehttp" -listen "127.0.0.1:$bare_port" & pids+=($!)
cat > "$work/agent.yaml" <<YAML
listen: 127.0.0.1:$agent_port
checks:
  - name: backend
    type: tcp
    address: 127.0.0.1:$bare_port
    interval: 2s
    timeout: 1s
  - name: maintenance
    type: file
    path: $work/maintenance
YAML
"$work/vitals" agent --config "$work/agent.yaml" --log-level warn & pids+=($!)

wait_up() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1"; exit 1; }
wait_up "http://127.0.0.1:$bare_port/"
wait_up "http://127.0.0.1:$agent_port/health"

# run URL → "rps p99_ms"
run() {
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$1" > "$work/wrk.out"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' "$work/wrk.out")
  if grep -q "Non-2xx" "$work/wrk.out"; then echo "non-2xx answers from $1" >&2; cat "$work/wrk.out" >&2; exit 1; fi
  echo "$rps $p99"
}

wrk -t1 -c8 -d2s "http://127.0.0.1:$bare_port/" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$agent_port/health" >/dev/null

bare_rps=(); bare_p99=(); agent_rps=(); agent_p99=()
for r in $(seq "$ROUNDS"); do
  read -r a b < <(run "http://127.0.0.1:$bare_port/"); bare_rps+=("$a"); bare_p99+=("$b")
  read -r a b < <(run "http://127.0.0.1:$agent_port/health"); agent_rps+=("$a"); agent_p99+=("$b")
  echo "round $r: bare ${bare_rps[-1]} req/s p99 ${bare_p99[-1]} ms; agent ${agent_rps[-1]} req/s p99 ${agent_p99[-1]} ms"
done
mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.1f", s/NR}'; }
br=$(mean "${bare_rps[@]}"); bp=$(mean "${bare_p99[@]}")
ar=$(mean "${agent_rps[@]}"); ap=$(mean "${agent_p99[@]}")
ratio=$(awk -v a="$ar" -v b="$br" 'BEGIN {printf "%.2f", a/b}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.8) ? "meets" : "MISSES"}')
echo "agent/bare throughput ratio: $ratio ($verdict the 0.8 target)"

out=bench/RESULTS.md
section="## agent: /health vs a bare net/http handler"
tmp=$(mktemp)
if [ -f "$out" ]; then
  awk -v s="$section" 'BEGIN{skip=0} $0==s {skip=1; next} /^## / && skip {skip=0} !skip' "$out" > "$tmp"
else
  printf '# Benchmark results\n\nEach section is rewritten by the script named in it. Numbers are from one machine in one run;\ncompare the ratios, not the absolute values.\n\n' > "$tmp"
fi
{
  cat "$tmp"
  echo "$section"
  echo
  echo "Script: \`bash bench/agent.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds, means)."
  echo "The agent runs a tcp and a file check in the background; /health answers from their cached results."
  echo
  echo "| server | requests/s | p99 latency |"
  echo "|---|---:|---:|"
  echo "| bare net/http handler | $br | $bp ms |"
  echo "| vitals agent /health | $ar | $ap ms |"
  echo
  echo "Throughput ratio agent/bare: **$ratio** (target ≥ 0.8: $verdict)."
  echo
} > "$out"
rm -f "$tmp"
