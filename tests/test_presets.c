/*
 * test_presets.c — the built-in presets against the reference: every preset
 * of presets-reference.json on the tiny fixture (types, general.file_type and
 * sizes), and synthetic GGUF models built here (32/80 layers, g = 1..8, tied
 * embeddings, 8-expert MoE, odd row lengths) against the tables of MIXES §7.
 */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

/* Generated once from ../shared/fixtures/presets-reference.json (the reference
 * llama-quantize --imatrix imatrix.dat tiny-llama-f16.gguf out.gguf PRESET). */
#define FIX_N_TENSORS 57
static const char *const fix_names[FIX_N_TENSORS] = {
    "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
    "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
    "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "blk.1.attn_norm.weight", "blk.1.attn_q.weight",
    "blk.1.attn_k.weight", "blk.1.attn_v.weight", "blk.1.attn_output.weight", "blk.1.ffn_norm.weight",
    "blk.1.ffn_gate.weight", "blk.1.ffn_up.weight", "blk.1.ffn_down.weight", "blk.2.attn_norm.weight",
    "blk.2.attn_q.weight", "blk.2.attn_k.weight", "blk.2.attn_v.weight", "blk.2.attn_output.weight",
    "blk.2.ffn_norm.weight", "blk.2.ffn_gate.weight", "blk.2.ffn_up.weight", "blk.2.ffn_down.weight",
    "blk.3.attn_norm.weight", "blk.3.attn_q.weight", "blk.3.attn_k.weight", "blk.3.attn_v.weight",
    "blk.3.attn_output.weight", "blk.3.ffn_norm.weight", "blk.3.ffn_gate.weight", "blk.3.ffn_up.weight",
    "blk.3.ffn_down.weight", "blk.4.attn_norm.weight", "blk.4.attn_q.weight", "blk.4.attn_k.weight",
    "blk.4.attn_v.weight", "blk.4.attn_output.weight", "blk.4.ffn_norm.weight", "blk.4.ffn_gate.weight",
    "blk.4.ffn_up.weight", "blk.4.ffn_down.weight", "blk.5.attn_norm.weight", "blk.5.attn_q.weight",
    "blk.5.attn_k.weight", "blk.5.attn_v.weight", "blk.5.attn_output.weight", "blk.5.ffn_norm.weight",
    "blk.5.ffn_gate.weight", "blk.5.ffn_up.weight", "blk.5.ffn_down.weight", "output_norm.weight",
    "output.weight",
};
typedef struct ref_preset { const char *name; int file_type; long long bytes; const char *types; } ref_preset;
static const ref_preset ref_presets[] = {
    {"IQ1_M", 31, 2277280LL,
     "q2_K f32 iq1_m iq1_m iq3_k iq2_k f32 iq1_m iq1_m iq1_m f32 iq1_m iq1_m iq3_k iq2_k f32 iq1_m iq1_m "
     "iq1_m f32 iq1_m iq1_m iq3_k iq2_k f32 iq1_m iq1_m iq1_m f32 iq1_m iq1_m iq3_k iq2_k f32 iq1_m iq1_m "
     "iq1_m f32 iq1_m iq1_m iq3_k iq2_k f32 iq1_m iq1_m iq1_m f32 iq1_m iq1_m iq3_k iq2_k f32 iq1_m iq1_m "
     "iq1_m f32 q5_K"},
    {"IQ1_S", 24, 2180512LL,
     "q2_K f32 iq1_s iq1_s iq3_k iq2_k f32 iq1_s iq1_s iq1_s f32 iq1_s iq1_s iq3_k iq2_k f32 iq1_s iq1_s "
     "iq1_s f32 iq1_s iq1_s iq3_k iq2_k f32 iq1_s iq1_s iq1_s f32 iq1_s iq1_s iq3_k iq2_k f32 iq1_s iq1_s "
     "iq1_s f32 iq1_s iq1_s iq3_k iq2_k f32 iq1_s iq1_s iq1_s f32 iq1_s iq1_s iq3_k iq2_k f32 iq1_s iq1_s "
     "iq1_s f32 q5_K"},
    {"IQ2_M", 29, 2855328LL,
     "iq3_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq2_s iq2_s iq2_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq2_s iq2_s "
     "iq2_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq2_s iq2_s iq2_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq2_s iq2_s "
     "iq2_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq2_s iq2_s iq2_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq2_s iq2_s "
     "iq2_s f32 q5_K"},
    {"IQ2_S", 28, 2726304LL,
     "iq3_s f32 iq2_xs iq2_xs iq3_k iq3_s f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k iq3_s f32 "
     "iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k iq3_s f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k "
     "iq3_s f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k iq3_s f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs "
     "iq2_xs iq3_k iq3_s f32 iq2_xs iq2_xs iq2_xs f32 q5_K"},
    {"IQ2_XS", 20, 2564512LL,
     "q2_K f32 iq2_xs iq2_xs iq3_k iq2_xs f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k iq2_xs f32 "
     "iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k iq2_xs f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs "
     "iq3_k iq2_xs f32 iq2_xs iq2_xs iq2_xs f32 iq2_xs iq2_xs iq3_k iq2_xs f32 iq2_xs iq2_xs iq2_xs f32 "
     "iq2_xs iq2_xs iq3_k iq2_xs f32 iq2_xs iq2_xs iq2_xs f32 q5_K"},
    {"IQ2_XXS", 19, 2423200LL,
     "q2_K f32 iq2_xxs iq2_xxs iq3_k iq2_xxs f32 iq2_xxs iq2_xxs iq2_xxs f32 iq2_xxs iq2_xxs iq3_k "
     "iq2_xxs f32 iq2_xxs iq2_xxs iq2_xxs f32 iq2_xxs iq2_xxs iq3_k iq2_xxs f32 iq2_xxs iq2_xxs iq2_xxs "
     "f32 iq2_xxs iq2_xxs iq3_k iq2_xxs f32 iq2_xxs iq2_xxs iq2_xxs f32 iq2_xxs iq2_xxs iq3_k iq2_xxs f32 "
     "iq2_xxs iq2_xxs iq2_xxs f32 iq2_xxs iq2_xxs iq3_k iq2_xxs f32 iq2_xxs iq2_xxs iq2_xxs f32 q5_K"},
    {"IQ3_M", 27, 3549088LL,
     "iq3_s f32 iq3_s iq3_s iq5_k iq4_k f32 iq3_s iq3_s iq3_s f32 iq3_s iq3_s iq5_k iq4_k f32 iq3_s iq3_s "
     "iq3_s f32 iq3_s iq3_s iq5_k iq4_k f32 iq3_s iq3_s iq3_s f32 iq3_s iq3_s iq5_k iq4_k f32 iq3_s iq3_s "
     "iq3_s f32 iq3_s iq3_s iq5_k iq4_k f32 iq3_s iq3_s iq3_s f32 iq3_s iq3_s iq5_k iq4_k f32 iq3_s iq3_s "
     "iq3_s f32 q6_K"},
    {"IQ3_S", 26, 3472288LL,
     "iq3_s f32 iq3_s iq3_s iq4_k iq3_s f32 iq3_s iq3_s iq3_s f32 iq3_s iq3_s iq4_k iq3_s f32 iq3_s iq3_s "
     "iq3_s f32 iq3_s iq3_s iq4_k iq3_s f32 iq3_s iq3_s iq3_s f32 iq3_s iq3_s iq4_k iq3_s f32 iq3_s iq3_s "
     "iq3_s f32 iq3_s iq3_s iq4_k iq3_s f32 iq3_s iq3_s iq3_s f32 iq3_s iq3_s iq4_k iq3_s f32 iq3_s iq3_s "
     "iq3_s f32 q6_K"},
    {"IQ3_XS", 22, 3352480LL,
     "iq3_s f32 iq3_xxs iq3_xxs iq4_k iq3_s f32 iq3_xxs iq3_xxs iq3_s f32 iq3_xxs iq3_xxs iq4_k iq3_s f32 "
     "iq3_xxs iq3_xxs iq3_s f32 iq3_xxs iq3_xxs iq4_k iq3_s f32 iq3_xxs iq3_xxs iq3_s f32 iq3_xxs iq3_xxs "
     "iq4_k iq3_s f32 iq3_xxs iq3_xxs iq3_s f32 iq3_xxs iq3_xxs iq4_k iq3_s f32 iq3_xxs iq3_xxs iq3_s f32 "
     "iq3_xxs iq3_xxs iq4_k iq3_s f32 iq3_s iq3_s iq3_s f32 q6_K"},
    {"IQ3_XXS", 23, 3076512LL,
     "iq3_s f32 iq2_s iq2_s iq3_k iq3_s f32 iq3_xxs iq3_xxs iq3_xxs f32 iq2_s iq2_s iq3_k iq3_s f32 "
     "iq3_xxs iq3_xxs iq3_xxs f32 iq2_s iq2_s iq3_k iq3_s f32 iq3_xxs iq3_xxs iq3_xxs f32 iq2_s iq2_s "
     "iq3_k iq3_s f32 iq3_xxs iq3_xxs iq3_xxs f32 iq2_s iq2_s iq3_k iq3_s f32 iq3_xxs iq3_xxs iq3_xxs f32 "
     "iq2_s iq2_s iq3_k iq3_s f32 iq3_xxs iq3_xxs iq3_xxs f32 q5_K"},
    {"IQ2_K", 138, 2645408LL,
     "iq2_k f32 iq2_k iq2_k iq4_k iq3_k f32 iq2_k iq2_k iq2_k f32 iq2_k iq2_k iq4_k iq3_k f32 iq2_k iq2_k "
     "iq2_k f32 iq2_k iq2_k iq4_k iq3_k f32 iq2_k iq2_k iq2_k f32 iq2_k iq2_k iq4_k iq3_k f32 iq2_k iq2_k "
     "iq2_k f32 iq2_k iq2_k iq4_k iq3_k f32 iq2_k iq2_k iq2_k f32 iq2_k iq2_k iq4_k iq3_k f32 iq2_k iq2_k "
     "iq2_k f32 q5_K"},
    {"IQ2_KL", 155, 2845088LL,
     "iq2_kl f32 iq2_kl iq2_kl iq4_ks iq2_kl f32 iq2_kl iq2_kl iq2_kl f32 iq2_kl iq2_kl iq4_ks iq2_kl f32 "
     "iq2_kl iq2_kl iq2_kl f32 iq2_kl iq2_kl iq4_ks iq2_kl f32 iq2_kl iq2_kl iq2_kl f32 iq2_kl iq2_kl "
     "iq4_ks iq2_kl f32 iq2_kl iq2_kl iq2_kl f32 iq2_kl iq2_kl iq4_ks iq2_kl f32 iq2_kl iq2_kl iq2_kl f32 "
     "iq2_kl iq2_kl iq4_ks iq2_kl f32 iq2_kl iq2_kl iq2_kl f32 q5_K"},
    {"IQ2_KS", 147, 2473888LL,
     "iq2_ks f32 iq2_ks iq2_ks iq3_k iq2_ks f32 iq2_ks iq2_ks iq2_ks f32 iq2_ks iq2_ks iq3_k iq2_ks f32 "
     "iq2_ks iq2_ks iq2_ks f32 iq2_ks iq2_ks iq3_k iq2_ks f32 iq2_ks iq2_ks iq2_ks f32 iq2_ks iq2_ks "
     "iq3_k iq2_ks f32 iq2_ks iq2_ks iq2_ks f32 iq2_ks iq2_ks iq3_k iq2_ks f32 iq2_ks iq2_ks iq2_ks f32 "
     "iq2_ks iq2_ks iq3_k iq2_ks f32 iq2_ks iq2_ks iq2_ks f32 q5_K"},
    {"IQ3_K", 139, 3333024LL,
     "iq3_k f32 iq3_k iq3_k iq4_k iq3_k f32 iq3_k iq3_k iq3_k f32 iq3_k iq3_k iq4_k iq3_k f32 iq3_k iq3_k "
     "iq3_k f32 iq3_k iq3_k iq4_k iq3_k f32 iq3_k iq3_k iq3_k f32 iq3_k iq3_k iq4_k iq3_k f32 iq3_k iq3_k "
     "iq3_k f32 iq3_k iq3_k iq4_k iq3_k f32 iq3_k iq3_k iq3_k f32 iq3_k iq3_k iq4_k iq3_k f32 iq3_k iq3_k "
     "iq3_k f32 q5_K"},
    {"IQ3_KL", 146, 3677088LL,
     "iq3_k f32 iq3_k iq3_k iq5_k iq4_ks f32 iq3_k iq3_k iq3_k f32 iq3_k iq3_k iq5_k iq4_ks f32 iq3_k "
     "iq3_k iq3_k f32 iq3_k iq3_k iq5_k iq4_ks f32 iq4_ks iq4_ks iq4_ks f32 iq3_k iq3_k iq5_k iq4_ks f32 "
     "iq3_k iq3_k iq3_k f32 iq3_k iq3_k iq5_k iq4_ks f32 iq3_k iq3_k iq3_k f32 iq3_k iq3_k iq5_k iq4_ks "
     "f32 iq4_ks iq4_ks iq4_ks f32 q6_K"},
    {"IQ3_KS", 154, 3193248LL,
     "iq3_ks f32 iq3_ks iq3_ks iq4_ks iq3_ks f32 iq3_ks iq3_ks iq3_ks f32 iq3_ks iq3_ks iq4_ks iq3_ks f32 "
     "iq3_ks iq3_ks iq3_ks f32 iq3_ks iq3_ks iq4_ks iq3_ks f32 iq3_ks iq3_ks iq3_ks f32 iq3_ks iq3_ks "
     "iq4_ks iq3_ks f32 iq3_ks iq3_ks iq3_ks f32 iq3_ks iq3_ks iq4_ks iq3_ks f32 iq3_ks iq3_ks iq3_ks f32 "
     "iq3_ks iq3_ks iq4_ks iq3_ks f32 iq3_ks iq3_ks iq3_ks f32 q5_K"},
    {"IQ4_K", 140, 4236704LL,
     "iq4_k f32 iq4_k iq4_k iq5_k iq4_k f32 iq4_k iq4_k iq4_k f32 iq4_k iq4_k iq5_k iq4_k f32 iq4_k iq4_k "
     "iq4_k f32 iq4_k iq4_k iq5_k iq4_k f32 iq4_k iq4_k iq4_k f32 iq4_k iq4_k iq5_k iq4_k f32 iq4_k iq4_k "
     "iq4_k f32 iq4_k iq4_k iq5_k iq4_k f32 iq4_k iq4_k iq4_k f32 iq4_k iq4_k iq5_k iq4_k f32 iq4_k iq4_k "
     "iq4_k f32 q6_K"},
    {"IQ4_KS", 145, 4137376LL,
     "iq4_ks f32 iq4_ks iq4_ks iq5_k iq4_ks f32 iq4_ks iq4_ks iq4_ks f32 iq4_ks iq4_ks iq5_k iq4_ks f32 "
     "iq4_ks iq4_ks iq4_ks f32 iq4_ks iq4_ks iq5_k iq4_ks f32 iq4_ks iq4_ks iq4_ks f32 iq4_ks iq4_ks "
     "iq5_k iq4_ks f32 iq4_ks iq4_ks iq4_ks f32 iq4_ks iq4_ks iq5_k iq4_ks f32 iq4_ks iq4_ks iq4_ks f32 "
     "iq4_ks iq4_ks iq5_k iq4_ks f32 iq4_ks iq4_ks iq4_ks f32 q6_K"},
    {"IQ4_KSS", 148, 3963296LL,
     "iq4_kss f32 iq4_kss iq4_kss iq5_k iq4_kss f32 iq4_kss iq4_kss iq4_kss f32 iq4_kss iq4_kss iq5_k "
     "iq4_kss f32 iq4_kss iq4_kss iq4_kss f32 iq4_kss iq4_kss iq5_k iq4_kss f32 iq4_kss iq4_kss iq4_kss "
     "f32 iq4_kss iq4_kss iq5_k iq4_kss f32 iq4_kss iq4_kss iq4_kss f32 iq4_kss iq4_kss iq5_k iq4_kss f32 "
     "iq4_kss iq4_kss iq4_kss f32 iq4_kss iq4_kss iq5_k iq4_kss f32 iq4_kss iq4_kss iq4_kss f32 q6_K"},
    {"IQ4_NL", 25, 4236704LL,
     "iq4_nl f32 iq4_nl iq4_nl iq5_k iq4_nl f32 iq4_nl iq4_nl iq4_nl f32 iq4_nl iq4_nl iq5_k iq4_nl f32 "
     "iq4_nl iq4_nl iq4_nl f32 iq4_nl iq4_nl iq5_k iq4_nl f32 iq4_nl iq4_nl iq4_nl f32 iq4_nl iq4_nl "
     "iq5_k iq4_nl f32 iq4_nl iq4_nl iq4_nl f32 iq4_nl iq4_nl iq5_k iq4_nl f32 iq4_nl iq4_nl iq4_nl f32 "
     "iq4_nl iq4_nl iq5_k iq4_nl f32 iq4_nl iq4_nl iq4_nl f32 q6_K"},
    {"IQ4_XS", 30, 4062624LL,
     "iq4_xs f32 iq4_xs iq4_xs iq5_k iq4_xs f32 iq4_xs iq4_xs iq4_xs f32 iq4_xs iq4_xs iq5_k iq4_xs f32 "
     "iq4_xs iq4_xs iq4_xs f32 iq4_xs iq4_xs iq5_k iq4_xs f32 iq4_xs iq4_xs iq4_xs f32 iq4_xs iq4_xs "
     "iq5_k iq4_xs f32 iq4_xs iq4_xs iq4_xs f32 iq4_xs iq4_xs iq5_k iq4_xs f32 iq4_xs iq4_xs iq4_xs f32 "
     "iq4_xs iq4_xs iq5_k iq4_xs f32 iq4_xs iq4_xs iq4_xs f32 q6_K"},
    {"IQ5_K", 141, 4933024LL,
     "iq5_k f32 iq5_k iq5_k iq5_k iq5_k f32 iq5_k iq5_k iq5_k f32 iq5_k iq5_k iq5_k iq5_k f32 iq5_k iq5_k "
     "iq5_k f32 iq5_k iq5_k iq5_k iq5_k f32 iq5_k iq5_k iq5_k f32 iq5_k iq5_k iq5_k iq5_k f32 iq5_k iq5_k "
     "iq5_k f32 iq5_k iq5_k iq5_k iq5_k f32 iq5_k iq5_k iq5_k f32 iq5_k iq5_k iq5_k iq5_k f32 iq5_k iq5_k "
     "iq5_k f32 q6_K"},
    {"IQ5_KS", 150, 4830624LL,
     "iq5_ks f32 iq5_ks iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks iq5_ks f32 "
     "iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks "
     "iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks f32 "
     "iq5_ks iq5_ks iq5_ks iq5_ks f32 iq5_ks iq5_ks iq5_ks f32 q6_K"},
    {"IQ6_K", 142, 5752224LL,
     "iq6_k f32 iq6_k iq6_k iq6_k iq6_k f32 iq6_k iq6_k iq6_k f32 iq6_k iq6_k iq6_k iq6_k f32 iq6_k iq6_k "
     "iq6_k f32 iq6_k iq6_k iq6_k iq6_k f32 iq6_k iq6_k iq6_k f32 iq6_k iq6_k iq6_k iq6_k f32 iq6_k iq6_k "
     "iq6_k f32 iq6_k iq6_k iq6_k iq6_k f32 iq6_k iq6_k iq6_k f32 iq6_k iq6_k iq6_k iq6_k f32 iq6_k iq6_k "
     "iq6_k f32 iq6_k"},
    {"Q2_K", 10, 3040160LL,
     "q2_K f32 q2_K q2_K q3_K q3_K f32 q2_K q2_K q3_K f32 q2_K q2_K q3_K q3_K f32 q2_K q2_K q3_K f32 q2_K "
     "q2_K q3_K q3_K f32 q2_K q2_K q3_K f32 q2_K q2_K q3_K q3_K f32 q2_K q2_K q3_K f32 q2_K q2_K q3_K "
     "q3_K f32 q2_K q2_K q3_K f32 q2_K q2_K q3_K q3_K f32 q2_K q2_K q3_K f32 q6_K"},
    {"Q3_K_L", 13, 3902368LL,
     "q3_K f32 q3_K q3_K q5_K q5_K f32 q3_K q3_K q5_K f32 q3_K q3_K q5_K q5_K f32 q3_K q3_K q5_K f32 q3_K "
     "q3_K q5_K q5_K f32 q3_K q3_K q5_K f32 q3_K q3_K q5_K q5_K f32 q3_K q3_K q5_K f32 q3_K q3_K q5_K "
     "q5_K f32 q3_K q3_K q5_K f32 q3_K q3_K q5_K q5_K f32 q3_K q3_K q5_K f32 q6_K"},
    {"Q3_K_M", 12, 3689376LL,
     "q3_K f32 q3_K q3_K q5_K q4_K f32 q3_K q3_K q4_K f32 q3_K q3_K q5_K q4_K f32 q3_K q3_K q4_K f32 q3_K "
     "q3_K q4_K q4_K f32 q3_K q3_K q4_K f32 q3_K q3_K q4_K q4_K f32 q3_K q3_K q4_K f32 q3_K q3_K q4_K "
     "q4_K f32 q3_K q3_K q4_K f32 q3_K q3_K q4_K q4_K f32 q3_K q3_K q4_K f32 q6_K"},
    {"Q3_K_S", 11, 3446176LL,
     "q3_K f32 q3_K q3_K q3_K q3_K f32 q3_K q3_K q3_K f32 q3_K q3_K q3_K q3_K f32 q3_K q3_K q3_K f32 q3_K "
     "q3_K q3_K q3_K f32 q3_K q3_K q3_K f32 q3_K q3_K q3_K q3_K f32 q3_K q3_K q3_K f32 q3_K q3_K q3_K "
     "q3_K f32 q3_K q3_K q3_K f32 q3_K q3_K q3_K q3_K f32 q3_K q3_K q3_K f32 q6_K"},
    {"Q4_0", 2, 4212128LL,
     "q4_0 f32 q4_0 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 f32 q4_0 "
     "q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 "
     "q4_0 f32 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 q4_0 f32 q4_0 q4_0 q4_0 f32 q6_K"},
    {"Q4_K_M", 15, 4330400LL,
     "q4_K f32 q4_K q4_K q4_K q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q4_K q4_K f32 q4_K q4_K q4_K f32 q4_K "
     "q4_K q6_K q4_K f32 q4_K q4_K q6_K f32 q4_K q4_K q4_K q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q4_K "
     "q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q6_K q4_K f32 q4_K q4_K q6_K f32 q6_K"},
    {"Q4_K_S", 14, 4228512LL,
     "q4_K f32 q4_K q4_K q5_K q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q5_K q4_K f32 q4_K q4_K q4_K f32 q4_K "
     "q4_K q5_K q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q5_K q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q4_K "
     "q4_K f32 q4_K q4_K q4_K f32 q4_K q4_K q4_K q4_K f32 q4_K q4_K q4_K f32 q6_K"},
    {"Q5_0", 8, 4933024LL,
     "q5_0 f32 q5_0 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 f32 q5_0 "
     "q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 "
     "q5_0 f32 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 q5_0 f32 q5_0 q5_0 q5_0 f32 q6_K"},
    {"Q5_K_M", 17, 4993952LL,
     "q5_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K "
     "q5_K q6_K q5_K f32 q5_K q5_K q6_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q5_K "
     "q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q6_K q5_K f32 q5_K q5_K q6_K f32 q6_K"},
    {"Q5_K_S", 16, 4933024LL,
     "q5_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K "
     "q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q5_K "
     "q5_K f32 q5_K q5_K q5_K f32 q5_K q5_K q5_K q5_K f32 q5_K q5_K q5_K f32 q6_K"},
    {"Q6_K", 18, 5698976LL,
     "q6_K f32 q6_K q6_K q6_K q6_K f32 q6_K q6_K q6_K f32 q6_K q6_K q6_K q6_K f32 q6_K q6_K q6_K f32 q6_K "
     "q6_K q6_K q6_K f32 q6_K q6_K q6_K f32 q6_K q6_K q6_K q6_K f32 q6_K q6_K q6_K f32 q6_K q6_K q6_K "
     "q6_K f32 q6_K q6_K q6_K f32 q6_K q6_K q6_K q6_K f32 q6_K q6_K q6_K f32 q6_K"},
    {"Q8_0", 7, 7349664LL,
     "q8_0 f32 q8_0 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 f32 q8_0 "
     "q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 "
     "q8_0 f32 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 q8_0 f32 q8_0 q8_0 q8_0 f32 q8_0"},
    /* issue #16: the trellis, Q4_1/Q5_1 and MXFP4 presets */
    {"IQ1_KT", 156, 2168224LL,
     "iq1_kt f32 iq1_kt iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt iq1_kt "
     "f32 iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt f32 iq1_kt "
     "iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt "
     "iq1_kt f32 iq1_kt iq1_kt iq1_kt iq1_kt f32 iq1_kt iq1_kt iq1_kt f32 q5_K"},
    {"IQ2_KT", 151, 2526112LL,
     "iq2_kt f32 iq2_kt iq2_kt iq3_k iq3_k f32 iq2_kt iq2_kt iq2_kt f32 iq2_kt iq2_kt iq3_k iq3_k f32 "
     "iq2_kt iq2_kt iq2_kt f32 iq2_kt iq2_kt iq3_k iq3_k f32 iq2_kt iq2_kt iq2_kt f32 iq2_kt iq2_kt "
     "iq3_k iq3_k f32 iq2_kt iq2_kt iq2_kt f32 iq2_kt iq2_kt iq3_k iq3_k f32 iq2_kt iq2_kt iq2_kt f32 "
     "iq2_kt iq2_kt iq3_k iq3_k f32 iq2_kt iq2_kt iq2_kt f32 q5_K"},
    {"IQ3_KT", 152, 3188640LL,
     "iq3_s f32 iq3_kt iq3_kt iq3_k iq3_kt f32 iq3_kt iq3_kt iq3_kt f32 iq3_kt iq3_kt iq3_k iq3_kt "
     "f32 iq3_kt iq3_kt iq3_kt f32 iq3_kt iq3_kt iq3_k iq3_kt f32 iq3_kt iq3_kt iq3_kt f32 iq3_kt "
     "iq3_kt iq3_k iq3_kt f32 iq3_kt iq3_kt iq3_kt f32 iq3_kt iq3_kt iq3_k iq3_kt f32 iq3_kt iq3_kt "
     "iq3_kt f32 iq3_kt iq3_kt iq3_k iq3_kt f32 iq3_kt iq3_kt iq3_kt f32 q5_K"},
    {"IQ4_KT", 153, 3938720LL,
     "iq4_kt f32 iq4_kt iq4_kt iq4_k iq4_kt f32 iq4_kt iq4_kt iq4_kt f32 iq4_kt iq4_kt iq4_k iq4_kt "
     "f32 iq4_kt iq4_kt iq4_kt f32 iq4_kt iq4_kt iq4_k iq4_kt f32 iq4_kt iq4_kt iq4_kt f32 iq4_kt "
     "iq4_kt iq4_k iq4_kt f32 iq4_kt iq4_kt iq4_kt f32 iq4_kt iq4_kt iq4_k iq4_kt f32 iq4_kt iq4_kt "
     "iq4_kt f32 iq4_kt iq4_kt iq4_k iq4_kt f32 iq4_kt iq4_kt iq4_kt f32 q6_K"},
    {"MXFP4", 38, 4031904LL,
     "mxfp4 f32 mxfp4 mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 mxfp4 f32 mxfp4 "
     "mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 mxfp4 f32 "
     "mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 f32 mxfp4 mxfp4 mxfp4 mxfp4 "
     "f32 mxfp4 mxfp4 mxfp4 f32 q6_K"},
    {"Q4_1", 3, 4572576LL,
     "q4_1 f32 q4_1 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 f32 "
     "q4_1 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 f32 q4_1 q4_1 "
     "q4_1 q4_1 f32 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 q4_1 f32 q4_1 q4_1 q4_1 f32 q6_K"},
    {"Q5_1", 9, 5293472LL,
     "q5_1 f32 q5_1 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 f32 "
     "q5_1 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 f32 q5_1 q5_1 "
     "q5_1 q5_1 f32 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 q5_1 f32 q5_1 q5_1 q5_1 f32 q6_K"},
};

