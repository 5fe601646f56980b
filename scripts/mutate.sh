#!/bin/sh
# mutate.sh — mutation check: do the tests catch the bugs they exist for?
#
# Copies the source tree (CMakeLists.txt, cmake/, include/, src/, tests/, tools/) into a
# scratch directory, builds it once (Release) and runs the tests the mutations are meant for
# (all must pass, none may be skipped). Then applies each deliberate fault below, one at a
# time: rebuilds (incrementally), runs that mutation's tests, and restores the file. A
# mutation whose tests still pass SURVIVED: the script then exits 1. A mutation whose text
# is no longer found in the source is an error too (update this list with the code).
#
# Usage: sh scripts/mutate.sh            (or `make mutate`)
# Environment: JOBS (default 2), QTK_SHARED_DIR (default ../shared beside the repository),
#   QTK_MUTATE_DIR (scratch directory; default a fresh mktemp -d, removed at the end),
#   QTK_MUTATE_ONLY (space-separated mutation ids to run, default all),
#   QTK_TEST_QUICK (default 1 here: the tests' smaller workloads, whose checks still kill every
#   mutation below — a mutation needs the check, not the full workload, which the CI's native
#   stage runs; set it to 0 for the full runs).
# Each mutation's build and test output is kept in the scratch directory as log-ID.txt
# (with QTK_MUTATE_DIR set, the directory stays).
# POSIX sh; needs cmake, ctest, a C compiler, awk, cmp.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-2}
SHARED=${QTK_SHARED_DIR:-$ROOT/../shared}
if [ ! -d "$SHARED/fixtures" ]; then
    echo "mutate: $SHARED/fixtures not found: the mutated tests would skip, so nothing could be checked" >&2
    exit 1
fi
SHARED=$(cd "$SHARED" && pwd)

if [ -n "${QTK_MUTATE_DIR:-}" ]; then
    WORK=$QTK_MUTATE_DIR
    KEEP=1
    mkdir -p "$WORK" || exit 1
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/qtk-mutate.XXXXXX") || exit 1
    KEEP=0
fi
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

QTK_TEST_QUICK=${QTK_TEST_QUICK:-1}
export QTK_TEST_QUICK

SRC=$WORK/src-tree
BLD=$WORK/build
LOG=$WORK/log.txt

