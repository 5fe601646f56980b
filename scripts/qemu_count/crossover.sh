#!/bin/sh
# NEON panel crossovers as guest instruction counts under qemu-aarch64: for each TYPE,
# the instructions of the type's own kernels over those of the int8 panels at every batch
# width of `qtk bench types --crossover` (the same table: > 1 means the panels win), and
# the width from which the panels need fewer instructions at every larger width ("never"
# when they do not at 512). Needs build-arm64/ (the aarch64 cross build),
# aarch64-linux-gnu-gcc, gcc and qemu-user. Instructions are not time: on AArch64
# hardware, `qtk bench types --crossover` measures the real crossovers. XO_ISA=neon (the
# default) counts the base NEON level (vmull_s8), XO_ISA=neondot the dot-product build (sdot,
# qemu -cpu max), XO_ISA=scalar the scalar kernels. XO_ISA=avx2 counts the AVX2 kernels of build/ under qemu-x86_64 instead,
# whose crossovers are also timed on the project's machine: how well the counts predict time.
# XO_RAW=1 adds each type's guest instructions per weight and column at the narrowest and
# widest batch (own kernels, panels), for comparing levels.
#   scripts/qemu_count/crossover.sh [ROWS] [COLS] TYPE...
set -eu
R=256; C=4096
case "${1:-}" in [0-9]*) R=$1; shift ;; esac
case "${1:-}" in [0-9]*) C=$1; shift ;; esac
D=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$D/../.." && pwd)
W=${TMPDIR:-/tmp}/qtk-qemu-count; mkdir -p "$W"
gcc -shared -fPIC -O2 -o "$W/insn_plugin.so" "$D/insn_plugin.c"
if [ "${XO_ISA:-neon}" = avx2 ]; then
    gcc -O2 -std=c11 -I"$ROOT/include" "$D/crossover.c" "$ROOT/build/lib/libqtk.a" -lm -lpthread -o "$W/crossover-x86"
    run() { qemu-x86_64 -cpu max -plugin "$W/insn_plugin.so,nr=110" "$W/crossover-x86" "$1" "$R" "$C" 1; }
    NAME="AVX2 (qemu-x86_64 guest instructions)"
else
    aarch64-linux-gnu-gcc -O2 -std=c11 -I"$ROOT/include" "$D/crossover.c" "$ROOT/build-arm64/lib/libqtk.a" \
        -lm -lpthread -o "$W/crossover"
    case "${XO_ISA:-neon}" in
        neondot) LEVEL=4; NAME="NEON dotprod" ;;
        scalar) LEVEL=0; NAME="scalar" ;;
        *) LEVEL=3; NAME="NEON" ;;
    esac
    run() { qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu -plugin "$W/insn_plugin.so" "$W/crossover" "$1" "$R" "$C" $LEVEL; }
    NAME="$NAME (qemu-aarch64 guest instructions)"
fi
echo "$NAME, ${R} x ${C}: own-kernel instructions / panel instructions"
for T in "$@"; do
    run "$T" 2>&1 |
        awk -v t="$T" -v raw="${XO_RAW:-0}" -v wn="$R * $C" '
            /^mark/ { m[$2] = $3 }
            / no-panels/ { print t, "no int8 panels"; done = 1; w0 = $3 }
            / widths/ { for (i = 3; i <= NF; i++) w[i - 3] = $i; nw = NF - 2 }
            END {
                if (done && raw) {
                    split(wn, d, " ")
                    printf "%-9s per weight and column: own %.3f (%s cols)\n", t, (m[2000] - m[1000]) / (d[1] * d[3] * 3 * w0), w0
                }
                if (done) exit
                line = sprintf("%-9s", t)
                for (i = 0; i < nw; i++) {
                    own = m[2000 + i] - m[1000 + i]; pan = m[3000 + i] - m[2000 + i]
                    r[i] = pan > 0 ? own / pan : 0
                    line = line sprintf(" %5.2f", r[i])
                }
                from = nw
                while (from > 0 && r[from - 1] >= 1.0) from--
                print line, "  from", (from < nw ? w[from] : "never")
                if (raw) {
                    split(wn, d, " "); n = d[1] * d[3] * 3  # weights x 3 products
                    a = nw - 1
                    printf "%-9s per weight and column: own %.3f (%s cols) %.3f (%s), panels %.3f (%s) %.3f (%s)\n", t,
                        (m[2000] - m[1000]) / (n * w[0]), w[0], (m[2000 + a] - m[1000 + a]) / (n * w[a]), w[a],
                        (m[3000] - m[2000]) / (n * w[0]), w[0], (m[3000 + a] - m[2000 + a]) / (n * w[a]), w[a]
                }
            }'
done
