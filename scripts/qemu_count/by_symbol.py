#!/usr/bin/env python3
"""Sums insn_plugin.c's per-block counts (QPROF_OUT) by function of a static, non-PIE
AArch64 binary: by_symbol.py BINARY BLOCKS.txt [N] prints the top N functions."""
import bisect
import collections
import subprocess
import sys

binary, blocks = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 12
syms = []
nm = subprocess.run(["aarch64-linux-gnu-nm", "-n", binary], capture_output=True, text=True, check=True)
for line in nm.stdout.splitlines():
    p = line.split()
    if len(p) == 3 and p[1] in "tTwW":
        syms.append((int(p[0], 16), p[2]))
starts = [a for a, _ in syms]
count = collections.Counter()
total = 0
with open(blocks) as f:
    for line in f:
        a, n = line.split()
        i = bisect.bisect_right(starts, int(a, 16)) - 1
        count[syms[i][1] if i >= 0 else "?"] += int(n)
        total += int(n)
for name, n in count.most_common(top):
    print(f"{100.0 * n / total:5.1f}% {n:>13} {name}")
print(f"total {total}")