/* ---- helpers ------------------------------------------------------------------ */

static int type_id(const char *name) {
    int t = qtk_type_from_name(name);
    if (t < 0) fprintf(stderr, "test bug: unknown type %s\n", name);
    return t;
}

/* Plan of `preset` on g (imatrix may be NULL); NULL (with a CHECK failure) on error. */
static qtk_plan *plan_of(const qtk_gguf *g, const char *preset, const qtk_imatrix *im) {
    qtk_error err;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    qtk_status s = qtk_recipe_from_preset(preset, NULL, &r, &err);
    CHECK(s == QTK_OK, "preset %s: %s", preset, err.msg);
    if (s != QTK_OK) return NULL;
    s = qtk_plan_make(g, r, im, false, &p, &err);
    CHECK(s == QTK_OK, "plan %s: %s", preset, err.msg);
    qtk_recipe_free(r);
    return s == QTK_OK ? p : NULL;
}

/* Output type of tensor `name` in plan p (-2 if the tensor is absent). */
static int type_of(const qtk_gguf *g, const qtk_plan *p, const char *name) {
    int64_t i = qtk_gguf_find_tensor(g, name);
    return i < 0 ? -2 : p->items[i].type;
}

/* ---- the fixture: every preset of presets-reference.json ---------------------------- */

