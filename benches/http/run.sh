#!/usr/bin/env bash
# HTTP/1.1 "Hello, World!" served by coframe and by tokio with the same
# handler code (examples/common/http.rs), measured by wrk. Run by hand, not
# by CI (it takes DURATION x 48 seconds and wants a quiet machine):
#
#   bash benches/http/run.sh            # DURATION=10 ADDR=127.0.0.1:18090
#
# Pairs (A = coframe, B = tokio), each at 64 and 256 connections, servers
# alternated ABABAB (three runs each), `wrk -t1 --latency`:
#   local-async     coframe LocalExecutor, async      vs tokio current_thread   (pinned)
#   local-stackful  coframe LocalExecutor, stackful   vs tokio current_thread   (pinned)
#   pool-async      coframe pool 2 workers, async     vs tokio multi_thread 2   (unpinned)
#   pool-stackful   coframe pool 2 workers, stackful  vs tokio multi_thread 2   (unpinned)
# Pinned pairs run the server on CPU 0 and wrk on CPU 1 (taskset).
# Prints requests/s, p50 and p99 (medians of the three runs) and the ratios
# coframe/tokio.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
ADDR=${ADDR:-127.0.0.1:18090}
CONNS=${CONNS:-"64 256"}
RUNS=${RUNS:-3}

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
command -v taskset >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux; }

# NO_BUILD=1 skips the build (run it first, e.g. when timing under
# benches/tools/quiet.sh, which would stop cargo).
if [ "${NO_BUILD:-0}" != 1 ]; then
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -q --release --example http_hello --example tokio_hello
fi
bin=target/release/examples

# shellcheck source=benches/http/servers.sh
source benches/http/servers.sh

# to_us VALUE: wrk's latency (e.g. 512.00us, 1.23ms, 2.00s) in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000; else f = 1;
    printf "%.0f", n * f }'
}

# run_one NAME PINNED CONNS: starts the server, runs wrk, stops the
# server; prints "req/s p50_us p99_us".
run_one() {
  local name=$1 pinned=$2 conns=$3 server_pin="" wrk_pin=""
  if [ "$pinned" = 1 ]; then server_pin="taskset -c 0"; wrk_pin="taskset -c 1"; fi
  # shellcheck disable=SC2086
  $server_pin $(server_cmd "$name") >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null; then break; fi
    sleep 0.05
  done
  local out
  # shellcheck disable=SC2086
  out=$($wrk_pin wrk -t1 -c"$conns" -d"${DURATION}s" --latency "http://$ADDR/")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local rps p50 p99
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  if grep -q "Socket errors" <<<"$out"; then
    echo "  ($name: $(grep 'Socket errors' <<<"$out"))" >&2
  fi
  echo "$rps $p50 $p99"
}

# median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) CPUs"
echo "wrk -t1 --latency, ${DURATION}s per run, ABAB x $RUNS (medians)"
printf '%-15s %5s | %11s %8s %8s | %11s %8s %8s | %6s %6s %6s\n' \
  pair conns "coframe r/s" p50us p99us "tokio r/s" p50us p99us "r/s x" "p50 x" "p99 x"
for conns in $CONNS; do
  for pair in "local-async coframe-local-async tokio-current 1" \
              "local-stackful coframe-local-stackful tokio-current 1" \
              "pool-async coframe-pool-async tokio-multi 0" \
              "pool-stackful coframe-pool-stackful tokio-multi 0"; do
    set -- $pair
    label=$1 a=$2 b=$3 pinned=$4
    ar=(); ap50=(); ap99=(); br=(); bp50=(); bp99=()
    for _ in $(seq 1 "$RUNS"); do
      read -r r p50 p99 < <(run_one "$a" "$pinned" "$conns"); ar+=("$r"); ap50+=("$p50"); ap99+=("$p99")
      read -r r p50 p99 < <(run_one "$b" "$pinned" "$conns"); br+=("$r"); bp50+=("$p50"); bp99+=("$p99")
    done
    A=$(median "${ar[@]}"); A50=$(median "${ap50[@]}"); A99=$(median "${ap99[@]}")
    B=$(median "${br[@]}"); B50=$(median "${bp50[@]}"); B99=$(median "${bp99[@]}")
    printf '%-15s %5s | %11.0f %8s %8s | %11.0f %8s %8s | %6.2f %6.2f %6.2f\n' \
      "$label" "$conns" "$A" "$A50" "$A99" "$B" "$B50" "$B99" \
      "$(awk -v a="$A" -v b="$B" 'BEGIN { print a / b }')" \
      "$(awk -v a="$A50" -v b="$B50" 'BEGIN { print a / b }')" \
      "$(awk -v a="$A99" -v b="$B99" 'BEGIN { print a / b }')"
  done
done
echo "(r/s x: coframe / tokio, higher is better; p50 x, p99 x: coframe / tokio, lower is better)"
