/*
 * unicode_tables.h — Unicode classes for the BPE pre-tokenizers: the general
 * category group of every code point and the White_Space property, from the
 * generated range table in unicode_tables.c (tools/gen_unicode_tables.py).
 */
#ifndef QTK_UNICODE_TABLES_H
#define QTK_UNICODE_TABLES_H

#include <stdint.h>

enum {
    QTK_UC_OTHER = 0,   /* C*, Z* and unassigned code points */
    QTK_UC_LETTER = 1,  /* L*                                 */
    QTK_UC_NUMBER = 2,  /* N*                                 */
    QTK_UC_PUNCT = 3,   /* P*                                 */
    QTK_UC_SYMBOL = 4,  /* S*                                 */
    QTK_UC_MARK = 5,    /* M*                                 */
    QTK_UC_GROUP = 7,   /* mask of the group bits             */
    QTK_UC_SPACE = 8    /* flag: White_Space property         */
};

/* Range table: code points qtk_uc_range_first[i] .. qtk_uc_range_first[i+1]-1
 * have class qtk_uc_range_class[i]; the last range runs to 0x10FFFF. */
extern const uint32_t qtk_uc_range_first[];
extern const uint8_t qtk_uc_range_class[];
extern const uint32_t qtk_uc_n_ranges;
/* The same classes for code points 0..127. */
extern const uint8_t qtk_uc_ascii_class[128];

/* Class byte of code point c (QTK_UC_OTHER beyond 0x10FFFF). */
static inline uint8_t qtk_uc_class(uint32_t c) {
    if (c < 128) return qtk_uc_ascii_class[c];
    if (c > 0x10FFFF) return QTK_UC_OTHER;
    uint32_t lo = 0, hi = qtk_uc_n_ranges;  /* first[lo] <= c < first[hi] */
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (qtk_uc_range_first[mid] <= c) lo = mid;
        else hi = mid;
    }
    return qtk_uc_range_class[lo];
}

#endif
