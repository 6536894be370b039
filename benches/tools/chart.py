#!/usr/bin/env python3
"""coframe's time relative to each peer, per bench group, as an SVG bar chart.

usage: benches/tools/chart.py [CRITERION_DIR] [OUT.svg] [--cpu "AMD EPYC"]

Reads criterion's median estimates (CRITERION_DIR, default target/criterion:
<group>/<function>[/<parameter>]/new/estimates.json) as the benches left them
(`cargo bench`, all groups in one session so the ratios come from one
machine) and writes OUT (default benches/chart.svg): one bar per (coframe
function, peer) pair, the bar's length coframe's median time divided by the
peer's, on a log scale with 1.0 marked; shorter than 1.0 means coframe is
faster. Pairs: the groups in PAIRS compare the functions named there (the
FP-preserving switch with Boost, the lean one with corosensei); every other
group compares its coframe function (`coframe`, `coframe_*`, or the frame
allocator `recycling`) with each function not named coframe. Groups with no
peer (stackful vs future) are left out. Prints the table it drew.
"""
import json
import math
import os
import subprocess
import sys

PAIRS = {
    'context_switch': [('coframe_lean', 'corosensei'), ('coframe', 'boost_fcontext'),
                       ('coframe_fiber', 'boost_fcontext')],
    'coroutine_create': [('coframe_lean', 'corosensei'), ('coframe', 'boost_fcontext')],
    'strand_post': [],  # both functions are coframe's (strand vs direct spawns)
}
OURS = ('coframe', 'recycling')


def medians(root):
    """{group: {function[/param]: median ns}}"""
    out = {}
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        if group == 'report' or not os.path.isdir(gdir):
            continue
        for dirpath, _, files in os.walk(gdir):
            if 'estimates.json' in files and os.path.basename(dirpath) == 'new':
                rel = os.path.relpath(os.path.dirname(dirpath), gdir)
                if rel.split(os.sep)[0] == 'report':
                    continue
                with open(os.path.join(dirpath, 'estimates.json')) as f:
                    est = json.load(f)
                out.setdefault(group, {})[rel.replace(os.sep, '/')] = \
                    est['median']['point_estimate']
    return out


def is_ours(name):
    return name.split('/')[0].startswith(OURS)


def pairs(data):
    rows = []
    for group, funcs in data.items():
        params = sorted({f.split('/', 1)[1] for f in funcs if '/' in f}, key=lambda p: int(p)
                        if p.isdigit() else p) or [None]
        for param in params:
            def key(name):
                return name if param is None else f'{name}/{param}'
            names = sorted({f.split('/')[0] for f in funcs})
            if group in PAIRS:
                todo = PAIRS[group]
            else:
                ours = [n for n in names if is_ours(n)]
                main = 'coframe' if 'coframe' in ours else (ours[0] if ours else None)
                todo = [(main, p) for p in names if main and not is_ours(p)]
            for a, b in todo:
                if key(a) in funcs and key(b) in funcs:
                    label = group if param is None else f'{group} ({param})'
                    rows.append((label, a, b, funcs[key(a)], funcs[key(b)]))
    return rows


def fmt_ns(ns):
    for unit, scale in (('s', 1e9), ('ms', 1e6), ('µs', 1e3)):
        if ns >= scale:
            return f'{ns / scale:.3g} {unit}'
    return f'{ns:.3g} ns'


def svg(rows, cpu):
    lo, hi = 0.05, 4.0  # log-scale bounds of the axis
    left, width, row_h, top = 330, 430, 22, 58
    height = top + row_h * len(rows) + 40

    def x(r):
        r = min(max(r, lo), hi)
        return left + width * (math.log(r) - math.log(lo)) / (math.log(hi) - math.log(lo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 150}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">coframe time / peer time '
           f'(criterion medians, one session; shorter is faster)</text>',
           f'<text x="10" y="38" fill="#555">{cpu}; log scale, 1.0 = as fast as the peer</text>']
    for tick in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0):
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" '
                   f'y2="{top + row_h * len(rows)}" stroke="{"#000" if tick == 1.0 else "#ddd"}" '
                   f'stroke-width="{1.5 if tick == 1.0 else 1}"/>')
        out.append(f'<text x="{tx:.1f}" y="{top + row_h * len(rows) + 16}" '
                   f'text-anchor="middle" fill="#555">{tick:g}</text>')
    for i, (label, a, b, ta, tb) in enumerate(rows):
        y = top + i * row_h
        r = ta / tb
        colour = '#2e8b57' if r <= 1.0 else '#c0392b'
        x0, x1 = sorted((x(1.0), x(r)))
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{label}: '
                   f'{a} vs {b}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" '
                   f'height="{row_h - 8}" fill="{colour}"/>')
        out.append(f'<text x="{left + width + 8}" y="{y + 15}">{r:.2f}× '
                   f'<tspan fill="#777">({fmt_ns(ta)} vs {fmt_ns(tb)})</tspan></text>')
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def main():
    args = [a for a in sys.argv[1:]]
    cpu = None
    if '--cpu' in args:
        i = args.index('--cpu')
        cpu = args[i + 1]
        del args[i:i + 2]
    root = args[0] if args else 'target/criterion'
    dest = args[1] if len(args) > 1 else 'benches/chart.svg'
    if cpu is None:
        try:
            lscpu = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
            cpu = next(l.split(':', 1)[1].strip() for l in lscpu.splitlines()
                       if l.startswith('Model name'))
        except (OSError, StopIteration):
            cpu = 'unknown CPU'
    rows = pairs(medians(root))
    if not rows:
        sys.exit(f'no criterion estimates with a peer under {root}: run `cargo bench` first')
    with open(dest, 'w') as f:
        f.write(svg(rows, cpu))
    for label, a, b, ta, tb in rows:
        print(f'{label:40} {a:>14} vs {b:<22} {ta / tb:6.2f}  ({fmt_ns(ta)} vs {fmt_ns(tb)})')
    print(f'wrote {dest}')


if __name__ == '__main__':
    main()
