#!/usr/bin/env bash
# bench/lb.sh: throughput (bulk transfer) and connection rate (short
# connections) through `vitals lb`, through HAProxy in mode tcp with the same
# two backends, and directly to one backend, in the same run, on loopback.
# Writes the numbers and the ratios to bench/RESULTS.md.
#
#   bash bench/lb.sh      # BYTES=4GiB BULK_CONNS=8 SHORT_CONNS=32 DURATION=10s ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."

BYTES=${BYTES:-4294967296}
BULK_CONNS=${BULK_CONNS:-8}
SHORT_CONNS=${SHORT_CONNS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}

command -v haproxy >/dev/null || { echo "bench/lb.sh needs haproxy (2.6)"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/vitals" ./cmd/vitals
go build -o "$work/lbload" ./bench/lbload

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
b1=$(free_port); b2=$(free_port); hp=$(free_port); vp=$(free_port)
"$work/lbload" backend -listen 127.0.0.1:$b1 & pids+=($!)
"$work/lbload" backend -listen 127.0.0.1:$b2 & pids+=($!)

cat > "$work/haproxy.cfg" <<CFG
global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 50s
  timeout server 50s
  retries 3
  option redispatch
frontend f
  bind 127.0.0.1:$hp
  default_backend b
backend b
  balance roundrobin
  server s1 127.0.0.1:$b1 check inter 2s
  server s2 127.0.0.1:$b2 check inter 2s
CFG
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 & pids+=($!)

cat > "$work/lb.yaml" <<CFG
admin:
  socket: $work/lb.sock
loadbalancer:
  listeners:
    - {name: bench, protocol: TCP, address: 127.0.0.1, protocol_port: $vp, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 2, timeout: 1, max_retries: 1}
      members:
        - {address: 127.0.0.1, protocol_port: $b1}
        - {address: 127.0.0.1, protocol_port: $b2}
CFG
"$work/vitals" lb --config "$work/lb.yaml" --log-level warn & pids+=($!)
sleep 2

mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.1f", s/NR}'; }
declare -A bulk short
# The order rotates every round, so that no path always runs first: a short
# run fills the loopback's ephemeral port range with TIME_WAIT sockets
# (about 29k here), and the path measured first in a fixed order was the
# only one that never connected through them.
targets=(direct haproxy vitals)
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2; do
    t=${targets[$(( (i + r - 1) % 3 ))]}
    case $t in direct) port=$b1 ;; haproxy) port=$hp ;; vitals) port=$vp ;; esac
    bulk[$t]+="$("$work/lbload" bulk -addr 127.0.0.1:$port -conns "$BULK_CONNS" -bytes "$BYTES") "
    short[$t]+="$("$work/lbload" short -addr 127.0.0.1:$port -conns "$SHORT_CONNS" -duration "$DURATION") "
    echo "round $r $t: bulk ${bulk[$t]}MiB/s short ${short[$t]}conn/s"
  done
done
declare -A bm sm
for t in direct haproxy vitals; do
  # shellcheck disable=SC2086
  bm[$t]=$(mean ${bulk[$t]}); sm[$t]=$(mean ${short[$t]})
done
tr=$(awk -v a="${bm[vitals]}" -v b="${bm[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
cr=$(awk -v a="${sm[vitals]}" -v b="${sm[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
tv=$(awk -v r="$tr" 'BEGIN {print (r >= 1.0) ? "meets" : "MISSES"}')
cv=$(awk -v r="$cr" 'BEGIN {print (r >= 0.8) ? "meets" : "MISSES"}')
echo "vitals/haproxy throughput $tr ($tv ≥ 1.0), connection rate $cr ($cv ≥ 0.8)"

out=bench/RESULTS.md
section="## lb: TCP proxying, vitals lb vs HAProxy 2.6 (mode tcp) vs direct"
tmp=$(mktemp)
awk -v s="$section" 'BEGIN{skip=0} $0==s {skip=1; next} /^## / && skip {skip=0} !skip' "$out" > "$tmp"
{
  cat "$tmp"
  echo "$section"
  echo
  echo "Script: \`bash bench/lb.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, $ROUNDS rounds, means). Two \`bench/lbload\` backends on loopback;"
  echo "HAProxy $(haproxy -v | awk 'NR==1 {print $3}') and vitals lb both round-robin over them with a TCP check and 50 s data timeouts."
  echo "Bulk: $BULK_CONNS connections send $((BYTES >> 20)) MiB in all. Short: $SHORT_CONNS loops of connect, 1 byte each way, close, for $DURATION."
  echo
  echo "| path | bulk MiB/s | short connections/s |"
  echo "|---|---:|---:|"
  echo "| direct to one backend | ${bm[direct]} | ${sm[direct]} |"
  echo "| HAProxy mode tcp | ${bm[haproxy]} | ${sm[haproxy]} |"
  echo "| vitals lb | ${bm[vitals]} | ${sm[vitals]} |"
  echo
  echo "vitals/HAProxy: throughput **$tr** (target ≥ 1.0: $tv), connection rate **$cr** (target ≥ 0.8: $cv)."
  echo
} > "$out"
rm -f "$tmp"