static void test_fixture(void) {
    char *path = tl_shared_path("fixtures/tiny-llama-f16.gguf");
    char *impath = tl_shared_path("fixtures/imatrix.dat");
    qtk_error err;
    qtk_gguf *g = NULL;
    qtk_imatrix *im = NULL;
    if (!path || !impath) {
        printf("fixture or imatrix missing: fixture part skipped\n");
        free(path);
        free(impath);
        return;
    }
    CHECK(qtk_gguf_open(path, &g, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_imatrix_load(impath, &im, &err) == QTK_OK, "%s", err.msg);
    if (!g || !im) goto done;
    CHECK(qtk_gguf_n_tensors(g) == FIX_N_TENSORS, "tensor count %lld", (long long)qtk_gguf_n_tensors(g));
    long long header = -1;
    int n_ref = (int)(sizeof ref_presets / sizeof ref_presets[0]);
    for (int k = 0; k < n_ref; k++) {
        const ref_preset *rp = &ref_presets[k];
        qtk_plan *p = plan_of(g, rp->name, im);
        if (!p) continue;
        CHECK(p->file_type == rp->file_type, "%s: file_type %d, reference %d", rp->name, p->file_type, rp->file_type);
        const char *s = rp->types;
        uint64_t ref_data = 0;
        int bad = 0;
        for (int i = 0; i < FIX_N_TENSORS; i++) {
            char tname[16];
            size_t l = strcspn(s, " ");
            snprintf(tname, sizeof tname, "%.*s", (int)l, s);
            s += l + (s[l] == ' ');
            const qtk_tensor_info *t = qtk_gguf_tensor(g, i);
            CHECK(!strcmp(t->name, fix_names[i]), "tensor %d is %s", i, t->name);
            int want = type_id(tname);
            if (p->items[i].type != want) bad++;
            CHECK(p->items[i].type == want, "%s: %s is %s, reference %s (%s)", rp->name, t->name,
                  qtk_type_name(p->items[i].type), tname, p->items[i].reason);
            /* size of the tensor data as the reference types make it, padded as in the file */
            uint64_t b = (uint64_t)qtk_row_size(want, t->ne[0]) * (uint64_t)qtk_tensor_nrows(t);
            ref_data += (b + 31) / 32 * 32;
        }
        CHECK(p->total_bytes_padded == ref_data, "%s: data %llu bytes, reference types give %llu", rp->name,
              (unsigned long long)p->total_bytes_padded, (unsigned long long)ref_data);
        /* the reference file = header + data: the header is the same for all presets
         * (same metadata, only values of fixed size differ), so file size minus our
         * data size must be one constant, aligned to 32 */
        long long h = rp->bytes - (long long)p->total_bytes_padded;
        if (header < 0) header = h;
        CHECK(h == header && h % 32 == 0 && h > 90000 && h < 100000,
              "%s: reference file %lld - data %llu = header %lld (first preset: %lld)", rp->name, rp->bytes,
              (unsigned long long)p->total_bytes_padded, h, header);
        if (bad) printf("%s: %d tensors differ\n", rp->name, bad);
        qtk_plan_free(p);
    }
    printf("fixture: %d presets compared; output header = %lld bytes in every reference file\n", n_ref, header);
done:
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
    free(path);
    free(impath);
}

/* ---- synthetic models -------------------------------------------------------------- */

typedef struct model_spec {
    const char *arch;
    int n_layer, n_head, n_head_kv, n_expert;
    int64_t vocab, n_embd, n_ff;
    bool tied, shexp;
} model_spec;

static void spec_init(model_spec *s) {
    memset(s, 0, sizeof *s);
    s->arch = "llama";
    s->n_layer = 32;
    s->n_head = 32;
    s->n_head_kv = 8;
    s->vocab = 128256;
    s->n_embd = 256;
    s->n_ff = 256;
}

/* Declares one f16 tensor of shape ne0 x ne1 (x ne2) with 2 rows per matrix. */
static bool add_t(qtk_gguf_writer *w, const char *name, int nd, int64_t ne0, int64_t ne2, int64_t *bytes) {
    int64_t ne[3] = {ne0, nd == 1 ? 1 : 2, ne2};
    qtk_error err;
    qtk_status s = qtk_gguf_writer_add_tensor(w, name, nd == 1 ? QTK_TYPE_F32 : QTK_TYPE_F16, nd, ne, &err);
    CHECK(s == QTK_OK, "add %s: %s", name, err.msg);
    *bytes += nd == 1 ? ne0 * 4 : ne0 * 2 * ne2 * 2;
    return s == QTK_OK;
}

/* Writes a small GGUF with llama tensor names and the given hyper-parameters
 * (tensors have 2 rows; only names, shapes and metadata matter to a plan) and
 * an imatrix with an entry for every 2-D tensor; returns the open model. */
static qtk_gguf *make_model(const model_spec *sp, const char *file, qtk_imatrix **im_out) {
    char *path = tl_tmp_path(file);
    qtk_error err;
    qtk_gguf_writer *w = NULL;
    qtk_gguf *g = NULL;
    int64_t bytes = 0;
    char key[128], name[128];
    *im_out = NULL;
    if (qtk_gguf_writer_open(path, &w, &err) != QTK_OK) {
        CHECK(0, "writer: %s", err.msg);
        free(path);
        return NULL;
    }
    qtk_meta *m = qtk_gguf_writer_meta(w);
    qtk_meta_set_str(m, "general.architecture", sp->arch, &err);
    snprintf(key, sizeof key, "%s.block_count", sp->arch);
    qtk_meta_set_u32(m, key, (uint32_t)sp->n_layer, &err);
    snprintf(key, sizeof key, "%s.attention.head_count", sp->arch);
    qtk_meta_set_u32(m, key, (uint32_t)sp->n_head, &err);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", sp->arch);
    qtk_meta_set_u32(m, key, (uint32_t)sp->n_head_kv, &err);
    snprintf(key, sizeof key, "%s.vocab_size", sp->arch);
    qtk_meta_set_u32(m, key, (uint32_t)sp->vocab, &err);
    if (sp->n_expert) {
        snprintf(key, sizeof key, "%s.expert_count", sp->arch);
        qtk_meta_set_u32(m, key, (uint32_t)sp->n_expert, &err);
    }
    qtk_imatrix_acc *acc = NULL;
    CHECK(qtk_imatrix_acc_create(&acc, &err) == QTK_OK, "%s", err.msg);
    float ones[1024];
    for (int k = 0; k < 1024; k++) ones[k] = 1.0f;
#define T2(nm, ne0, ne2)                                                                \
    do {                                                                                \
        int64_t idx;                                                                    \
        add_t(w, nm, (ne2) > 1 ? 3 : 2, ne0, ne2, &bytes);                              \
        if (acc && qtk_imatrix_acc_tensor(acc, nm, ne0, ne2, &idx, &err) == QTK_OK)     \
            for (int64_t mm = 0; mm < (ne2); mm++) qtk_imatrix_acc_add(acc, idx, mm, ones, 1, &err); \
    } while (0)
    T2("token_embd.weight", sp->n_embd, 1);
    for (int l = 0; l < sp->n_layer; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        add_t(w, name, 1, sp->n_embd, 1, &bytes);
        const char *attn[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, attn[k]);
            T2(name, sp->n_embd, 1);
        }
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        add_t(w, name, 1, sp->n_embd, 1, &bytes);
        if (sp->n_expert > 1) {
            snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", l);
            add_t(w, name, 2, sp->n_embd, 1, &bytes);
            const char *ex[] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "blk.%d.%s.weight", l, ex[k]);
                T2(name, k == 2 ? sp->n_ff : sp->n_embd, sp->n_expert);
            }
            if (sp->shexp) {
                const char *sh[] = {"ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"};
                for (int k = 0; k < 3; k++) {
                    snprintf(name, sizeof name, "blk.%d.%s.weight", l, sh[k]);
                    T2(name, k == 2 ? sp->n_ff : sp->n_embd, 1);
                }
            }
        } else {
            const char *ff[] = {"ffn_gate", "ffn_up", "ffn_down"};
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "blk.%d.%s.weight", l, ff[k]);
                T2(name, k == 2 ? sp->n_ff : sp->n_embd, 1);
            }
        }
    }
    add_t(w, "output_norm.weight", 1, sp->n_embd, 1, &bytes);
    if (!sp->tied) T2("output.weight", sp->n_embd, 1);
