#!/usr/bin/env bash
# bench/lb.sh: throughput (bulk transfer) and connection rate (short
# connections) through `vitals lb`, through HAProxy in mode tcp with the same
# two backends, through bench/floor (the least a Go proxy costs: an event
# loop per core, none of vitals' work) and directly to one backend, in the
# same run, on loopback.
# Then IDLE concurrent idle sessions (each sent one byte and got one) through
# HAProxy and through vitals lb: the proxy's RSS per session. Writes the
# numbers and the ratios to bench/RESULTS.md.
#
#   bash bench/lb.sh      # BYTES=4GiB BULK_CONNS=8 SHORT_CONNS=32 DURATION=10s ROUNDS=3 IDLE=10000 HOLD=5s
set -euo pipefail
cd "$(dirname "$0")/.."

BYTES=${BYTES:-4294967296}
BULK_CONNS=${BULK_CONNS:-8}
SHORT_CONNS=${SHORT_CONNS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-10000} # 0: no idle sessions
HOLD=${HOLD:-5s}
case $HOLD in [0-3]s) echo "bench/lb.sh: HOLD must be over 3s (the idle RSS is measured 3 s after the sessions opened)"; exit 1 ;; esac

command -v haproxy >/dev/null || { echo "bench/lb.sh needs haproxy (2.6)"; exit 1; }
# A proxy holds two descriptors per session: raise RLIMIT_NOFILE as far as
# allowed (the processes started below inherit it), and hold fewer idle
# sessions, saying so, when it stays too low.
want_nofile=$((2 * IDLE + 2200)) # HAProxy wants 2 x maxconn (IDLE + 1000) and some
[ "$(ulimit -n)" -ge "$want_nofile" ] || ulimit -n "$want_nofile" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
idle_note=""
if [ "$IDLE" -gt 0 ] && [ "$(ulimit -n)" -lt "$want_nofile" ]; then
  fit=$(( ($(ulimit -n) - 2200) / 2 ))
  idle_note=" (RLIMIT_NOFILE is $(ulimit -n) here and cannot be raised: $fit sessions instead of $IDLE)"
  echo "bench/lb.sh: RLIMIT_NOFILE $(ulimit -n) < $want_nofile:$idle_note" >&2
  IDLE=$fit
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/vitals" ./cmd/vitals
go build -o "$work/lbload" ./bench/lbload
go build -o "$work/floor" ./bench/floor

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
b1=$(free_port); b2=$(free_port); hp=$(free_port); vp=$(free_port); fp=$(free_port); up=$(free_port)
"$work/lbload" backend -listen 127.0.0.1:$b1 & pids+=($!)
"$work/lbload" backend -listen 127.0.0.1:$b2 & pids+=($!)

cat > "$work/haproxy.cfg" <<CFG
global
  maxconn $((IDLE + 1000))
defaults
  mode tcp
  maxconn $((IDLE + 1000))
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
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 & hpid=$!; pids+=($hpid)

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
"$work/vitals" lb --config "$work/lb.yaml" --log-level warn & vpid=$!; pids+=($vpid)
# bench/floor: the least a Go proxy costs (an event loop per core, on
# epoll and on io_uring, raw system calls, none of vitals' work), over the
# same two backends.
"$work/floor" -listen 127.0.0.1:$fp -backend 127.0.0.1:$b1,127.0.0.1:$b2 -mode loop -loops "$(nproc)" & fpid=$!; pids+=($fpid)
"$work/floor" -listen 127.0.0.1:$up -backend 127.0.0.1:$b1,127.0.0.1:$b2 -mode uring -loops "$(nproc)" & upid=$!; pids+=($upid)
sleep 2
kill -0 "$hpid" 2>/dev/null || { echo "bench/lb.sh: haproxy did not start:"; cat "$work/haproxy.log"; exit 1; }
kill -0 "$vpid" 2>/dev/null || { echo "bench/lb.sh: vitals lb did not start"; exit 1; }
kill -0 "$fpid" 2>/dev/null || { echo "bench/lb.sh: bench/floor did not start"; exit 1; }
kill -0 "$upid" 2>/dev/null || { echo "bench/lb.sh: bench/floor -mode uring did not start"; exit 1; }

mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.1f", s/NR}'; }
declare -A bulk short
# The order rotates every round, so that no path always runs first: a short
# run fills the loopback's ephemeral port range with TIME_WAIT sockets
# (about 29k here), and the path measured first in a fixed order was the
# only one that never connected through them.
targets=(direct haproxy vitals floor uring)
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2 3 4; do
    t=${targets[$(( (i + r - 1) % 5 ))]}
    case $t in direct) port=$b1 ;; haproxy) port=$hp ;; vitals) port=$vp ;; floor) port=$fp ;; uring) port=$up ;; esac
    bulk[$t]+="$("$work/lbload" bulk -addr 127.0.0.1:$port -conns "$BULK_CONNS" -bytes "$BYTES") "
    short[$t]+="$("$work/lbload" short -addr 127.0.0.1:$port -conns "$SHORT_CONNS" -duration "$DURATION") "
    echo "round $r $t: bulk ${bulk[$t]}MiB/s short ${short[$t]}conn/s"
  done
