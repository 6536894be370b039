#!/bin/bash
# Usage: benches/tools/quiet.sh CMD...
#
# Runs CMD while every build and test process on the machine (cargo, rustc,
# linkers, test and bench binaries under target/*/deps, valgrind, qemu) is
# stopped with SIGSTOP, and continues them afterwards (also on Ctrl-C). For
# timing on a machine shared with other builds: keep CMD short (tests with
# wall-clock deadlines in a stopped run may fail), and do not use it while a
# CI run must pass. Binaries under test should live outside target/*/deps
# (copy them to /tmp) so they are not stopped themselves.
set -u
me=$$
list() {
  pgrep -f 'rustc|cargo|runtime_tests|runtime-tests|/ld|cc1|valgrind|qemu|clippy|build-script|/deps/' |
    grep -v -x -e "$me" -e "$BASHPID"
}
log=$(mktemp)
stopper() {
  while :; do
    for p in $(list); do kill -STOP "$p" 2>/dev/null && echo "$p" >> "$log"; done
    sleep 0.2
  done
}
stopper & sp=$!
trap 'kill $sp 2>/dev/null; for p in $(sort -u "$log"); do kill -CONT "$p" 2>/dev/null; done; rm -f "$log"' EXIT
sleep 0.7
"$@"