#undef T2
    char *zeros = (char *)calloc(1, (size_t)bytes);
    CHECK(zeros && qtk_gguf_writer_write(w, zeros, (size_t)bytes, &err) == QTK_OK, "write: %s", err.msg);
    free(zeros);
    CHECK(qtk_gguf_writer_finish(w, &err) == QTK_OK, "finish: %s", err.msg);
    CHECK(qtk_gguf_open(path, &g, &err) == QTK_OK, "open %s: %s", path, err.msg);
    if (acc) {
        char *ipath = tl_tmp_path("synthetic-imatrix.dat");
        CHECK(qtk_imatrix_acc_set_chunks(acc, 1, 1, &err) == QTK_OK, "%s", err.msg);
        CHECK(qtk_imatrix_save_dat(ipath, acc, &err) == QTK_OK, "save imatrix: %s", err.msg);
        CHECK(qtk_imatrix_load(ipath, im_out, &err) == QTK_OK, "load imatrix: %s", err.msg);
        free(ipath);
        qtk_imatrix_acc_free(acc);
    }
    free(path);
    return g;
}

/* Checks every layer of class `cls` (e.g. "ffn_down") against spec: "t"
 * (all layers), "a|b" (a on use_more_bits layers, b elsewhere) or "a<N|b"
 * (a on the first N layers, b elsewhere). */