done
declare -A bm sm
for t in direct haproxy vitals floor uring; do
  # shellcheck disable=SC2086
  bm[$t]=$(mean ${bulk[$t]}); sm[$t]=$(mean ${short[$t]})
done
tr=$(awk -v a="${bm[vitals]}" -v b="${bm[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
cr=$(awk -v a="${sm[vitals]}" -v b="${sm[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
tv=$(awk -v r="$tr" 'BEGIN {print (r >= 1.2) ? "meets" : "MISSES"}')
cv=$(awk -v r="$cr" 'BEGIN {print (r >= 1.0) ? "meets" : "MISSES"}')
fr=$(awk -v a="${sm[floor]}" -v b="${sm[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
ur=$(awk -v a="${sm[uring]}" -v b="${sm[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
vf=$(awk -v a="${sm[vitals]}" -v b="${sm[floor]}" 'BEGIN {printf "%.2f", a/b}')
echo "vitals/haproxy throughput $tr ($tv ≥ 1.2), connection rate $cr ($cv ≥ 1.0); Go floor/haproxy connection rate $fr (epoll), $ur (io_uring)"

# Idle sessions: RSS of the proxy with IDLE sessions open, minus before.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
declare -A rss0 rss1 per_session
if [ "$IDLE" -gt 0 ]; then
  for t in haproxy vitals; do
    case $t in haproxy) port=$hp pid=$hpid ;; vitals) port=$vp pid=$vpid ;; esac
    rss0[$t]=$(rss_kb "$pid")
    "$work/lbload" idle -addr 127.0.0.1:$port -conns "$IDLE" -hold "$HOLD" >"$work/idle.out" & ipid=$!
    for _ in $(seq 1200); do grep -q '^ready' "$work/idle.out" 2>/dev/null && break; kill -0 "$ipid" 2>/dev/null || break; sleep 0.1; done
    grep -q '^ready' "$work/idle.out" || { echo "bench/lb.sh: $t: the idle sessions did not all open"; exit 1; }
    # Measured after 3 s of hold, for both proxies: an idle vitals lb
    # session gives up its goroutines after 500 ms and the runtime then
    # returns their memory (internal/lb/park.go); at 1 s that was not
    # always done.
    sleep 3
    rss1[$t]=$(rss_kb "$pid")
    wait "$ipid"
    per_session[$t]=$(awk -v a="${rss0[$t]}" -v b="${rss1[$t]}" -v n="$IDLE" 'BEGIN {printf "%.2f", (b-a)/n}')
    echo "$t: RSS ${rss0[$t]} KiB → ${rss1[$t]} KiB with $IDLE idle sessions: ${per_session[$t]} KiB per session"
    sleep 2 # the sessions close
  done
  ir=$(awk -v a="${per_session[vitals]}" -v b="${per_session[haproxy]}" 'BEGIN {printf "%.2f", a/b}')
  iv=$(awk -v r="$ir" 'BEGIN {print (r <= 1.0) ? "meets" : "MISSES"}')
  echo "vitals/haproxy RSS per idle session $ir ($iv ≤ 1.0)"
fi

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
  echo "| Go floor, epoll loop ($(nproc) loops) | ${bm[floor]} | ${sm[floor]} |"
  echo "| Go floor, io_uring loop ($(nproc) loops) | ${bm[uring]} | ${sm[uring]} |"
  echo
  echo "vitals/HAProxy: throughput **$tr** (target ≥ 1.2: $tv), connection rate **$cr** (target ≥ 1.0: $cv)."
  echo
  echo "The Go floor rows are bench/floor: an event loop per core with raw system calls (accept4, connect, read,"
  echo "write; or the same batched on io_uring) and none of vitals' work. Their connection rate is $fr× (epoll) and"
  echo "$ur× (io_uring) HAProxy's; vitals reaches $vf of the epoll loop's. (They copy without splice: their bulk"
  echo "figures are no bound for a proxy.)"
  echo
  if [ "$IDLE" -gt 0 ]; then
    echo "Idle sessions: $IDLE concurrent sessions$idle_note, each sent one byte and got one, then held for $HOLD;"
    echo "the proxy's VmRSS 3 s after the last one opened minus before."
    echo
    echo "| proxy | RSS before | RSS with $IDLE sessions | per session |"
    echo "|---|---:|---:|---:|"
    echo "| HAProxy mode tcp | $((rss0[haproxy] / 1024)) MiB | $((rss1[haproxy] / 1024)) MiB | ${per_session[haproxy]} KiB |"
    echo "| vitals lb | $((rss0[vitals] / 1024)) MiB | $((rss1[vitals] / 1024)) MiB | ${per_session[vitals]} KiB |"
    echo
    echo "RSS per idle session vitals/HAProxy: **$ir** (target ≤ 1.0: $iv)."
    echo
  fi
} > "$out"
rm -f "$tmp"
