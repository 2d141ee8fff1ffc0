#!/usr/bin/env bash
# bench/monitor.sh: CPU per check and memory per member of `vitals lb`'s
# health monitors at SIZES members (default 1,000, 10,000 and 50,000; half
# HTTP, half TCP, delay 1s, or longer above MAX_RATE members so that no
# size asks for more than MAX_RATE checks/s), side by side with HAProxy 2.6 checking the same
# loopback targets with the equivalent configuration, in the same run, one
# after the other. Both run in a private network namespace (as root), so
# that the namespace's TCP ActiveOpens counter counts exactly the checkers'
# connections: the checks. (Counting at the targets misses HAProxy's TCP
# checks, which reset the connection before the target accepts it.) CPU is
# utime+stime from /proc/PID/stat over the measured window, memory is VmRSS
# at its end. Writes the "## monitor: ..." section of bench/RESULTS.md, with
# how the cost per member grows from 10,000 to the largest size.
#
#   bash bench/monitor.sh          # SIZES="1000 10000 50000" PER_POOL=100 WARMUP=10 DURATION=30 MAX_RATE=10000
#
# Why MAX_RATE: 50,000 members checked every second are 50,000 checks/s,
# which no checker can do on 2 cores shared with the targets (HAProxy used
# about 0.46 CPU s per 10,000 checks at 10,000 members: 2.3 cores at
# 50,000/s). What grows with the members is then the backlog, not the cost
# per member. With the delay stretched to keep the rate at MAX_RATE, the
# largest size measures what a member costs at that scale, and the
# checks/s column shows whether the checker keeps its schedule.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-1000 10000 50000} # members; each a multiple of 2 * PER_POOL
PER_POOL=${PER_POOL:-100}  # members per pool, one per target port; pools alternate HTTP and TCP
WARMUP=${WARMUP:-10}       # seconds before measuring
DURATION=${DURATION:-30}   # seconds measured
HTTP_BASE=${HTTP_BASE:-20000}
TCP_BASE=${TCP_BASE:-21000}
MAX_RATE=${MAX_RATE:-10000} # checks/s asked of a checker at most: the delay grows above this many members

command -v haproxy >/dev/null || { echo "bench/monitor.sh needs haproxy 2.6: apt-get install haproxy"; exit 1; }
# Checks in flight and TIME_WAIT do not hold descriptors for long; the hard
# limit (raised to 65536 when allowed) is plenty.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ -z "${BENCH_NETNS:-}" ]; then
  bin=$(mktemp -d)
  go build -o "$bin/vitals" ./cmd/vitals
  go build -o "$bin/targets" ./bench/targets
  if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    BENCH_NETNS=1 BENCH_BIN=$bin unshare -n bash "$0" "$@"; rc=$?
  else
    echo "not root: running in the shared network namespace; other traffic will skew the check counts" >&2
    BENCH_NETNS=shared BENCH_BIN=$bin bash "$0" "$@"; rc=$?
  fi
  rm -rf "$bin"
  exit $rc
fi
[ "$BENCH_NETNS" = 1 ] && ip link set lo up

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
cp "$BENCH_BIN/vitals" "$BENCH_BIN/targets" "$work/"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
python3 - "$HTTP_BASE" "$TCP_BASE" "$PER_POOL" <<'PY' || { echo "target ports are in use; set HTTP_BASE and TCP_BASE"; exit 1; }
import socket, sys
h, t, n = map(int, sys.argv[1:])
for base in (h, t):
    for p in range(base, base + n):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p)); s.close()
PY
control=$(free_port)
admin=$(free_port)

"$work/targets" -http-base "$HTTP_BASE" -http-ports "$PER_POOL" -tcp-base "$TCP_BASE" -tcp-ports "$PER_POOL" -control "127.0.0.1:$control" 2>"$work/targets.log" & pids+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$control/count" && break; sleep 0.1; done