static void check_class(const qtk_gguf *g, const qtk_plan *p, const char *preset, const char *what, int n_layer,
                        const char *cls, const char *spec) {
    char a[16] = "", b[16] = "";
    int first = -1;
    const char *bar = strchr(spec, '|');
    if (!bar) {
        snprintf(a, sizeof a, "%s", spec);
        snprintf(b, sizeof b, "%s", spec);
    } else {
        const char *lt = strchr(spec, '<');
        if (lt && lt < bar) {
            snprintf(a, sizeof a, "%.*s", (int)(lt - spec), spec);
            first = atoi(lt + 1);
        } else {
            snprintf(a, sizeof a, "%.*s", (int)(bar - spec), spec);
        }
        snprintf(b, sizeof b, "%s", bar + 1);
    }
    for (int l = 0; l < n_layer; l++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, cls);
        bool hi = first >= 0 ? l < first : (l < n_layer / 8 || l >= 7 * n_layer / 8 || (l - n_layer / 8) % 3 == 2);
        const char *want = hi ? a : b;
        int got = type_of(g, p, name);
        CHECK(got == type_id(want), "%s %s: %s is %s, expected %s", what, preset, name, qtk_type_name(got), want);
    }
}

/* MIXES §7.1: dense LLaMA-3-8B-like model, g = 4, V = 128256, imatrix. */
static void test_table_7_1(void) {
    static const struct {
        const char *preset, *tok, *q, *k, *v, *o, *gu, *down, *out;
    } rows[] = {
        {"IQ2_KS", "iq2_ks", "iq2_ks", "iq2_ks", "iq4_k", "iq2_ks", "iq2_ks", "q2_K<4|iq2_ks", "q5_K"},
        {"IQ2_K", "iq2_k", "iq2_k", "iq2_k", "iq4_k", "iq3_k", "iq2_k", "iq2_k", "q5_K"},
        {"IQ2_KL", "iq2_kl", "iq2_kl", "iq2_kl", "iq4_ks", "iq2_kl", "iq2_kl", "iq2_kl", "q5_K"},
        {"IQ2_KT", "iq2_kt", "iq2_kt", "iq2_kt", "iq4_k", "iq3_k", "iq2_kt", "iq3_k<4|iq2_kt", "q5_K"},
        {"IQ3_KS", "iq3_ks", "iq3_ks", "iq3_ks", "iq4_ks", "iq3_ks", "iq3_ks", "iq3_ks", "q5_K"},
        {"IQ3_K", "iq3_k", "iq3_k", "iq3_k", "iq4_k", "iq3_k", "iq3_k", "iq3_k", "q5_K"},
        {"IQ3_KT", "iq3_s", "iq3_kt", "iq3_kt", "iq4_k", "iq3_k", "iq3_kt", "iq3_kt", "q5_K"},
        {"IQ3_KL", "iq3_k", "iq3_k", "iq3_k", "iq5_k", "iq4_ks", "iq4_ks|iq3_k", "iq4_ks|iq3_k", "q6_K"},
        {"IQ4_KSS", "iq4_kss", "iq4_kss", "iq4_kss", "iq5_k", "iq4_kss", "iq4_kss", "iq4_kss", "q6_K"},
        {"IQ4_KS", "iq4_ks", "iq4_ks", "iq4_ks", "iq5_k", "iq4_ks", "iq4_ks", "iq4_ks", "q6_K"},
        {"IQ4_KT", "iq4_kt", "iq4_kt", "iq4_kt", "iq5_k", "iq4_kt", "iq4_kt", "iq4_kt", "q6_K"},
        {"IQ4_K", "iq4_k", "iq4_k", "iq4_k", "iq5_k", "iq4_k", "iq4_k", "iq4_k", "q6_K"},
        {"IQ5_KS", "iq5_ks", "iq4_ks", "iq5_ks", "iq6_k", "iq5_ks", "iq5_ks", "iq5_ks", "q6_K"},
        {"IQ5_K", "iq5_k", "iq4_k", "iq5_k", "iq6_k", "iq5_k", "iq5_k", "iq5_k", "q6_K"},
        {"IQ6_K", "iq6_k", "iq6_k", "iq6_k", "iq6_k", "iq6_k", "iq6_k", "iq6_k", "iq6_k"},
        {"IQ4_XS", "iq4_xs", "iq4_xs", "iq4_xs", "iq5_k", "iq4_xs", "iq4_xs", "iq4_xs", "q6_K"},
        {"IQ4_NL", "iq4_nl", "iq4_nl", "iq4_nl", "iq5_k", "iq4_nl", "iq4_nl", "iq4_nl", "q6_K"},
        {"Q4_K_S", "q4_K", "q4_K", "q4_K", "q5_K", "q4_K", "q4_K", "q5_K<4|q4_K", "q6_K"},
        {"Q4_K_M", "q4_K", "q4_K", "q4_K", "q6_K|q5_K", "q4_K", "q4_K", "q6_K|q4_K", "q6_K"},
        {"Q5_K_S", "q5_K", "q4_K", "q5_K", "q6_K", "q5_K", "q5_K", "q5_K", "q6_K"},
        {"Q5_K_M", "q5_K", "q5_K", "q5_K", "q6_K", "q5_K", "q5_K", "q6_K|q5_K", "q6_K"},
        {"Q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K", "q6_K"},
        {"Q4_0", "q4_0", "q4_0", "q4_0", "q4_0", "q4_0", "q4_0", "q4_1<4|q4_0", "q6_K"},
        {"Q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0", "q8_0"},
    };
    model_spec sp;
    spec_init(&sp);
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-8b.gguf", &im);
    if (!g || !im) {
        qtk_imatrix_free(im);
        qtk_gguf_close(g);
        return;
    }
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        qtk_plan *p = plan_of(g, rows[r].preset, im);
        if (!p) continue;
        CHECK(type_of(g, p, "token_embd.weight") == type_id(rows[r].tok), "7.1 %s token_embd %s", rows[r].preset,
              qtk_type_name(type_of(g, p, "token_embd.weight")));
        CHECK(type_of(g, p, "output.weight") == type_id(rows[r].out), "7.1 %s output %s", rows[r].preset,
              qtk_type_name(type_of(g, p, "output.weight")));
        check_class(g, p, rows[r].preset, "7.1", 32, "attn_q", rows[r].q);
        check_class(g, p, rows[r].preset, "7.1", 32, "attn_k", rows[r].k);
        check_class(g, p, rows[r].preset, "7.1", 32, "attn_v", rows[r].v);
        check_class(g, p, rows[r].preset, "7.1", 32, "attn_output", rows[r].o);
        check_class(g, p, rows[r].preset, "7.1", 32, "ffn_gate", rows[r].gu);
        check_class(g, p, rows[r].preset, "7.1", 32, "ffn_up", rows[r].gu);
        check_class(g, p, rows[r].preset, "7.1", 32, "ffn_down", rows[r].down);
        CHECK(type_of(g, p, "blk.7.attn_norm.weight") == QTK_TYPE_F32, "norms stay f32");
        qtk_plan_free(p);
    }
    /* the same model without an imatrix: IQ4_XS gets q5_K in the first eighth of
     * ffn_down, IQ2_KT refuses (iq2_kt needs imatrix entries) */
    qtk_plan *p = plan_of(g, "IQ4_XS", NULL);
    if (p) check_class(g, p, "IQ4_XS", "no imatrix", 32, "ffn_down", "q5_K<4|iq4_xs");
    qtk_plan_free(p);
    qtk_recipe *r = NULL;
    qtk_error err;
    p = NULL;
    CHECK(qtk_recipe_from_preset("IQ2_KT", NULL, &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, NULL, false, &p, &err) == QTK_ERR_INVALID_ARG && !p, "IQ2_KT without imatrix must fail");
    CHECK(strstr(err.msg, "blk.0.attn_q.weight") && strstr(err.msg, "iq2_kt"), "message names tensor and type: %s",
          err.msg);
    qtk_recipe_free(r);
    qtk_quant_overrides ov;
    qtk_quant_overrides_init(&ov);
    ov.ignore_imatrix_rules = true;
    CHECK(qtk_recipe_from_preset("IQ2_KT", &ov, &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, NULL, false, &p, &err) == QTK_OK, "--ignore-imatrix-rules: %s", err.msg);
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* MIXES §7.2: attn_v by GQA factor (8B-like, V = 128k) and for a 70B model. */
static void test_table_7_2(void) {
    static const struct {
        const char *preset, *v[5]; /* g = 1, 2, 4, 8, 70B (g = 8) */
    } rows[] = {
        {"IQ2_KS", {"q2_K", "iq3_k", "iq4_k", "iq4_k", "iq4_k"}},
        {"IQ2_K", {"iq3_k", "iq4_k", "iq4_k", "iq4_k", "iq2_k"}},
        {"IQ2_KL", {"iq2_kl", "iq4_ks", "iq4_ks", "iq4_ks", "iq2_kl"}},
        {"IQ2_KT", {"q2_K", "iq3_k", "iq4_k", "iq4_k", "iq4_k"}},
        {"IQ3_KS", {"iq3_ks", "iq4_ks", "iq4_ks", "iq4_ks", "iq3_ks"}},
        {"IQ3_K", {"iq3_k", "iq4_k", "iq4_k", "iq4_k", "iq5_k"}},
        {"IQ3_KT", {"iq3_k", "iq3_k", "iq4_k", "iq4_k", "iq3_kt"}},
        {"IQ3_KL", {"iq4_k", "iq5_k", "iq5_k", "iq5_k", "iq5_k"}},
        {"IQ4_KSS", {"iq4_kss", "iq5_k", "iq5_k", "iq5_k", "iq4_kss"}},
        {"IQ4_KS", {"iq4_ks", "iq5_k", "iq5_k", "iq5_k", "iq4_ks"}},
        {"IQ4_K", {"iq4_k", "iq5_k", "iq5_k", "iq5_k", "iq4_k"}},
        {"IQ4_XS", {"iq4_xs", "iq5_k", "iq5_k", "iq5_k", "iq4_xs"}},
        {"IQ4_NL", {"iq4_nl", "iq5_k", "iq5_k", "iq5_k", "iq4_nl"}},
        {"IQ4_KT", {"iq4_k", "iq4_k", "iq5_k", "iq5_k", "iq4_kt"}},
        {"IQ5_K", {"iq6_k", "iq6_k", "iq6_k", "iq6_k", "iq5_k"}},
        {"IQ5_KS", {"iq6_k", "iq6_k", "iq6_k", "iq6_k", "iq5_ks"}},
        {"Q4_K_M", {"q6_K|q4_K", "q6_K|q4_K", "q6_K|q5_K", "q6_K|q5_K", "q5_K"}},
        {"Q5_K_S", {"q6_K", "q6_K", "q6_K", "q6_K", "q5_K"}},
    };
    const int gs[5] = {1, 2, 4, 8, 8};
    for (int c = 0; c < 5; c++) {
        model_spec sp;
        spec_init(&sp);
        sp.n_head_kv = sp.n_head / gs[c];
        if (c == 4) {
            sp.n_layer = 80;
            sp.n_head = 64;
            sp.n_head_kv = 8;
        }
        char file[64], what[32];
        snprintf(file, sizeof file, "syn-gqa%d-%d.gguf", gs[c], c);
        snprintf(what, sizeof what, c == 4 ? "7.2 70B" : "7.2 g=%d", gs[c]);
        qtk_imatrix *im = NULL;
        qtk_gguf *g = make_model(&sp, file, &im);
        if (!g) continue;
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            qtk_plan *p = plan_of(g, rows[r].preset, im);
            if (!p) continue;
            check_class(g, p, rows[r].preset, what, sp.n_layer, "attn_v", rows[r].v[c]);
            qtk_plan_free(p);
        }
        qtk_imatrix_free(im);
        qtk_gguf_close(g);
    }
    /* a 7B model with a 32k vocabulary: IQ5_K / Q5_K_S keep attn_v and attn_q at
     * the base type whatever g is (rows s/t end the chain) */
    model_spec sp;
    spec_init(&sp);
    sp.vocab = 32000;
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-7b.gguf", &im);
    if (g) {
        const char *pr[] = {"IQ5_K", "iq5_k", "Q5_K_S", "q5_K", "IQ5_KS", "iq5_ks"};
        for (int k = 0; k < 6; k += 2) {
            qtk_plan *p = plan_of(g, pr[k], im);
            if (!p) continue;
            check_class(g, p, pr[k], "7B/32k", 32, "attn_v", pr[k + 1]);
            check_class(g, p, pr[k], "7B/32k", 32, "attn_q", pr[k + 1]);
            qtk_plan_free(p);
        }
    }
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* MIXES §7.3: tied embeddings, token_embd quantized as the output tensor. */
static void test_table_7_3(void) {
    static const char *const rows[][2] = {
        {"IQ2_KS", "iq4_k"},  {"IQ2_K", "iq4_k"},   {"IQ2_KL", "iq4_k"},  {"IQ3_KS", "iq4_k"},  {"IQ3_K", "iq4_k"},
        {"IQ2_KT", "iq4_k"},  {"IQ3_KT", "iq4_k"},  {"IQ3_KL", "iq5_k"},  {"IQ4_KSS", "iq5_k"}, {"IQ4_KS", "iq5_k"},
        {"IQ4_XS", "iq5_k"},  {"IQ4_K", "q6_K"},    {"IQ5_K", "q6_K"},    {"IQ5_KS", "q6_K"},   {"IQ4_KT", "q6_K"},
        {"IQ4_NL", "q6_K"},   {"Q4_K_M", "q6_K"},   {"Q4_K_S", "q6_K"},   {"Q5_K_S", "q6_K"},   {"Q6_K", "q6_K"},
        {"IQ6_K", "iq6_k"},   {"Q8_0", "q8_0"},
    };
    model_spec sp;
    spec_init(&sp);
    sp.tied = true;
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-tied.gguf", &im);
    if (!g) return;
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        qtk_plan *p = plan_of(g, rows[r][0], im);
        if (!p) continue;
        CHECK(type_of(g, p, "token_embd.weight") == type_id(rows[r][1]), "7.3 %s: tied token_embd %s, expected %s",
              rows[r][0], qtk_type_name(type_of(g, p, "token_embd.weight")), rows[r][1]);
        qtk_plan_free(p);
    }
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* MIXES §7.4: 8-expert MoE model (layer from the name for ffn_*_exps). */
static qtk_plan *plan_mainline(const qtk_gguf *g, const char *preset, const qtk_imatrix *im);

