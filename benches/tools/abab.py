#!/usr/bin/env python3
"""Alternating (ABAB) criterion runs of two builds of the same bench, one process at a time.

usage: abab.py [--short] ROUNDS 'BIN_A;BIN_B;FILTER' ['BIN_A;BIN_B;FILTER' ...]

BIN_A and BIN_B are bench binaries (`cargo bench --bench NAME --no-run`, then copy
target/release/deps/NAME-<hash> somewhere, once per build: the base commit and the new
one). FILTER is criterion's regex. Each round runs every spec on A, then on B, pinned
to CPU 1, and the medians of each function's criterion medians are printed with the
ratio B/A, then the median and the lowest of the per-round ratios (each B run over
the A run just before it: paired, so a slow drift of the host's speed cancels out).
--short measures 1 s per function instead of 3, for more rounds in the same time.
On a shared machine run it under benches/tools/quiet.sh.
"""
import collections
import re
import statistics
import subprocess
import sys

UNIT = {'ns': 1e-3, 'µs': 1.0, 'us': 1.0, 'ms': 1e3, 's': 1e6}


MEASURE = ['--warm-up-time', '1', '--measurement-time', '3']


def run(binary, flt):
    out = subprocess.run(
        ['taskset', '-c', '1', binary, '--bench', *MEASURE, '--noplot', flt],
        cwd='/tmp', capture_output=True, text=True).stdout
    name, found = None, {}
    for line in out.splitlines():
        m = re.match(r'^(\S+)', line)
        if m and not line.startswith(' ') and m.group(1) not in ('Benchmarking', 'Found'):
            name = m.group(1)
        t = re.search(r'time:\s*\[\S+ \S+ (\S+) (\S+) \S+ \S+\]', line)
        if t and name:
            found[name] = float(t.group(1)) * UNIT[t.group(2)]
    return found


def main():
    global MEASURE
    args = sys.argv[1:]
    if args and args[0] == '--short':
        MEASURE = ['--warm-up-time', '0.5', '--measurement-time', '1']
        args = args[1:]
    rounds = int(args[0])
    specs = [s.split(';') for s in args[1:]]
    res = collections.defaultdict(list)
    for _ in range(rounds):
        for side in (0, 1):
            for spec in specs:
                for name, v in run(spec[side], spec[2]).items():
                    res[(name, side)].append(v)
    for name in sorted({n for n, _ in res}):
        a, b = res[(name, 0)], res[(name, 1)]
        if a and b:
            ma, mb = statistics.median(a), statistics.median(b)
            paired = [y / x for x, y in zip(a, b)]
            print(f"{name:45s} A {ma:10.2f}  B {mb:10.2f} µs  B/A {mb / ma:.3f}  "
                  f"paired median {statistics.median(paired):.3f} min {min(paired):.3f}   "
                  f"A={['%.1f' % x for x in a]} B={['%.1f' % x for x in b]}")


if __name__ == '__main__':
    main()