clk=$(getconf CLK_TCK)
# count: TCP connections opened in this network namespace so far.
count() { awk '$1=="Tcp:" {if (!h) {for (i=2; i<=NF; i++) if ($i=="ActiveOpens") c=i; h=1} else print $c}' /proc/net/snmp; }
count_kind() { curl -fs "http://127.0.0.1:$control/count" | awk -v k="$1" '$1==k {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# alive PID LOG: fail with the log's tail if the checker died.
alive() { kill -0 "$1" 2>/dev/null || { echo "checker $1 died:"; tail -20 "$2"; exit 1; }; }

# measure PID NAME → sets checks_per_s, cpu_per_10k, rss_mb, rss_per_member_kb
measure() {
  local pid=$1 name=$2
  sleep "$WARMUP"
  local c0 t0 c1 t1
  local h0 h1 u0 u1
  h0=$(count_kind http); c0=$(count); t0=$(cpu_ticks "$pid"); u0=$(user_ticks "$pid")
  sleep "$DURATION"
  c1=$(count); t1=$(cpu_ticks "$pid"); u1=$(user_ticks "$pid"); h1=$(count_kind http)
  user_per_10k=$(awk -v a="$u0" -v b="$u1" -v k="$clk" -v x="$c0" -v y="$c1" 'BEGIN {printf "%.3f", (b-a)/k/(y-x)*10000}')
  http_per_s=$(awk -v a="$h0" -v b="$h1" -v d="$DURATION" 'BEGIN {printf "%.0f", (b-a)/d}')
  local rss; rss=$(rss_kb "$pid")
  checks_per_s=$(awk -v a="$c0" -v b="$c1" -v d="$DURATION" 'BEGIN {printf "%.0f", (b-a)/d}')
  cpu_s=$(awk -v a="$t0" -v b="$t1" -v k="$clk" 'BEGIN {printf "%.2f", (b-a)/k}')
  cpu_per_10k=$(awk -v a="$t0" -v b="$t1" -v k="$clk" -v x="$c0" -v y="$c1" 'BEGIN {printf "%.3f", (b-a)/k/(y-x)*10000}')
  rss_mb=$(awk -v r="$rss" 'BEGIN {printf "%.1f", r/1024}')
  rss_per_member_kb=$(awk -v r="$rss" -v m="$MEMBERS" 'BEGIN {printf "%.2f", r/m}')
  echo "$name: $checks_per_s checks/s ($http_per_s HTTP), $cpu_s CPU s in ${DURATION}s, $cpu_per_10k CPU s per 10,000 checks, RSS $rss_mb MiB ($rss_per_member_kb KiB per member)"
}

# run_size MEMBERS: both checkers over MEMBERS members (pool i has PER_POOL
# members on consecutive ports; even pools are HTTP, odd pools TCP); sets
# the v_* and h_* figures.
run_size() {
MEMBERS=$1
POOLS=$((MEMBERS / PER_POOL))
DELAY=$(( (MEMBERS + MAX_RATE - 1) / MAX_RATE )) # seconds
python3 - "$work" "$POOLS" "$PER_POOL" "$HTTP_BASE" "$TCP_BASE" "$admin" "$DELAY" <<'PY'
import sys
work, pools, per, hb, tb, admin, delay = sys.argv[1], *map(int, sys.argv[2:])
v = [f"admin:\n  socket: {work}/lb.sock\n  listen: 127.0.0.1:{admin}\nloadbalancer:\n  name: bench\n  pools:\n"]
h = [f"""global
    maxconn 4000
    stats socket {work}/haproxy.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s
    default-server inter {delay}s fall 3 rise 2
"""]
for i in range(pools):
    http = i % 2 == 0
    base = hb if http else tb
    kind = "http" if http else "tcp"
    v.append(f"    - name: {kind}{i}\n      lb_algorithm: ROUND_ROBIN\n      healthmonitor:\n")
    v.append(f"        type: {'HTTP' if http else 'TCP'}\n        delay: {delay}\n        timeout: 1\n        max_retries: 2\n        max_retries_down: 3\n")
    if http:
        v.append("        http_method: GET\n        url_path: /\n        expected_codes: \"200\"\n")
    v.append("      members:\n")
    h.append(f"backend {kind}{i}\n")
    if http:
        h.append("    option httpchk GET /\n    http-check expect status 200\n")
    for j in range(per):
        v.append(f"        - name: m{j}\n          address: 127.0.0.1\n          protocol_port: {base + j}\n")
        h.append(f"    server m{j} 127.0.0.1:{base + j} check\n")
open(f"{work}/lb.yaml", "w").write("".join(v))
open(f"{work}/haproxy.cfg", "w").write("".join(h))
PY

# --- vitals lb ---
rm -f "$work/lb.sock"
"$work/vitals" lb --config "$work/lb.yaml" --log-level warn 2>"$work/vitals.log" & vpid=$!; pids+=($vpid)
for _ in $(seq 600); do [ -S "$work/lb.sock" ] && break; sleep 0.1; done
alive "$vpid" "$work/vitals.log"
# The warm-up starts once every member has been checked once: at 50,000
# members the lb takes a while to start (bounded by START_LIMIT seconds).
t_start=$(date +%s)
until [ "$(curl -fs "http://127.0.0.1:$admin/metrics" 2>/dev/null | awk '$1=="vitals_lb_checks_total" {printf "%.0f", $2}')" -ge "$MEMBERS" ] 2>/dev/null; do
  alive "$vpid" "$work/vitals.log"
  [ $(( $(date +%s) - t_start )) -lt "${START_LIMIT:-600}" ] || { echo "vitals lb: not every member checked within ${START_LIMIT:-600}s"; exit 1; }
  sleep 1
done
echo "vitals lb: every member checked once $(( $(date +%s) - t_start ))s after its admin socket opened"
measure "$vpid" "vitals lb"
v_cps=$checks_per_s v_cpu=$cpu_per_10k v_cpu_s=$cpu_s v_rss=$rss_mb v_rssm=$rss_per_member_kb v_user=$user_per_10k
v_online=$("$work/vitals" lb status --socket "$work/lb.sock" --json | python3 -c '
import json, sys
t = json.load(sys.stdin)["loadbalancer"]
print(sum(m["operating_status"] == "ONLINE" for p in t["pools"] for m in p["members"]))')
v_counted=$(curl -fs "http://127.0.0.1:$admin/metrics" | awk '$1=="vitals_lb_checks_total" {printf "%.0f", $2}')
echo "vitals lb: $v_online of $MEMBERS members ONLINE; it counted $v_counted checks itself"
correct="yes"; [ "$v_online" = "$MEMBERS" ] || correct="NO ($v_online)"
kill "$vpid"; wait "$vpid" 2>/dev/null || true

# --- HAProxy ---
hv=$(haproxy -v | awk 'NR==1 {print $3}')
# HAProxy reserves a descriptor per checked server on top of twice its
# maxconn, and refuses to start when RLIMIT_NOFILE is lower.
h_need=$((MEMBERS + 2 * 4000 + 100))
if [ "$(ulimit -n)" -lt "$h_need" ]; then
  echo "HAProxy $hv: not run at $MEMBERS members: it needs RLIMIT_NOFILE $h_need, the limit here is $(ulimit -n)"
  h_cps=– h_cpu=– h_cpu_s=– h_rss=– h_rssm=– h_user=– h_correct="not run: needs RLIMIT_NOFILE $h_need > $(ulimit -n)"
else
  rm -f "$work/haproxy.sock"
  haproxy -db -f "$work/haproxy.cfg" 2>"$work/haproxy.log" & hpid=$!; pids+=($hpid)
  for _ in $(seq 600); do [ -S "$work/haproxy.sock" ] && break; sleep 0.1; done
  alive "$hpid" "$work/haproxy.log"
  measure "$hpid" "HAProxy $hv"
  h_cps=$checks_per_s h_cpu=$cpu_per_10k h_cpu_s=$cpu_s h_rss=$rss_mb h_rssm=$rss_per_member_kb h_user=$user_per_10k
  h_up=$(python3 - "$work/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
rows = data.decode().splitlines()
cols = rows[0].lstrip("# ").split(",")
st = cols.index("status"); sv = cols.index("svname")
print(sum(1 for r in rows[1:] if r and r.split(",")[sv] not in ("BACKEND", "FRONTEND") and r.split(",")[st].startswith("UP")))
PY
  )
  echo "HAProxy $hv: $h_up of $MEMBERS servers UP"
  h_correct="yes"; [ "$h_up" = "$MEMBERS" ] || h_correct="NO ($h_up)"
  kill "$hpid"; wait "$hpid" 2>/dev/null || true
fi

}

declare -A row_v row_h cpu_v cpu_h rssm_v rssm_h
for size in $SIZES; do
  run_size "$size"
  row_h[$size]="| $size | $DELAY s | HAProxy $hv | $h_cps | $h_cpu_s | $h_cpu ($h_user) | $h_rss MiB | $h_rssm KiB | $h_correct |"
  row_v[$size]="| $size | $DELAY s | vitals lb | $v_cps | $v_cpu_s | $v_cpu ($v_user) | $v_rss MiB | $v_rssm KiB | $correct |"
  cpu_v[$size]=$v_cpu cpu_h[$size]=$h_cpu rssm_v[$size]=$v_rssm rssm_h[$size]=$h_rssm
done

# The ratios at 10,000 members (or the size nearest it), and growth: the
# cost per member at the largest size over the cost at that one.
ref=10000
case " $SIZES " in *" $ref "*) ;; *) ref=$(tr ' ' '\n' <<<"$SIZES" | awk 'NF {d=($1>10000)?$1-10000:10000-$1; if (best=="" || d<bd) {best=$1; bd=d}} END {print best}') ;; esac
big=$(tr ' ' '\n' <<<"$SIZES" | sort -n | tail -1)
# over A B: A/B, or n/a when either was not measured; within R LIMIT.
over() { case "$1$2" in *–*) echo "n/a" ;; *) awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}' ;; esac; }
within() { case "$1" in n/a) echo "n/a" ;; *) awk -v r="$1" -v l="$2" 'BEGIN {print (r <= l) ? "meets" : "MISSES"}' ;; esac; }
ratio=$(over "${cpu_v[$ref]}" "${cpu_h[$ref]}")
mem_ratio=$(over "${rssm_v[$ref]}" "${rssm_h[$ref]}")
verdict=$(within "$ratio" 0.9)
mem_verdict=$(within "$mem_ratio" 1.0)
growth() { over "$2" "$1"; }
g_cpu_v=$(growth "${cpu_v[$ref]}" "${cpu_v[$big]}"); g_cpu_h=$(growth "${cpu_h[$ref]}" "${cpu_h[$big]}")
g_mem_v=$(growth "${rssm_v[$ref]}" "${rssm_v[$big]}"); g_mem_h=$(growth "${rssm_h[$ref]}" "${rssm_h[$big]}")
lin=$(awk -v c="$g_cpu_v" -v m="$g_mem_v" 'BEGIN {print (c <= 1.1 && c >= 0.9 && m <= 1.1) ? "meets" : "MISSES"}')
echo "at $ref members: CPU per check vitals/HAProxy $ratio ($verdict ≤ 0.9), memory per member $mem_ratio ($mem_verdict ≤ 1.0)"
[ "$ref" = "$big" ] || echo "from $ref to $big members: vitals CPU per check x$g_cpu_v, RSS per member x$g_mem_v ($lin within 10%); HAProxy x$g_cpu_h, x$g_mem_h"

