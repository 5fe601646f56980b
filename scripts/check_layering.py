#!/usr/bin/env python3
"""Source-layout rules of issue #18 (run by ctest as check_layering; exit 1 on a violation).

1. Per-type facts live in the traits table (src/types/type_table.c): outside src/types/ no
   `case QTK_TYPE_...` label and no `==` / `!=` comparison with a quantized type id (the
   float storage types F32, F16, BF16, F64 may be compared), except inside the named
   llama-quantize policy functions below.
2. Core never calls into types: src/core/ includes no src/types header and does not use
   the traits table (qtk_type_get, qtk_type_traits, ...); src/types/ asks core (qtk_isa_pick).
4. The CLI is built against the public header alone: a file under tools/ includes only
   headers of tools/ and include/ (CMake gives tools/ no src/ include path), and the headers
   the build generates for it (GENERATED: the build's commit, cmake/build_info.cmake).
3. Every public prototype in include/qtk.h and include/qtk_types.h carries QTK_API
   (scripts/mark_api.py --check).
Usage: check_layering.py [SOURCE_DIR]"""
import os, re, subprocess, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
# The only switches on type ids allowed outside the table: rules of llama-quantize, not type facts.
POLICY = {'src/quantize/plan.c': {'policy_llama_quantize_fallback'},
          'src/quantize/presets.c': {'policy_attn_v_bump', 'policy_output_q6_k', 'policy_attn_v_70b'}}
# Headers the build writes into build/generated/ for the CLI: data, not library internals.
GENERATED = {'qtk_build_info.h'}
FLOAT_TYPES = {'QTK_TYPE_F32', 'QTK_TYPE_F16', 'QTK_TYPE_BF16', 'QTK_TYPE_F64'}
errors = []


def sources(sub):
    for d, _, files in os.walk(os.path.join(root, sub)):
        for f in sorted(files):
            if f.endswith(('.c', '.h')):
                p = os.path.join(d, f)
                yield os.path.relpath(p, root).replace(os.sep, '/'), open(p, encoding='utf-8').read()


def function_of(text, pos):
    """Name of the last function definition (a column-0 header ending in '{') before pos."""
    name = None
    for m in re.finditer(r'^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\([^;{}]*\)\s*\{', text[:pos], re.M):
        name = m.group(1)
    return name


for sub in ('src', 'tools'):
    for rel, text in sources(sub):
        if rel.startswith('src/types/'):
            continue
        seen = set()
        for m in re.finditer(r'\bcase\s+QTK_TYPE_\w+', text):
            fn = function_of(text, m.start())
            line = text.count('\n', 0, m.start()) + 1
            if fn not in POLICY.get(rel, ()) and line not in seen:
                seen.add(line)
                errors.append(f'{rel}:{line}: switch on a type id in {fn or "file scope"}() '
                              '(make it a field of src/types/type_table.c)')
        for m in re.finditer(r'[!=]=\s*(QTK_TYPE_\w+)|\b(QTK_TYPE_\w+)\s*[!=]=', text):
            name = m.group(1) or m.group(2)
            fn = function_of(text, m.start())
            line = text.count('\n', 0, m.start()) + 1
            if name not in FLOAT_TYPES and fn not in POLICY.get(rel, ()) and line not in seen:
                seen.add(line)
                errors.append(f'{rel}:{line}: comparison with the type id {name} in {fn or "file scope"}() '
                              '(a per-type fact: a field of src/types/type_table.c, or a named policy function)')

for rel, text in sources('src/core'):
    for m in re.finditer(r'#\s*include\s*"([^"]+)"', text):
        if m.group(1).startswith('types/') or os.path.exists(os.path.join(root, 'src/types', m.group(1))):
            errors.append(f'{rel}: core includes the types header "{m.group(1)}"')
    for m in re.finditer(r'\b(qtk_type_get|qtk_type_at|qtk_type_traits|qtk_type_from_name|qtk_row_size)\b', text):
        line = text.count('\n', 0, m.start()) + 1
        errors.append(f'{rel}:{line}: core uses the type table ({m.group(1)})')

for rel, text in sources('tools'):
    here = os.path.dirname(os.path.join(root, rel))
    for m in re.finditer(r'^\s*#\s*include\s*"([^"]+)"', text, re.M):
        inc = m.group(1)
        line = text.count('\n', 0, m.start()) + 1
        if inc in GENERATED:
            continue
        if not (os.path.exists(os.path.join(here, inc)) or os.path.exists(os.path.join(root, 'include', inc))):
            errors.append(f'{rel}:{line}: includes "{inc}", not a header of tools/ or include/ '
                          '(the CLI uses the public API only: move what it needs into qtk.h)')

for h in ('include/qtk.h', 'include/qtk_types.h'):
    r = subprocess.run([sys.executable, os.path.join(root, 'scripts/mark_api.py'), os.path.join(root, h), '--check'],
                       capture_output=True, text=True)
    if r.returncode != 0:
        errors.append(f'{h}: prototypes without QTK_API: {r.stdout.strip() or r.stderr.strip()}')

for e in errors:
    print(e)
print(f'check_layering: {len(errors)} violation(s)')
sys.exit(1 if errors else 0)
