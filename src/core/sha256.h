/*
 * sha256.h — streaming SHA-256 (FIPS 180-4), used to key measurement tables
 * to the model and imatrix they were made from (internal).
 */
#ifndef QTK_SHA256_H
#define QTK_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct qtk_sha256 {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
} qtk_sha256;

void qtk_sha256_init(qtk_sha256 *s);
void qtk_sha256_update(qtk_sha256 *s, const void *data, size_t n);
/* Finishes the hash: 32 bytes into digest (s must be re-initialised to reuse). */
void qtk_sha256_final(qtk_sha256 *s, unsigned char digest[32]);
/* Finishes the hash as 64 lowercase hex digits + NUL. */
void qtk_sha256_final_hex(qtk_sha256 *s, char hex[65]);

#endif