out=bench/RESULTS.md
section="## monitor: 1,000 to 50,000 members, vitals lb vs HAProxy"
old_section="## monitor: 10,000 members, vitals lb vs HAProxy"
tmp=$(mktemp)
if [ -f "$out" ]; then
  awk -v s="$section" -v o="$old_section" 'BEGIN{skip=0} $0==s || $0==o {skip=1; next} /^## / && skip {skip=0} !skip' "$out" > "$tmp"
else
  printf '# Benchmark results\n\nEach section is rewritten by the script named in it. Numbers are from one machine in one run;\ncompare the ratios, not the absolute values.\n\n' > "$tmp"
fi
{
  cat "$tmp"
  echo "$section"
  echo
  echo "Script: \`bash bench/monitor.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, go $(go env GOVERSION | sed 's/^go//'), HAProxy $hv)."
  echo "Members in pools of $PER_POOL (half the pools HTTP \`GET /\` expecting 200, half TCP connect), all on loopback targets"
  echo "(\`bench/targets\`), delay/inter 1s (longer above $MAX_RATE members, so that every size asks for at most $MAX_RATE checks/s: 50,000"
  echo "checks/s is more than 2 cores can do for either checker), timeout 1s, max_retries/rise 2, max_retries_down/fall 3. Each checker ran alone,"
  echo "in a private network namespace: ${WARMUP}s warm-up, then ${DURATION}s measured. Checks are the namespace's TCP"
  echo "ActiveOpens; CPU is utime+stime of the checker process over the window; RSS is VmRSS at its end."
  echo
  echo "| members | delay | checker | checks/s | CPU s in ${DURATION}s | CPU s per 10,000 checks (user part) | RSS | RSS per member | all up at the end |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---|"
  for size in $SIZES; do echo "${row_h[$size]}"; echo "${row_v[$size]}"; done
  echo
  echo "At $ref members, CPU per check vitals/HAProxy: **$ratio** (target ≤ 0.9: $verdict); memory per member vitals/HAProxy: **$mem_ratio** (target ≤ 1.0: $mem_verdict)."
  if [ "$ref" != "$big" ]; then
    echo "From $ref to $big members, the cost per member grows x$g_cpu_v in CPU per check and x$g_mem_v in RSS per member for vitals"
    echo "(target within 10%: $lin), x$g_cpu_h and x$g_mem_h for HAProxy."
  fi
  echo
} > "$out"
rm -f "$tmp"
