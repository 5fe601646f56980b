#!/bin/sh
# demo.sh — what `make demo` runs: quantizes one model with a handful of
# presets and prints one table (size, bpw, weight-space relative RMSE,
# quantize time; PPL and KLD when there is a text to evaluate on).
#
# The model: MODEL=path if given (MODEL=synth forces the synthetic one), else
# ../shared/fixtures/tiny-llama-f16.gguf if present, else a synthetic model
# written by `qtk synth --shape small`. A synthetic model encodes no language,
# so it gets no imatrix and no PPL/KLD columns.
#
# Environment: QTK (binary), OUT (output dir), MODEL, IMATRIX, TEXT,
# PRESETS, SHAPE (synthetic shape, default small), THREADS, CTX, CHUNKS.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QTK=${QTK:-$ROOT/build/bin/qtk}
OUT=${OUT:-$ROOT/build/demo}
PRESETS=${PRESETS:-"Q8_0 Q4_K_M IQ4_XS IQ4_K IQ4_KSS IQ3_K IQ2_K"}
SHAPE=${SHAPE:-small}
THREADS=${THREADS:-}
CHUNKS=${CHUNKS:-4}
CTX=${CTX:-}
MODEL=${MODEL:-}
IMATRIX=${IMATRIX:-}
TEXT=${TEXT:-}
FIX=$ROOT/../shared/fixtures
[ ! -d "$FIX" ] || FIX=$(cd "$FIX" && pwd)

die() { echo "demo: $*" >&2; exit 1; }
now() { date +%s; }

[ -x "$QTK" ] || die "$QTK not found; build first (make)"
mkdir -p "$OUT"
start=$(now)

# ---- pick the model ---------------------------------------------------------
synthetic=0
if [ "$MODEL" = synth ]; then
    MODEL=
    synthetic=1
elif [ -n "$MODEL" ]; then
    [ -f "$MODEL" ] || die "MODEL=$MODEL: no such file"
elif [ -f "$FIX/tiny-llama-f16.gguf" ]; then
    MODEL=$FIX/tiny-llama-f16.gguf
    [ -n "$IMATRIX" ] || { [ ! -f "$FIX/imatrix.dat" ] || IMATRIX=$FIX/imatrix.dat; }
    [ -n "$TEXT" ] || { [ ! -f "$FIX/eval.txt" ] || TEXT=$FIX/eval.txt; }
    [ -n "$CTX" ] || CTX=256   # the context the fixture's reference figures use
else
    synthetic=1
fi
[ -n "$CTX" ] || CTX=512
if [ $synthetic = 1 ]; then
    MODEL=$OUT/synth-$SHAPE.gguf
    IMATRIX=
    TEXT=
    echo "demo: no model given and no fixture: writing a synthetic '$SHAPE' model (qtk synth)" >&2
    t0=$(now)
    "$QTK" synth "$MODEL" --shape "$SHAPE" -q ${THREADS:+-t "$THREADS"} || die "qtk synth failed"
    echo "demo: $MODEL written in $(( $(now) - t0 )) s" >&2
fi
[ -z "$IMATRIX" ] || [ -f "$IMATRIX" ] || die "IMATRIX=$IMATRIX: no such file"
[ -z "$TEXT" ] || [ -f "$TEXT" ] || die "TEXT=$TEXT: no such file"

name=$(basename "$MODEL" .gguf)
name=${name%-f16}
name=${name%-f32}
n_presets=$(echo "$PRESETS" | wc -w | tr -d ' ')
model_bytes=$(wc -c < "$MODEL" | tr -d ' ')

# Value of the line matching a sed expression in a log, or "-".
grab() { v=$(sed -n "$2" "$1" | head -n 1); [ -n "$v" ] && echo "$v" || echo -; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
# Rounds a number to $2 decimals ("-" and words like nan pass unchanged).
fmt() { case $1 in [0-9]*) awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }' ;; *) echo "$1" ;; esac; }

echo "demo: model $MODEL ($(mib "$model_bytes"))" >&2
[ -z "$IMATRIX" ] && echo "demo: no imatrix: relative RMSE is unweighted" >&2 \
                  || echo "demo: imatrix $IMATRIX: quantize uses it, relative RMSE is importance-weighted" >&2

# ---- base log-probabilities for PPL / KLD -------------------------------------
base_ppl=-
if [ -n "$TEXT" ]; then
    printf '%s' "demo: perplexity of the source model on $(basename "$TEXT") (-c $CTX --chunks $CHUNKS) ... " >&2
    t0=$(now)
    if "$QTK" perplexity -m "$MODEL" -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" ${THREADS:+-t "$THREADS"} \
        --kl-divergence-base "$OUT/$name.kld" > "$OUT/$name.ppl.log" 2>&1; then
        base_ppl=$(grab "$OUT/$name.ppl.log" 's/^Final estimate: PPL = \([^ ]*\).*/\1/p')
        echo "PPL $base_ppl ($(( $(now) - t0 )) s)" >&2
    else
        echo "failed (see $OUT/$name.ppl.log); no PPL/KLD columns" >&2
        TEXT=
    fi
