#!/usr/bin/env bash
# Server CPU time per request under wrk: what a request costs the server,
# split into user time (the runtime and the handler) and the total (user +
# kernel), read from /proc/PID/stat around one wrk run. Run by hand after
# `cargo build --release --example http_hello --example tokio_hello`:
#
#   bash benches/http/cpu_per_request.sh [CONNS] [DURATION]   # 64, 8
#
# The server runs on CPU 0 and wrk on CPU 1 (taskset), coframe's
# LocalExecutor (async, stackful) and tokio's current_thread alternated,
# twice. When the server's CPU share stays below 100%, wrk is the
# bottleneck and requests/s cannot tell the servers apart; the user time
# per request is then the runtime's share of the work.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${1:-64}
DURATION=${2:-8}
ADDR=127.0.0.1:18091
bin=target/release/examples
tck=$(getconf CLK_TCK)

# measure NAME CMD...: one wrk run against the server CMD.
measure() {
  local name=$1; shift
  taskset -c 0 "$@" --addr "$ADDR" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null; then break; fi
    sleep 0.05
  done
  local u0 s0 u1 s1 out
  read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://$ADDR/")
  read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v name="$name" -v rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" \
      -v n="$(awk '/requests in/ { print $1 }' <<<"$out")" -v k="$tck" -v d="$DURATION" \
      -v u=$((u1 - u0)) -v s=$((s1 - s0)) 'BEGIN {
    printf "%-24s %9.0f r/s  server %3.0f%% of a core  %5.2f us/request (user %4.2f)\n",
      name, rps, (u + s) / k / d * 100, (u + s) / k * 1e6 / n, u / k * 1e6 / n }'
}

echo "machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), wrk -c$CONNS ${DURATION}s"
for _ in 1 2; do
  measure coframe-local-async "$bin/http_hello" --mode async --executor local
  measure tokio-current "$bin/tokio_hello" --flavor current
  measure coframe-local-stackful "$bin/http_hello" --mode stackful --executor local
done
