/*
 * tokenizer_spm.h — internal knobs of the SentencePiece tokenizer
 * (tokenizer.c), for tests that compare its fast paths with the plain
 * whole-text merge loop. Not public.
 *
 * The fast paths: the escaped text is cut before every run of U+2581 and
 * each segment is merged on its own (exact when no vocabulary token has
 * U+2581 right after something other than U+2581, checked at load time),
 * and segments seen before in the same call are taken from a cache.
 */
#ifndef QTK_TOKENIZER_SPM_H
#define QTK_TOKENIZER_SPM_H

#include "../core/qtk_internal.h"

#define QTK_SPM_SEGMENT 1u  /* cut before runs of U+2581 (when the vocabulary allows it) */
#define QTK_SPM_CACHE 2u    /* reuse the ids of repeated segments (with QTK_SPM_SEGMENT)  */

/* Whether the vocabulary allows the cut (SPM vocabularies only; false for BPE). */
bool qtk_vocab_spm_can_segment(const qtk_vocab *v);

/* Sets which fast paths tokenizing uses (default: both). Not thread-safe:
 * for tests, before the vocabulary is shared. */
void qtk_vocab_spm_set_strategy(qtk_vocab *v, unsigned flags);

#endif
