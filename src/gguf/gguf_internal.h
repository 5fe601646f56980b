/*
 * gguf_internal.h — helpers shared by the GGUF metadata list, reader and
 * writer (not public).
 *
 * Policy decisions documented here once:
 *  - Keys and tensor names are NUL-terminated C strings in the API, so a key
 *    or tensor name containing a NUL byte is rejected (by the reader and by
 *    the setters); string *values* may contain NULs (they carry a length).
 *  - Arrays may nest at most QTK_GGUF_MAX_DEPTH levels (an array directly in
 *    a key/value pair is level 1), which bounds the recursion of parser,
 *    copier, comparer and writer.
 *  - Value checks shared by everyone: arrays hold items of exactly their
 *    element type, booleans are 0 or 1, integers fit their declared width.
 */
#ifndef QTK_GGUF_INTERNAL_H
#define QTK_GGUF_INTERNAL_H

#include "../core/qtk_internal.h"

#define QTK_GGUF_MAGIC "GGUF"
#define QTK_GGUF_MAX_DEPTH 8
#define QTK_GGUF_WRITE_VERSION 3u

/* Bytes a value of type t occupies in a file at the very least (scalars:
 * exactly; string: its u64 length; array: elem type + count). 0 if t is not
 * a value type. Used to bound counts by the bytes that remain. */
size_t qtk_gguf_vtype_min_size(uint32_t t);

/* x rounded to float; values beyond the float range become +-inf (a
 * plain cast would be undefined behaviour there). */
float qtk_gguf_f32_round(double x);

/* Checks that v is a well-formed value (types, bool 0/1, integer ranges,
 * array item types, nesting depth below QTK_GGUF_MAX_DEPTH - depth).
 * `what` names the key in the message ("FILE: key 'x'"). */
qtk_status qtk_gguf_value_check(const qtk_gguf_value *v, int depth, const char *what,
                                qtk_error *err);

/* Appends key/value to m taking ownership of both (no duplicate check);
 * on failure frees neither. Used by the reader, which checks duplicates
 * once at the end. */
qtk_status qtk_meta_append_owned(qtk_meta *m, char *key, const qtk_gguf_value *val);

/* Byte size of a tensor of `type` with n_dims dims ne (1..QTK_MAX_DIMS),
 * from the type table only. Fails with a message (prefixed by `what`)
 * when the type is unknown or not a file type, a dim is not positive, the
 * row length is not a multiple of the block size, or the element count /
 * byte size overflows int64. */
qtk_status qtk_gguf_tensor_size(int type, int n_dims, const int64_t *ne, const char *what,
                                uint64_t *nbytes, qtk_error *err);

/* A writer without a file, for sizes only: metadata and tensors are
 * declared as on a real writer; qtk_gguf_writer_header_size then runs the
 * header serializer counting bytes. Release with qtk_gguf_writer_abort. */
qtk_status qtk_gguf_writer_open_sizer(qtk_gguf_writer **out, qtk_error *err);
/* Bytes of the header (magic to the last tensor info, without the padding
 * to the alignment) and the alignment; writes the header first if it was
 * not yet written (a sizer only counts). */
qtk_status qtk_gguf_writer_header_size(qtk_gguf_writer *w, uint64_t *bytes, uint64_t *alignment, qtk_error *err);

#endif /* QTK_GGUF_INTERNAL_H */
