#!/usr/bin/env python3
"""Condenses test_vectors' per-distribution ratio lines into one markdown table
(rows: types, columns: distributions, cells: no-imatrix / imatrix ratio
E_qtk/E_ref). Usage: QTK_SHARED_DIR=../shared build/tests/test_vectors | scripts/vectors_table.py"""
import sys

dists = ["gauss", "t3", "outlier", "blockscale", "uniform", "edge", "real"]
ratios, order = {}, []
for line in sys.stdin:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 4 or cells[2] not in ("none", "imatrix"):
        continue
    t, d, mode = cells[0], cells[1], cells[2]
    try:
        r = float(cells[3])
    except ValueError:
        continue
    if t not in ratios:
        ratios[t] = {}
        order.append(t)
    ratios[t][(d, mode)] = r

print("| type | " + " | ".join(dists) + " | worst |")
print("|---|" + "---|" * (len(dists) + 1))
for t in order:
    row, worst = [], 0.0
    for d in dists:
        n, i = ratios[t].get((d, "none")), ratios[t].get((d, "imatrix"))
        fmt = lambda v: "–" if v is None else f"{v:.3f}"
        row.append(f"{fmt(n)} / {fmt(i)}")
        worst = max(worst, *(v for v in (n, i) if v is not None))
    print(f"| {t} | " + " | ".join(row) + f" | {worst:.3f} |")