# ---- the mutations ----------------------------------------------------------------------
# One per line, fields separated by '@': id@file@exact text (must occur exactly once)@replacement@tests
MUTATIONS='imatrix-ignored@src/quantize/model_quantize.c@const float *qtk_quantize_imatrix_for(const qtk_quantize_params *p, const qtk_tensor_info *t, int64_t mat) {@const float *qtk_quantize_imatrix_for(const qtk_quantize_params *p, const qtk_tensor_info *t, int64_t mat) { if (p) return NULL;@test_quantize
bos-dropped@src/model/perplexity.c@if (b0 == 0 && r->bos >= 0) buf[0] = r->bos;@if (b0 == 0 && r->bos >= 0 && 0) buf[0] = r->bos;@test_perplexity test_ppl_faults
kld-base-raw-tokens@src/model/perplexity.c@put_u32(b, (uint32_t)(i % r.n_ctx == 0 && r.bos >= 0 ? r.bos : tokens[i]));@put_u32(b, (uint32_t)tokens[i]);@test_ppl_faults
nan-logits-accepted@src/model/perplexity.c@    if (!finite) return false;@    (void)finite;@test_ppl_faults
dot-off-by-one@src/types/legacy.c@for (int j = 0; j < QK8_0; j++) isum += x[i].qs[j] * y[i].qs[j];@for (int j = 1; j < QK8_0; j++) isum += x[i].qs[j] * y[i].qs[j];@test_dot
tl-finish-zero-checks@tests/testlib.c@    if (tl_checks == 0) {@    if (tl_checks < 0) {@test_testlib
gguf-tensor-bounds@src/gguf/gguf_read.c@if (t->offset > data_size || t->nbytes > data_size - t->offset)@if (t->offset > data_size)@test_gguf_malformed
gguf-string-bounds@src/gguf/gguf_read.c@    if (len > remaining(c))@    if (len > remaining(c) + 1)@test_gguf_malformed
kld-token-range@src/model/perplexity.c@            if (t < 0 || t >= fv) {@            if (t < 0) {@test_ppl_faults test_kld_format
imatrix-overflow@src/quantize/imatrix.c@            if (!isfinite(v[k])) /* a tiny count@            if (0) /* a tiny count@test_fuzz_found
compare-nothing-compared@tools/cmd_compare.c@    if (n_compared == 0) {@    if (n_compared < 0) {@test_compare
imatrix-not-applied@src/quantize/model_quantize.c@                const float *im = qtk_quantize_imatrix_for(p, t, m);@                const float *im = NULL; (void)m;@test_quantize
imatrix-mismatch-accepted@src/quantize/model_quantize.c@        if (e && !qtk_quantize_imatrix_for(p, t, 0) && !is_token_embd(t->name)) {@        if (0 && e) {@test_quantize
unimplemented-type-planned@src/quantize/plan.c@        if (tr && tr->quantize && !tr->interleaved && tr->file_type) continue;@        if (tr) continue;@test_quantize
mainline-rule-changed@src/quantize/presets.c@: id == P_IQ3_M ? "q4_K" : NULL;@: id == P_IQ3_M ? "q5_K" : NULL;@test_compat
mainline-70b-bump@src/quantize/presets.c@    case QTK_TYPE_Q3_K: case QTK_TYPE_Q4_K: return QTK_TYPE_Q5_K;@    case QTK_TYPE_Q3_K: return QTK_TYPE_Q5_K;@test_presets
split-keys-kept@src/gguf/gguf_read.c@    strip_split_keys(&g->meta);@    if (0) strip_split_keys(&g->meta);@test_split
split-no-rollback@src/quantize/model_quantize.c@for (int j = 0; j < k - 1; j++) qtk_remove_file(o->path[j]);@for (int j = 0; j < 0; j++) qtk_remove_file(o->path[j]);@test_split
signal-cleanup-missing@tools/qtk.c@    qtk_install_signal_cleanup();@    (void)0;@test_safety
trailing-bytes-accepted@src/gguf/gguf_read.c@    if (g->size <= end) return QTK_OK;@    if (g->size <= end || 1) return QTK_OK;@test_safety test_gguf_malformed
pool-task-lost@src/core/threadpool.c@        if (k >= p->nt) break;@        if (k >= p->nt - 1) break;@test_threadpool
mul-mat-scale-off@src/types/legacy_avx2.c@acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PAIR_DOT(xu[r], yy, nmax8)), d, acc[r][c]);@acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(PAIR_DOT(xu[r], yy, nmax8)), _mm256_mul_ps(d, _mm256_set1_ps(1.0001f)), acc[r][c]);@test_dot
panel-offset@src/types/panel_avx512.c@__m512i s = _mm512_set1_epi32(-128 * ys[c][b]);@__m512i s = _mm512_set1_epi32(-127 * ys[c][b]);@test_panel test_matmul
panel-requant-clip@src/types/panel.c@            iq = iq > 127 ? 127 : iq;@            iq = iq > 100 ? 100 : iq;@test_panel
iq1kt-store-factor@src/types/trellis_quant.c@(type == QTK_TYPE_IQ1_KT ? QTK_KT_STORE_IQ1 : 1.0f)@(1.0f)@test_trellis
iq4kss-flt-max-cap@src/types/iqk_kss.c@if (m > 0 && fabs((double)d) * m > 0.999 * FLT_MAX)@if (0 && m > 0 && fabs((double)d) * m > 0.999 * FLT_MAX)@test_quant_edge
mxfp4-moe-mainline@src/quantize/presets.c@if (IN(id, P_MXFP4, P_MXFP4_MOE)) {@if (IN(id, P_MXFP4, P_MXFP4)) {@test_presets test_compat
kss-move-tie-up@src/types/iqk_kss.c@    const int up = du < dd;@    const int up = du <= dd;@test_iqk_ks'

# ---- helpers ------------------------------------------------------------------------------
# replace FILE OLD NEW: replaces the single occurrence of the literal text OLD (within one
# line) by NEW; fails when OLD occurs zero or several times.
replace() {
    OLD=$2 NEW=$3 awk '
        BEGIN { old = ENVIRON["OLD"]; new = ENVIRON["NEW"]; n = 0 }
        {
            line = $0; out = ""
            while ((i = index(line, old)) > 0) {
                out = out substr(line, 1, i - 1) new
                line = substr(line, i + length(old))
                n++
            }
            print out line
        }
        END { if (n != 1) exit 3 }' "$1" >"$1.mut" || { rm -f "$1.mut"; return 1; }
    mv "$1.mut" "$1"
}

# run_tests NAMES...: builds those tests (and the CLI they may start), runs them; output in $LOG.
build_and_test() {
    targets="qtk_cli"
    regex=""
    for t in "$@"; do
        targets="$targets $t"
        regex="$regex${regex:+|}$t"
    done
    # shellcheck disable=SC2086
    cmake --build "$BLD" -j "$JOBS" --target $targets >"$LOG" 2>&1 || return 2
    (cd "$BLD" && ctest -j "$JOBS" --timeout 600 --output-on-failure -R "^($regex)\$") >>"$LOG" 2>&1
}

# Everything below runs inside one function: the shell has read all of it before it starts,
# so editing this file during a run (mutations are added as the code grows) cannot derail it.
run_all() {
    # ---- scratch tree and baseline --------------------------------------------------------------
    echo "mutate: scratch tree in $WORK"
    rm -rf "$SRC"
    mkdir -p "$SRC" || exit 1
    for d in CMakeLists.txt cmake include src tests tools; do
        if [ -e "$ROOT/$d" ]; then cp -R "$ROOT/$d" "$SRC/" || exit 1; fi
    done
    if ! cmake -S "$SRC" -B "$BLD" -DCMAKE_BUILD_TYPE=Release -DQTK_SHARED_DIR="$SHARED" >"$LOG" 2>&1; then
        echo "mutate: configure failed:"; tail -n 30 "$LOG"; exit 1
    fi
    all_tests=$(printf '%s\n' "$MUTATIONS" | ONLY=${QTK_MUTATE_ONLY:-} awk -F'@' '
        BEGIN { n = split(ENVIRON["ONLY"], o, " "); for (i = 1; i <= n; i++) want[o[i]] = 1 }
        n == 0 || ($1 in want) { print $5 }' | tr ' ' '\n' | sort -u | tr '\n' ' ')
    t0=$(date +%s)
    echo "mutate: baseline build and tests: $all_tests"
    # shellcheck disable=SC2086
    if ! build_and_test $all_tests; then
        echo "mutate: the unmutated tree fails its tests (fix that first):"; tail -n 60 "$LOG"; exit 1
    fi
    if grep -q 'Skipped\|Not Run' "$LOG"; then
        echo "mutate: some tests were skipped on the unmutated tree; their mutations could not be checked:"
        grep 'Skipped\|Not Run' "$LOG"
        exit 1
    fi
    echo "mutate: baseline passed ($(($(date +%s) - t0)) s)"

    # ---- the mutations, one at a time --------------------------------------------------------------
    survived=0 killed=0 broken=0
    # the list is read from a here-document so the loop runs in this shell (counters survive)
    while IFS='@' read -r id file old new tests; do
        [ -n "$id" ] || continue
        case " ${QTK_MUTATE_ONLY:-$id} " in *" $id "*) ;; *) continue ;; esac
        f=$SRC/$file
        cp "$f" "$WORK/orig" || exit 1
        if ! replace "$f" "$old" "$new"; then
            echo "mutate: [$id] ERROR: text not found exactly once in $file (update scripts/mutate.sh): $old"
            broken=$((broken + 1))
            continue
        fi
        t1=$(date +%s)
        # shellcheck disable=SC2086
        build_and_test $tests </dev/null
        rc=$?
        cp "$LOG" "$WORK/log-$id.txt"
        dt=$(($(date +%s) - t1))
        # restore (keep the original timestamp moving forward so make rebuilds it)
        cp "$WORK/orig" "$f"
        touch "$f"
        if [ $rc -eq 2 ]; then
            echo "mutate: [$id] killed at compile time ($dt s) — a mutation that does not compile checks nothing:"
            grep -m 5 'error' "$LOG"
            broken=$((broken + 1))
        elif [ $rc -eq 0 ]; then
            echo "mutate: [$id] SURVIVED: $file; $tests still pass ($dt s)"
            survived=$((survived + 1))
        else
            failed=$(grep -E '^[[:space:]]*[0-9]+ - test_' "$LOG" | awk '{ print $3 }' | tr '\n' ' ')
            echo "mutate: [$id] killed by: $failed($dt s)"
            killed=$((killed + 1))
        fi
    done <<EOF
$MUTATIONS
EOF

    echo "mutate: $killed killed, $survived survived, $broken not applicable; $(($(date +%s) - t0)) s in all"
    [ $survived -eq 0 ] && [ $broken -eq 0 ]
}

run_all "$@"; exit $?
