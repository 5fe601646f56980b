#!/usr/bin/env python3
"""Prefixes every file-scope function prototype named qtk_* in a header with QTK_API (docs/api.md).
Idempotent. Usage: mark_api.py FILE [--check] (--check: list unmarked, exit 1 if any)."""
import re, sys
path = sys.argv[1]
check = '--check' in sys.argv
lines = open(path).read().split('\n')
out = []
depth = 0
in_comment = False
stmt = None  # index of first line of current statement at depth 0
unmarked = []
i = 0
def strip_comments(l):
    global in_comment
    res = ''
    j = 0
    while j < len(l):
        if in_comment:
            k = l.find('*/', j)
            if k < 0: return res
            in_comment = False; j = k + 2
        else:
            k = l.find('/*', j)
            k2 = l.find('//', j)
            if k2 >= 0 and (k < 0 or k2 < k): return res + l[j:k2]
            if k < 0: return res + l[j:]
            res += l[j:k]; in_comment = True; j = k + 2
    return res
buf = ''
start = None
marks = []
for idx, raw in enumerate(lines):
    code = strip_comments(raw)
    s = code.strip()
    if not s:
        continue
    if s.startswith('#'):
        continue
    if s.startswith('extern "C"'):
        continue
    if depth == 0 and start is None:
        start = idx
        buf = ''
    buf += ' ' + s
    depth += s.count('{') - s.count('}')
    if s == '}' and depth < 0:   # closing extern "C"
        depth = 0; start = None; continue
    if depth == 0 and s.endswith(';'):
        st = buf.strip()
        if (not st.startswith('typedef') and '(' in st and '{' not in st and '=' not in st
                and re.match(r'^(QTK_API\s+)?[A-Za-z_][\w\s\*]*?\bqtk_\w+\s*\(', st)):
            if not st.startswith('QTK_API'):
                marks.append(start)
        start = None
if check:
    for m in marks: print(f'{path}:{m+1}: {lines[m].strip()}')
    sys.exit(1 if marks else 0)
for m in marks:
    lines[m] = 'QTK_API ' + lines[m]
open(path, 'w').write('\n'.join(lines))
print(f'marked {len(marks)} declarations')