static void test_table_7_4(void) {
    model_spec sp;
    spec_init(&sp);
    sp.n_expert = 8;
    sp.shexp = true;
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-moe.gguf", &im);
    if (!g) return;
    const char *generic[][2] = {{"IQ4_KS", "q5_K"}, {"Q4_K_M", "q5_K"}, {"IQ3_KL", "q5_K"},
                                {"IQ2_KL", "iq4_ks"}, {"IQ4_K", "q5_K"}, {"IQ5_K", "iq5_k"}};
    for (size_t r = 0; r < sizeof generic / sizeof generic[0]; r++) {
        qtk_plan *p = plan_of(g, generic[r][0], im);
        if (!p) continue;
        check_class(g, p, generic[r][0], "7.4", 32, "attn_v", "q8_0");
        check_class(g, p, generic[r][0], "7.4", 32, "attn_k", "q8_0");
        check_class(g, p, generic[r][0], "7.4", 32, "attn_output", generic[r][1]);
        CHECK(!p->items[qtk_gguf_find_tensor(g, "blk.3.ffn_gate_inp.weight")].quantize, "router not quantized");
        qtk_plan_free(p);
    }
    qtk_plan *p = plan_of(g, "IQ3_KL", im);
    if (p) {
        const char *cls[] = {"ffn_down_exps", "ffn_gate_exps", "ffn_up_exps", "ffn_down_shexp", "ffn_up_shexp"};
        for (int k = 0; k < 5; k++) check_class(g, p, "IQ3_KL", "7.4", 32, cls[k], "iq4_ks|iq3_k");
    }
    qtk_plan_free(p);
    p = plan_of(g, "Q4_K_M", im);
    if (p) check_class(g, p, "Q4_K_M", "7.4", 32, "ffn_down_exps", "q6_K|q4_K");
    qtk_plan_free(p);
    p = plan_of(g, "IQ2_KS", im);
    if (p) {
        check_class(g, p, "IQ2_KS", "7.4 IQ2", 32, "attn_v", "iq4_k");
        check_class(g, p, "IQ2_KS", "7.4 IQ2", 32, "attn_k", "q4_K");
        check_class(g, p, "IQ2_KS", "7.4 IQ2", 32, "attn_q", "q4_K");
        check_class(g, p, "IQ2_KS", "7.4 IQ2", 32, "attn_output", "q5_K");
        /* quirk: the early branch counts every ffn_down* tensor (exps and shexp),
         * so its "first eighth" (4 of 32) covers blk.0-1 exps+shexp only */
        CHECK(type_of(g, p, "blk.1.ffn_down_shexp.weight") == QTK_TYPE_Q2_K, "IQ2_KS counter quirk (blk.1 shexp)");
        CHECK(type_of(g, p, "blk.2.ffn_down_exps.weight") == QTK_TYPE_IQ2_KS, "IQ2_KS counter quirk (blk.2 exps)");
    }
    qtk_plan_free(p);
    p = plan_of(g, "IQ2_KT", im);
    if (p) {
        check_class(g, p, "IQ2_KT", "7.4 KT", 32, "attn_v", "iq4_k");
        check_class(g, p, "IQ2_KT", "7.4 KT", 32, "attn_q", "q4_K");
        check_class(g, p, "IQ2_KT", "7.4 KT", 32, "attn_output", "q5_K");
        /* MIXES order: the E >= 8 blk.0.ffn_* rule comes before the _shexp rule */
        check_class(g, p, "IQ2_KT", "7.4 KT", 32, "ffn_gate_shexp", "iq3_k<1|iq4_k");
        CHECK(type_of(g, p, "blk.0.ffn_gate_exps.weight") == QTK_TYPE_IQ3_K, "IQ2_KT blk.0 ffn iq3_k");
        CHECK(type_of(g, p, "blk.1.ffn_gate_exps.weight") == QTK_TYPE_IQ2_KT, "IQ2_KT blk.1 ffn iq2_kt");
    }
    qtk_plan_free(p);
    /* MXFP4_MOE (llama.cpp's rule, with or without --compat mainline): 3-D expert
     * matrices mxfp4, every other matrix q8_0; ik_llama.cpp's MXFP4 (its plain
     * chain): attention q8_0 for >= 4 experts, experts mxfp4, output q6_K */
    for (int c = 0; c < 3; c++) {
        const char *name = c == 1 ? "MXFP4" : "MXFP4_MOE";
        p = c == 2 ? plan_mainline(g, "MXFP4", im) : plan_of(g, name, im);
        if (!p) continue;
        const char *what = c == 2 ? "MXFP4 --compat mainline" : name;
        check_class(g, p, what, "MXFP4", 32, "ffn_down_exps", "mxfp4");
        check_class(g, p, what, "MXFP4", 32, "ffn_up_exps", "mxfp4");
        check_class(g, p, what, "MXFP4", 32, "ffn_gate_shexp", c == 1 ? "mxfp4" : "q8_0");
        check_class(g, p, what, "MXFP4", 32, "attn_q", c == 1 ? "mxfp4" : "q8_0");
        check_class(g, p, what, "MXFP4", 32, "attn_v", "q8_0");
        CHECK(type_of(g, p, "output.weight") == (c == 1 ? QTK_TYPE_Q6_K : QTK_TYPE_Q8_0), "%s: output %s", what,
              qtk_type_name(type_of(g, p, "output.weight")));
        CHECK(type_of(g, p, "token_embd.weight") == (c == 1 ? QTK_TYPE_MXFP4 : QTK_TYPE_Q8_0), "%s: token_embd %s",
              what, qtk_type_name(type_of(g, p, "token_embd.weight")));
        CHECK(!p->items[qtk_gguf_find_tensor(g, "blk.3.ffn_gate_inp.weight")].quantize, "%s: router not quantized",
              what);
        CHECK(p->file_type == 38, "%s: file_type %d", what, p->file_type);
        qtk_plan_free(p);
    }
    /* --ffn-gate-inp-type quantizes the router */
    qtk_quant_overrides ov;
    qtk_quant_overrides_init(&ov);
    ov.ffn_gate_inp_type = QTK_TYPE_Q8_0;
    qtk_recipe *r = NULL;
    qtk_error err;
    CHECK(qtk_recipe_from_preset("IQ4_KS", &ov, &r, &err) == QTK_OK, "%s", err.msg);
    p = NULL;
    CHECK(qtk_plan_make(g, r, im, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) CHECK(type_of(g, p, "blk.5.ffn_gate_inp.weight") == QTK_TYPE_Q8_0, "router forced to q8_0");
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* MIXES §3 step 4: rows that are not a multiple of 256 fall back to block-32 types. */
static void test_fallback(void) {
    model_spec sp;
    spec_init(&sp);
    sp.n_layer = 8;
    sp.n_ff = 288; /* ffn_down rows: 288 = 9 x 32 */
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-odd.gguf", &im);
    if (!g) return;
    const char *rows[][3] = {{"Q4_K_M", "q8_0|q5_0", "q6_K|q4_K"}, {"IQ4_KS", "iq4_nl", "iq4_ks"},
                             {"IQ5_K", "q6_0", "iq5_k"},           {"IQ6_K", "q8_0", "iq6_k"},
                             {"IQ2_KS", "iq4_nl", "iq2_ks"},       {"IQ5_KS", "q5_0", "iq5_ks"},
                             {"Q5_K_M", "q8_0|q6_0", "q5_K"},      {"IQ4_K", "q5_0", "iq4_k"}};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        qtk_plan *p = plan_of(g, rows[k][0], im);
        if (!p) continue;
        /* use_more_bits of 8 layers = {0,3,6,7}; first:1/8 = {0} */
        check_class(g, p, rows[k][0], "fallback", 8, "ffn_down", rows[k][1]);
        if (!strchr(rows[k][2], '|')) check_class(g, p, rows[k][0], "no fallback", 8, "ffn_gate", rows[k][2]);
        int64_t i = qtk_gguf_find_tensor(g, "blk.1.ffn_down.weight");
        CHECK(strstr(p->items[i].reason, "not a multiple of 256") != NULL, "reason names the fallback: %s",
              p->items[i].reason);
        CHECK(p->items[i].bytes == 2 * qtk_row_size(p->items[i].type, 288), "bytes of fallback tensor");
        qtk_plan_free(p);
    }
    qtk_imatrix_free(im);
    qtk_gguf_close(g);

    /* rows not even a multiple of 32: f16; a forced type that does not fit: error */
    spec_init(&sp);
    sp.n_layer = 2;
    sp.n_ff = 100;
    g = make_model(&sp, "syn-odd100.gguf", &im);
    if (!g) return;
    qtk_plan *p = plan_of(g, "Q4_K_M", im);
    if (p) CHECK(type_of(g, p, "blk.0.ffn_down.weight") == QTK_TYPE_F16, "row 100 -> f16 (copied)");
    qtk_plan_free(p);
    qtk_recipe *r = NULL;
    qtk_error err;
    CHECK(qtk_recipe_parse("default q8_0\nforce ffn_down = q4_K\n", "t", &r, &err) == QTK_OK, "%s", err.msg);
    p = NULL;
    CHECK(qtk_plan_make(g, r, im, false, &p, &err) == QTK_ERR_INVALID_ARG && !p, "forced q4_K on 100 columns");
    CHECK(strstr(err.msg, "ffn_down") && strstr(err.msg, "forced"), "message: %s", err.msg);
    qtk_recipe_free(r);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* Overrides act where MIXES §6/§8.2 say (quirks included). */
static void test_overrides(void) {
    model_spec sp;
    spec_init(&sp);
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-ov.gguf", &im);
    if (!g) return;
    qtk_quant_overrides ov;
    qtk_quant_overrides_init(&ov);
    ov.attn_v_type = QTK_TYPE_Q8_0;
    ov.attn_q_type = QTK_TYPE_IQ6_K;
    ov.output_tensor_type = QTK_TYPE_Q8_0;
    ov.token_embedding_type = QTK_TYPE_Q6_K;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    qtk_error err;
    /* generic preset: honoured */
    CHECK(qtk_recipe_from_preset("IQ4_KS", &ov, &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, im, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        check_class(g, p, "IQ4_KS+ov", "override", 32, "attn_v", "q8_0");
        check_class(g, p, "IQ4_KS+ov", "override", 32, "attn_q", "iq6_k");
        CHECK(type_of(g, p, "output.weight") == QTK_TYPE_Q8_0, "output override");
        CHECK(type_of(g, p, "token_embd.weight") == QTK_TYPE_Q6_K, "token_embd override");
    }
    qtk_plan_free(p);
    /* custom rules override the preset, but not --output-tensor-type */
    CHECK(qtk_recipe_add_custom(r, "attn_v", QTK_TYPE_IQ4_NL, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_recipe_add_custom(r, "output", QTK_TYPE_IQ4_NL, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, im, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        check_class(g, p, "IQ4_KS+custom", "custom", 32, "attn_v", "iq4_nl");
        CHECK(type_of(g, p, "output.weight") == QTK_TYPE_Q8_0, "--output-tensor-type beats --custom-q");
    }
    qtk_plan_free(p);
    qtk_recipe_free(r);
    /* early-branch preset: --attn-v-type / --attn-q-type are not consulted (quirk) */
    CHECK(qtk_recipe_from_preset("IQ2_KS", &ov, &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, im, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        check_class(g, p, "IQ2_KS+ov", "quirk", 32, "attn_v", "iq4_k");
        check_class(g, p, "IQ2_KS+ov", "quirk", 32, "attn_q", "iq2_ks");
    }
    qtk_plan_free(p);
    qtk_recipe_free(r);
    /* --pure: every weight the default type (output too); --leave-output-tensor */
    qtk_quant_overrides_init(&ov);
    ov.pure = true;
    ov.leave_output_tensor = true;
    CHECK(qtk_recipe_from_preset("q4_k_m", &ov, &r, &err) == QTK_OK, "%s", err.msg);
    CHECK(qtk_plan_make(g, r, im, false, &p, &err) == QTK_OK, "%s", err.msg);
    if (p) {
        check_class(g, p, "Q4_K_M pure", "pure", 32, "attn_v", "q4_K");
        check_class(g, p, "Q4_K_M pure", "pure", 32, "ffn_down", "q4_K");
        CHECK(type_of(g, p, "token_embd.weight") == QTK_TYPE_Q4_K, "pure token_embd");
        CHECK(!p->items[qtk_gguf_find_tensor(g, "output.weight")].quantize &&
                  type_of(g, p, "output.weight") == QTK_TYPE_F16,
              "--leave-output-tensor keeps output.weight");
        CHECK(p->file_type == 15, "file_type of Q4_K_M");
    }
    qtk_plan_free(p);
    qtk_recipe_free(r);
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* --compat mainline on synthetic models, where the fixture (6 layers, g = 2,
 * dense) cannot tell: stock llama-quantize's llama_tensor_get_type_impl has
 * no g >= 4 catch-all, bumps to k-quants (not iq*_k), turns q3_K/q4_K attn_v
 * into q5_K on 70B models, tests experts == 8, and quantizes a tied
 * embedding like output.weight (q6_K / q5_K). */
static qtk_plan *plan_mainline(const qtk_gguf *g, const char *preset, const qtk_imatrix *im) {
    qtk_error err;
    qtk_recipe *r = NULL;
    qtk_plan *p = NULL;
    qtk_quant_overrides ov;
    qtk_quant_overrides_init(&ov);
    ov.compat_mainline = true;
    qtk_status s = qtk_recipe_from_preset(preset, &ov, &r, &err);
    if (s == QTK_OK) s = qtk_plan_make(g, r, im, false, &p, &err);
    CHECK(s == QTK_OK, "mainline %s: %s", preset, err.msg);
    qtk_recipe_free(r);
    return s == QTK_OK ? p : NULL;
}

static void test_mainline_synthetic(void) {
    static const struct {
        const char *preset, *v[4]; /* attn_v for g = 1, 4, 70B (g = 8), 8 experts */
    } rows[] = {
        {"IQ4_XS", {"iq4_xs", "q5_K", "q5_K", "q8_0"}},
        {"IQ4_NL", {"iq4_nl", "q5_K", "q5_K", "q8_0"}},
        {"Q4_K_M", {"q6_K|q4_K", "q6_K|q4_K", "q6_K|q5_K", "q8_0"}},
        {"Q4_K_S", {"q5_K<4|q4_K", "q5_K<4|q4_K", "q5_K", "q8_0"}},
        {"Q3_K_M", {"q5_K<2|q4_K", "q5_K<2|q4_K", "q5_K", "q8_0"}},
        {"Q2_K", {"q3_K", "q4_K", "q5_K", "q8_0"}},
        {"IQ3_S", {"iq3_s", "q4_K", "q5_K", "q8_0"}},
        {"IQ3_M", {"q4_K", "q4_K", "q5_K", "q8_0"}},
        {"IQ2_XS", {"q2_K", "q4_K", "q4_K", "q4_K"}},
        {"IQ2_M", {"iq3_s", "q4_K", "q4_K", "q4_K"}},
        {"Q5_K_S", {"q5_K", "q5_K", "q5_K", "q8_0"}},
    };
    for (int c = 0; c < 4; c++) {
        model_spec sp;
        spec_init(&sp);
        sp.n_head_kv = c == 0 ? sp.n_head : sp.n_head / 4;
        if (c == 2) {
            sp.n_layer = 80;
            sp.n_head = 64;
            sp.n_head_kv = 8;
        }
        if (c == 3) sp.n_expert = 8;
        char file[64];
        snprintf(file, sizeof file, "syn-mainline-%d.gguf", c);
        qtk_imatrix *im = NULL;
        qtk_gguf *g = make_model(&sp, file, &im);
        if (!g) continue;
        const char *what = c == 0 ? "mainline g=1" : c == 1 ? "mainline g=4" : c == 2 ? "mainline 70B" : "mainline E=8";
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            qtk_plan *p = plan_mainline(g, rows[r].preset, im);
            if (!p) continue;
            check_class(g, p, rows[r].preset, what, sp.n_layer, "attn_v", rows[r].v[c]);
            if (c == 3 && strcmp(rows[r].preset, "IQ2_XS") != 0 && strcmp(rows[r].preset, "IQ2_M") != 0)
                check_class(g, p, rows[r].preset, what, sp.n_layer, "attn_k", "q8_0");
            for (int64_t i = 0; i < p->n; i++)
                CHECK(qtk_type_get(p->items[i].type)->ecosystems & QTK_ECO_LLAMA_CPP, "%s %s: %s ik-only", what,
                      rows[r].preset, qtk_type_name(p->items[i].type));
            qtk_plan_free(p);
        }
        if (c == 3) { /* 8 experts: attn_output q5_K for Q4_K_M, IQ3_M ffn_down q4_K on use_more_bits layers */
            qtk_plan *p = plan_mainline(g, "Q4_K_M", im);
            if (p) check_class(g, p, "Q4_K_M", what, sp.n_layer, "attn_output", "q5_K");
            qtk_plan_free(p);
            p = plan_mainline(g, "IQ3_M", im);
            if (p) check_class(g, p, "IQ3_M", what, sp.n_layer, "ffn_down_exps", "q4_K|iq3_s");
            qtk_plan_free(p);
        }
        qtk_imatrix_free(im);
        qtk_gguf_close(g);
    }
    /* tied embeddings: token_embd gets output.weight's type, never iq4_k/iq5_k */
    model_spec sp;
    spec_init(&sp);
    sp.tied = true;
    qtk_imatrix *im = NULL;
    qtk_gguf *g = make_model(&sp, "syn-mainline-tied.gguf", &im);
    const char *tied[][2] = {{"IQ4_XS", "q6_K"}, {"IQ3_M", "q6_K"}, {"IQ2_XS", "q5_K"}, {"Q4_K_M", "q6_K"}, {"Q8_0", "q8_0"}};
    for (size_t k = 0; g && k < sizeof tied / sizeof tied[0]; k++) {
        qtk_plan *p = plan_mainline(g, tied[k][0], im);
        if (!p) continue;
        CHECK(type_of(g, p, "token_embd.weight") == type_id(tied[k][1]), "mainline tied %s: token_embd %s, expected %s",
              tied[k][0], qtk_type_name(type_of(g, p, "token_embd.weight")), tied[k][1]);
        qtk_plan_free(p);
    }
    qtk_imatrix_free(im);
    qtk_gguf_close(g);
}

/* Every listed preset is producible: each type its recipe can choose has a quantizer. */
static void test_all_producible(void) {
    int n = 0;
    const char *const *names = qtk_preset_names(&n);
    CHECK(n >= 50, "%d presets listed", n);
    for (int k = 0; k < n; k++) {
        int types[16];
        bool base_missing = true;
        int m = qtk_preset_missing_types(names[k], types, 16, &base_missing);
        CHECK(m == 0 && !base_missing, "preset %s: %d types without a quantizer (first: %s)", names[k], m,
              m > 0 ? qtk_type_name(types[0]) : "-");
    }
}

int main(void) {
    test_all_producible();
    /* the fixture part reports itself skipped when ../shared is absent; the
     * synthetic-model tables below always run */
    test_fixture();
    test_table_7_1();
    test_table_7_2();
    test_table_7_3();
    test_table_7_4();
    test_fallback();
    test_overrides();
    test_mainline_synthetic();
    return tl_finish("test_presets");
}
