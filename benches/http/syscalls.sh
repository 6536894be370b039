#!/usr/bin/env bash
# System calls per request of each HTTP server of benches/http/run.sh,
# counted by `strace -c -f` (every thread of the server) under a short
# `wrk -t1 -c64` run. Run by hand, not by CI:
#
#   bash benches/http/syscalls.sh        # DURATION=5 CONNS=64 ADDR=127.0.0.1:18092
#   SERVERS="coframe-pool-stackful tokio-multi" bash benches/http/syscalls.sh
#   BIN=/tmp/old-build SERVERS=coframe-pool-stackful bash benches/http/syscalls.sh
#
# Prints, per server: the requests wrk completed, the server's system
# calls per request, and the calls that make them up (per request). strace
# slows every system call down, so the server runs slower than in run.sh;
# the counts per request are what this measures, not the rates.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
ADDR=${ADDR:-127.0.0.1:18092}
SERVERS=${SERVERS:-"coframe-local-async coframe-local-stackful tokio-current coframe-pool-async coframe-pool-stackful tokio-multi"}

for tool in wrk strace; do
  command -v $tool >/dev/null || { apt-get update -qq && apt-get install -y -qq $tool; }
done
# BIN: a directory with other builds of the two servers (then nothing is built).
if [ -z "${BIN:-}" ]; then
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -q --release --example http_hello --example tokio_hello
fi
bin=${BIN:-target/release/examples}

# shellcheck source=benches/http/servers.sh
source benches/http/servers.sh

out=$(mktemp -d)
echo "machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t1 -c$CONNS -d${DURATION}s; server under strace -c -f"
printf '%-24s %9s %9s  %s\n' server requests "calls/req" "per request"
for name in $SERVERS; do
  # shellcheck disable=SC2046
  strace -c -f -o "$out/$name" $(server_cmd "$name") >/dev/null 2>&1 &
  spid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null; then break; fi
    sleep 0.05
  done
  w=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://$ADDR/")
  # Stop the server (strace's child): strace then writes its summary.
  kill -TERM "$(pgrep -P "$spid")"; wait "$spid" 2>/dev/null || true
  reqs=$(awk '/requests in/ { print $1 }' <<<"$w")
  # strace -c lines: "% time, seconds, usecs/call, calls, [errors], syscall".
  calls=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $4, $NF }' "$out/$name" | sort -rn)
  total=$(awk -v r="$reqs" '{ s += $1 } END { printf "%.3f", s / r }' <<<"$calls")
  parts=$(awk -v r="$reqs" '$1 / r >= 0.005 { printf "%s%s %.3f", sep, $2, $1 / r; sep = ", " }' <<<"$calls")
  printf '%-24s %9d %9s  %s\n' "$name" "$reqs" "$total" "$parts"
done
rm -rf "$out"
