#!/usr/bin/env python3
"""Regenerates docs/types.md from two measurements made on the same machine:
  QTK_SHARED_DIR=../shared build/tests/test_vectors > vectors.txt
  build/bin/qtk bench types -t 2 > bench.txt
usage: scripts/types_doc.py vectors.txt bench.txt > docs/types.md"""
import os
import sys

BLOCKS = {
    "q4_0": "32 weights: fp16 d + 16 bytes of 4-bit q; w = d·(q−8)",
    "q5_0": "32 weights: fp16 d + 32 fifth bits + 16 bytes of nibbles; w = d·(q−16)",
    "q6_0": "32 weights: fp16 d + 8 bytes of high bit pairs + 16 bytes of nibbles; w = d·(q−32)",
    "q8_0": "32 weights: fp16 d + 32 int8; w = d·q",
    "q4_1": "32 weights: fp16 d, fp16 m + 16 bytes of 4-bit q; w = d·q + m",
    "q5_1": "32 weights: fp16 d, fp16 m + 32 fifth bits + 16 bytes of nibbles; w = d·q + m",
    "mxfp4": "32 weights: E8M0 exponent e + 16 bytes of E2M1 codes; w = 2^(e−128)·KMX[q]",
    "iq4_nl": "32 weights: fp16 d + 16 bytes of 4-bit indices into the IQ4NL grid",
    "q2_K": "256: 16 × (4-bit scale, 4-bit min) + 2-bit q + fp16 d, dmin",
    "q3_K": "256: 32 bytes high bits + 2-bit q + 16 6-bit scales + fp16 d",
    "q4_K": "256: fp16 d, dmin + 8 × (6-bit scale, 6-bit min) + 4-bit q",
    "q5_K": "256: as Q4_K + 32 bytes of fifth bits",
    "q6_K": "256: 4-bit low + 2-bit high q, 16 int8 scales, fp16 d",
    "iq4_xs": "256: fp16 d + 8 6-bit scales + 4-bit IQ4NL indices",
    "iq2_xxs": "256: fp16 d; per 32: 4 8-bit indices into a 256×8 grid, 4 × 7 parity-coded sign bits, 4-bit scale",
    "iq2_xs": "256: fp16 d; per 8: 9-bit index into a 512×8 grid + 7 parity-coded sign bits; 4-bit scale per 16",
    "iq2_s": "256: fp16 d; per 8: 10-bit index into a 1024×8 grid + 8 sign bits; 4-bit scale per 16",
    "iq3_xxs": "256: fp16 d; per 4: 8-bit index into a 256×4 grid; per 32: 4 × 7 parity sign bits + 4-bit scale",
    "iq3_s": "256: fp16 d; per 4: 9-bit index into a 512×4 grid; 8 sign bits per 8; 4-bit scale per 32",
    "iq1_s": "256: fp16 d; per 8: 11-bit index into a 2048×8 ternary grid; per 32: 3-bit scale + δ sign",
    "iq1_m": "256: fp16 d split over 4 nibbles; per 8: 11-bit ternary-grid index + δ sign; 3-bit scale per 16",
    "iq2_k": "256: fp16 d, 16 shift bits, 16 4-bit scales, 2-bit indices into IQ2NL",
    "iq3_k": "256: fp16 d, 16 shift bits, 16 signed odd scales, 3-bit indices into IQ3NL",
    "iq4_k": "256: fp16 d, 16 shift bits, 16 6-bit scales, 4-bit indices into IQ4NL(+4)",
    "iq5_k": "256: fp16 d, 16 shift bits, 16 6-bit scales, 5-bit indices into IQ5NL(+2)",
    "iq6_k": "256: fp16 d, 16 shift bits, 16 int8 scales, 6-bit indices into IQ6NL(+1)",
    "iq2_ks": "row fp16 scale; 256: 8 shift bits + 8 5-bit scales, 2-bit IQ2NL indices",
    "iq3_ks": "row fp16 scale; 256: 8 shift bits + 8 5-bit scales, 3-bit IQ3NL indices",
    "iq2_kl": "row fp16 scale; 256: 8 6-bit scales, 5-bit indices of weight pairs (2-D grid)",
    "iq4_ks": "row f32 scale; 256: 8 × (7-bit scale + shift bit), 4-bit IQ4NL indices",
    "iq4_kss": "row f32 scale; 256: 64 16-bit words = 4 even-parity indices + 1 scale bit",
    "iq5_ks": "row f32 scale; 256: 8 × (7-bit scale + shift bit), 5-bit IQ5NL indices",
    "iq1_kt": "row f32 scale (stored ×1.07 as the reference does); 256: 8 IQ4NL scale nibbles, 32 13-bit trellis indices (8 weights each)",
    "iq2_kt": "row f32 scale; 256: 8 IQ4NL scale nibbles, 32 16-bit trellis indices (8 weights each); kernels ×1.05",
    "iq3_kt": "row f32 scale; 256: 8 4-bit scales, 32 16-bit indices of \\|v\\|, 256 sign bits; kernels ×1.01",
    "iq4_kt": "row f32 scale; 256: 8 × (7-bit scale + offset bit), 64 15-bit indices (4 weights each)",
}
ACT = {"q4_0": "Q8_0", "q5_0": "Q8_0", "q6_0": "Q8_0", "q8_0": "Q8_0", "iq4_nl": "Q8_0",
       "q4_K": "Q8_2", "q5_K": "Q8_2", "q6_K": "Q8_0", "q4_1": "Q8_2", "q5_1": "Q8_2", "mxfp4": "Q8_0",
       "iq1_kt": "Q8_0", "iq2_kt": "Q8_0", "iq3_kt": "Q8_0", "iq4_kt": "Q8_0"}


