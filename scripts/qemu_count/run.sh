#!/bin/sh
# Guest instructions of one quantization at the scalar level and at the NEON level under
# qemu-aarch64, with the bytes' hashes (they must be equal). Needs build-arm64/ (the
# aarch64 cross build), gcc, aarch64-linux-gnu-gcc and qemu-user.
#   scripts/qemu_count/run.sh TYPE [IMATRIX 0/1] [ROWS] [COLS]
set -eu
T=$1; IM=${2:-0}; R=${3:-16}; C=${4:-4096}
D=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$D/../.." && pwd)
W=${TMPDIR:-/tmp}/qtk-qemu-count; mkdir -p "$W"
[ -f "$W/insn_plugin.so" ] || gcc -shared -fPIC -O2 -o "$W/insn_plugin.so" "$D/insn_plugin.c"
aarch64-linux-gnu-gcc -O2 -std=c11 -I"$ROOT/include" "$D/quant_rows.c" "$ROOT/build-arm64/lib/libqtk.a" \
    -lm -lpthread -o "$W/quant_rows"
run() { qemu-aarch64 -L /usr/aarch64-linux-gnu -plugin "$W/insn_plugin.so" "$W/quant_rows" "$T" "$1" "$R" "$C" "$IM" 2>&1; }
a=$(run 0); b=$(run 3)
ia=$(echo "$a" | awk '/^insns/{print $2}'); ib=$(echo "$b" | awk '/^insns/{print $2}')
ha=$(echo "$a" | awk '/isa=/{print $3}'); hb=$(echo "$b" | awk '/isa=/{print $3}')
same=no; [ "$ha" = "$hb" ] && same=yes
echo "$T imatrix=$IM ${R}x$C scalar=$ia neon=$ib scalar/neon=$(awk "BEGIN{printf \"%.2f\", $ia/$ib}") same_bytes=$same"