fi

# ---- one line per preset as it goes, rows collected for the table -------------
rows=$OUT/rows.txt
: > "$rows"
i=0
for p in $PRESETS; do
    i=$((i + 1))
    qf=$OUT/$name-$p.gguf
    printf '[%d/%d] %-8s quantizing ... ' "$i" "$n_presets" "$p" >&2
    if ! "$QTK" quantize ${IMATRIX:+--imatrix "$IMATRIX"} ${THREADS:+-t "$THREADS"} "$MODEL" "$qf" "$p" \
        > "$OUT/$p.quantize.log" 2>&1; then
        echo "FAILED (see $OUT/$p.quantize.log)" >&2
        echo "$p failed - - - - -" >> "$rows"
        continue
    fi
    qtime=$(grab "$OUT/$p.quantize.log" 's/^wall time: \([0-9.]*\) s.*/\1/p')
    bpw=$(grab "$OUT/$p.quantize.log" 's/.*), \([0-9.]*\) bpw.*/\1/p')
    size=$(wc -c < "$qf" | tr -d ' ')
    printf '%s s; comparing ... ' "$qtime" >&2
    "$QTK" compare "$MODEL" "$qf" ${IMATRIX:+--imatrix "$IMATRIX"} ${THREADS:+-t "$THREADS"} \
        > "$OUT/$p.compare.log" 2>&1 || true
    rmse=$(grab "$OUT/$p.compare.log" 's/^total relative RMSE: \([^ ]*\).*/\1/p')
    ppl=-
    kld=-
    if [ -n "$TEXT" ]; then
        printf 'KLD ... ' >&2
        "$QTK" perplexity -m "$qf" --kl-divergence-base "$OUT/$name.kld" --kl-divergence ${THREADS:+-t "$THREADS"} \
            > "$OUT/$p.kld.log" 2>&1 || true
        ppl=$(fmt "$(grab "$OUT/$p.kld.log" 's/^Mean PPL(Q) *: *\([^ ]*\).*/\1/p')" 4)
        kld=$(fmt "$(grab "$OUT/$p.kld.log" 's/^Mean *KLD: *\([^ ]*\).*/\1/p')" 6)
    fi
    echo "-> $bpw bpw, rel. RMSE $rmse${TEXT:+, PPL $ppl, KLD $kld}" >&2
    echo "$p ok $size $bpw $rmse $qtime $ppl $kld" >> "$rows"
done

# ---- the table ----------------------------------------------------------------
table=$OUT/demo.md
{
    echo "model: $MODEL ($(mib "$model_bytes"))${IMATRIX:+, imatrix $IMATRIX}"
    if [ -n "$TEXT" ]; then
        echo "PPL and KLD: $(basename "$TEXT"), $CHUNKS chunks of $CTX tokens, against the source model"
    fi
    echo
    if [ -n "$TEXT" ]; then
        echo "| preset | size | bpw | rel. RMSE | quantize | PPL | KLD |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        echo "| (source) | $(mib "$model_bytes") | - | - | - | $base_ppl | - |"
    else
        echo "| preset | size | bpw | rel. RMSE | quantize |"
        echo "|---|---:|---:|---:|---:|"
    fi
    while read -r p st size bpw rmse qtime ppl kld; do
        if [ "$st" != ok ]; then
            [ -n "$TEXT" ] && echo "| $p | failed | | | | | |" || echo "| $p | failed | | | |"
            continue
        fi
        s=$(mib "$size")
        if [ -n "$TEXT" ]; then
            echo "| $p | $s | $bpw | $rmse | $qtime s | $ppl | $kld |"
        else
            echo "| $p | $s | $bpw | $rmse | $qtime s |"
        fi
    done < "$rows"
    echo
    if [ -n "$IMATRIX" ]; then
        echo "rel. RMSE: sqrt(sum w (x-y)^2 / sum w x^2) over all quantized tensors (qtk compare),"
        echo "w = imatrix column weights where the imatrix has the tensor"
    else
        echo "rel. RMSE: sqrt(sum (x-y)^2 / sum x^2) over all quantized tensors (qtk compare)"
    fi
    [ $synthetic = 1 ] && echo "(synthetic weights: no language, so no imatrix and no PPL/KLD)"
    echo "files and logs: $OUT/   total time: $(( $(now) - start )) s"
} > "$table"
echo >&2
cat "$table"
rm -f "$rows"