NOTES = """IQ1_KT … IQ4_KT (`src/types/trellis*.c`): each group of 8 (IQ4_KT: 4) weights is one index into the
integer generator of FORMATS §5.1; the kernels run the generator in SIMD lanes (8/16/4 lanes on
AVX2/AVX-512/NEON), which costs more per weight than a table lookup: the KT dot products are
compute-bound, not memory-bound, on 1–2 threads. For IQ1_KT, IQ2_KT and IQ4_KT the matrix ×
vector kernels (`mul_mat`, AVX2 and AVX-512) use that a value is Σ of its 4 masked state bytes −
126: a sub-block's Σ v·y is one vpmaddubsw (AVX2) or vpdpbusd (AVX-512) of the masked states
against the activations repeated in the 4 bytes of their lane, minus 126·Σy, with the repeated
activations made once per call (vec_dot's bits). Both ISAs decode a super-block's bit-packed
seeds (IQ1_KT's 13-bit, IQ4_KT's 15-bit indices), scales and IQ3_KT's signs in vector lanes (AVX2:
IQ2_KT's plain u16 seeds keep the scalar unpack, which measured faster). vec_dot and the batch
panels (exact int8 per 32 weights, `to_int8`) multiply with F·to_float (F = 1.05 IQ2_KT, 1.01 IQ3_KT, 1.0 otherwise:
the reference's x86 kernel factors, `to_float_dot`); to_float is the reference's dequantizer, bit
for bit. The quantizers follow METHODS §5 (nearest-codeword search in cell lists of the codebook)
plus, at the default and max effort levels, a polish that re-picks sub-block scale codes (and
IQ4_KT's codebook and sign) with fresh searches, and a final row scale fit to a blend of
the reference's weights and the plain error. IQ1_KT stores 1.07 × that fitted scale, as the
reference's quantizer does (`quantize_row_iq1_kt_impl`): the decoded magnitudes grow at a cost
in weight error (worst ratio 0.90 → 1.001 of the reference's, which carries the same factor) and
the fixture's KLD falls from 0.1086 to 0.0885 (reference 0.0894, docs/quality.md). A row whose
scale would make a decoded value (or its ×F kernel value) overflow is capped at FLT_MAX
(`tests/test_quant_edge.c`, −FLT_MAX spike row).

The codebook scan is the quantizers' hot loop (≈ 90 % of their time: 500–2000 candidates of 8
values per group and trial scale). The cell lists hold the values as int8 (4 MiB for IQ2_KT's
2^16 × 8 lists instead of 16 MiB of floats, which streamed from L3), and the SIMD levels
(AVX2/AVX-512/NEON, `qtk_kt_shortlist_search` in trellis_quant.c) rank the candidates by the
expanded score Σ c·(w·c − 2wt) — two FMAs per value instead of subtract, square, multiply, add —
then score exactly, with the scalar scan's float operations in its order, every candidate whose
expanded score is within a bound of the smallest (the bound covers both roundings: ≤ 16 u of
Σ|w|(|c| + |t|)² and Σ|w||c|(|c| + 4|t|); 0.6–0.9 candidates per 1024 on the test model). So
every ISA level returns the scalar scan's indices, and files are identical bytes on every CPU
and thread count (`tests/test_trellis.c` compares the scans on 15000 targets per level, including
weights over 40 decades, subnormal and all-zero weights and targets far outside the codebook;
with a zero bound 108 of 30000 scans differ). Targets or weights whose sums could leave float
range take the scalar scan. A sub-block's trial scales (and the polish's candidate codes) put
its targets on one ray: they go through one multi-query scan, the 2.7–3 queries per group that
fall in the same cell on average sharing the candidates' loads and widening. Same bytes as before at every level that existed (test_effort's
SHA-256s of max); speed per level below ("Effort levels"). The reference's only published
figure (PR #113, the older trellis: LLaMA-3.1-8B in 2.5–4.5 min on a 32-core Ryzen-5975WX,
METHODS §5.6) is ≈ 0.9–1.7 M weights/s per core on another CPU; no reference build was
available to measure side by side, so this is an order-of-magnitude comparison only.

Q4_1, Q5_1, MXFP4 (`src/types/legacy1*.c`): Q4_1/Q5_1 (activations Q8_2: int8 with the block sum, for the min term)
search per block: at the default effort Lloyd rounds (least-squares d and m at the stored fp16
precision, codes re-rounded) from the reference's min/max encoding, with an imatrix also from a
few trial scales; `--effort max` keeps the better of the reference's encoding and a wide search
over trial scales, so its error never exceeds the reference's (effort levels below). MXFP4 tries
the exponents e − 1, e, e + 1 around the reference's choice and keeps the lowest weighted error
(the imatrix is used; the reference ignores it). Its dot products are exact int8 sums (the table
values KMX = 2 × E2M1 as int8, one power-of-two scale per block).

IQ2_XXS … IQ1_M: IQ2_XXS, IQ2_XS and IQ1_S
require an imatrix (as in ggml: `–` without one). Their dot products are compute-bound: the grid
lookups by register permutes (AVX-512 VBMI) or gathers (AVX2, and VBMI's 1024- and 2048-entry
grids), whichever of the two a timing at first use finds faster on the CPU, since the results
are the same bits; on the session-19 Xeon 2–6 GB/s of weights per thread (IQ1_S/IQ1_M lowest,
IQ3_S highest), a third to a fifth of IQ4_XS (BENCHMARKS.md, session 19).

The mainline lattice i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M;
`src/types/iq_mainline*.c`) decode through one form, w = d · m · q · F (fp16 d, odd sub-block
multiplier m = 2l+1, signed int8 q from the grid and sign bits, F = 1/8, 1/4 or 1), so decoding,
the scalar dot product and the SIMD kernels share the same exact integer sums; IQ2_XXS, IQ3_XXS,
IQ3_S and IQ1_S also have an exact int8 form per 32 weights (`to_int8`), so their batched
products are exact too. Their quantizers run the reference's search (FORMATS-MAINLINE-IQ §1,
§7.1, §8.1: trial scales, projection onto the grid through ggml's grid-neighbour lists, built on
first use and checked against the spec's SHA-256 sums in `tests/test_iq_mainline.c`; IQ2_XS as
ik_llama.cpp: exhaustive start, refinement rounds, d = 1.05 × least squares). Without the next
step the output is the reference's bit for bit for IQ3_XXS, IQ3_S, IQ2_S and IQ1_M. Beyond it:
once the fp16 d is stored, each sub-block code is tried at ±1 (IQ1: with both δ signs) and every
group re-chosen among its grid point and the neighbour list of its rounded point, in the
quantizer's own model (idealised values 2l+1 at the unfudged scale d/fudge; without an imatrix
by plain squared error). Doing it with the decoder's true values at the stored scale lowers the
weight error further (ratios ≈ 0.85) but raised the fixture's KLD above the reference's
(IQ2_XXS 0.0455, IQ1_M 0.0989 vs 0.0399, 0.0697): the reference's warped grids (25, 43, 62
instead of 24, 40, 60) and fudge factors deliberately decode larger magnitudes than the
least-squares ones, and perplexity prefers that. KLD on the fixture (160 chunks of 256 tokens,
`qtk perplexity --kl-divergence` against the F32 model, imatrix.dat; reference values of
`../shared/fixtures/REFERENCE.md`): IQ1_S 0.0763 (ref 0.0808), IQ1_M 0.0665 (0.0697), IQ2_XXS
0.0387 (0.0399), IQ2_XS 0.0295 (0.0323), IQ3_S 0.0058 (0.0066). IQ1_S/IQ1_M zero sub-blocks use
the all-zero grid point (±d/8) instead of the reference's all −1 point."""


def worst_ratios(path):
    w = {}
    for line in open(path):
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) >= 4 and c[2] in ("none", "imatrix"):
            try:
                r = float(c[3])
            except ValueError:
                continue
            k = (c[0], c[2])
            w[k] = max(w.get(k, 0.0), r)
    return w


def bench(path):
    rows, header = {}, []
    bw = "memory read bandwidth: not in the bench output"
    for line in open(path):
        p = line.split()
        if p and p[0] == "type":
            header = p
        elif header and len(p) >= 10 and p[0] in BLOCKS:
            rows[p[0]] = p
        elif line.startswith("memory read bandwidth"):
            bw = line.strip()
    return rows, bw


def main():
    w = worst_ratios(sys.argv[1])
    b, bw = bench(sys.argv[2])
    print("# Implemented types\n")
    print("Generated by `scripts/types_doc.py` from `test_vectors` (quantization error against the reference")
    print("implementation on `../shared/vectors/`, E = Σ w (x−y)², w = imatrix or 1; the *worst* ratio")
    print("E_qtk/E_ref over the 7 input distributions, without / with imatrix; < 1 = qtk's error is lower)")
    print("and `qtk bench types -t 2` (4096 × 4096 weights times one activation vector; GB/s of weight")
    print(f"bytes; single thread and 2 threads). Same machine and run as BENCHMARKS.md; {bw}.\n")
    print("| type | bpw | block structure | activations | worst E ratio (none / imatrix) | dot GB/s 1 thr | dot GB/s 2 thr | quantize M w/s (none / imatrix) |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for t, desc in BLOCKS.items():
        r = b.get(t)
        n, i = w.get((t, "none")), w.get((t, "imatrix"))
        f = lambda v: "–" if v is None else f"{v:.3f}"
        act = ACT.get(t, "Q8_K")
        if r:
            print(f"| {t} | {float(r[1]):.4f} | {desc} | {act} | {f(n)} / {f(i)} | {r[5]} | {r[6]} | {r[2]} / {r[3]} |")
        else:
            print(f"| {t} | – | {desc} | {act} | {f(n)} / {f(i)} | – | – | – |")
    # per-family notes
    print("\n" + NOTES)
    print("\nbpw excludes the per-row header of the row-scale types (2 or 4 bytes per row: +0.0039 /")
    print("+0.0078 bpw at 4096 columns). F32, F16 and BF16 are decoded and converted exactly.")
    # hand-written section (test_effort's table): kept across regenerations
    effort = os.path.join(os.path.dirname(os.path.abspath(__file__)), "types_effort.md")
    if os.path.exists(effort):
        print(open(effort, encoding="utf-8").read().rstrip("\n"))


if __name__ == "__main__":
    main()
