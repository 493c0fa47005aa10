/* safetensors.h — reading and writing safetensors files (weights import/export, golden vectors). */
#ifndef NTG_SAFETENSORS_H
#define NTG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"

/*
 * The format (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of a UTF-8 JSON object (the writer pads
 * it with spaces), then the data buffer.  Every key but "__metadata__" names a
 * tensor: {"dtype": "F32", "shape": [4, 96], "data_offsets": [begin, end]},
 * offsets relative to the buffer, little-endian, row-major.  "__metadata__" is
 * an object of string -> string.
 *
 * The reader refuses what the reference reader (the Rust `safetensors` crate)
 * refuses, and a little more, always with NTG_ERR_DATA and a message naming the
 * file and the tensor:
 *   - a file shorter than 8 bytes; N > 100,000,000; 8 + N beyond the file;
 *   - a header that is not UTF-8 JSON, not an object, or has duplicate keys
 *     (the crate would silently keep the last tensor of a repeated name);
 *   - a tensor entry without exactly the keys dtype, shape, data_offsets (the
 *     crate ignores unknown keys; we refuse them so a typo cannot hide);
 *   - an unknown dtype (known: BOOL U8 I8 I16 U16 F16 BF16 I32 U32 F32 F64 I64
 *     U64 F8_E4M3 F8_E5M2); shape dimensions that are not non-negative integer
 *     literals below 2^63; a rank above 8 (the crate has no limit);
 *   - data_offsets that are not two such integers, end < begin, or whose size
 *     differs from the element count times the dtype size (overflow-checked);
 *   - offsets that, sorted by (begin, end), do not tile the buffer from 0 with
 *     no holes or overlaps up to its exact end;
 *   - "__metadata__" values that are not strings ("__metadata__": null is
 *     accepted as "no metadata", as the crate does);
 *   - names (tensor names, metadata keys and values) containing U+0000: they
 *     could not be C strings.
 */

/* One tensor of a loaded file.  Everything points into the ntg_st_file. */
typedef struct ntg_st_tensor {
    const char *name;
    const char *dtype; /* "F32", ... as written */
    int dtype_size;    /* bytes per element */
    int rank;
    int64_t shape[8];
    const void *data; /* inside the file's bytes; may be unaligned: memcpy it */
    uint64_t nbytes;
} ntg_st_tensor;

typedef struct ntg_st_file ntg_st_file;

/* Read the file at `path` and validate it.  NTG_ERR_IO when it cannot be read,
 * NTG_ERR_DATA when it is not a valid safetensors file, NTG_ERR_NOMEM. */
ntg_status ntg__st_load(const char *path, ntg_st_file **out, ntg_error *err);
/* Validate `size` bytes and keep a copy of them (the caller's buffer may go
 * away).  `name` is used in error messages (NULL: "<memory>"). */
ntg_status ntg__st_parse(const void *bytes, size_t size, const char *name, ntg_st_file **out,
                         ntg_error *err);
/* NULL is a no-op. */
void ntg__st_free(ntg_st_file *f);

size_t ntg__st_count(const ntg_st_file *f);
/* Tensor `i` in data-offset order; NULL when i >= count. */
const ntg_st_tensor *ntg__st_get(const ntg_st_file *f, size_t i);
/* The tensor called `name`, or NULL.  O(log n). */
const ntg_st_tensor *ntg__st_find(const ntg_st_file *f, const char *name);
/* Metadata value for `key`, NULL if absent. */
const char *ntg__st_meta(const ntg_st_file *f, const char *key);
/* Metadata entries in the order of the header. */
size_t ntg__st_meta_count(const ntg_st_file *f);
/* Key and value of entry i (either out pointer may be NULL); NTG_ERR_RANGE when
 * i >= count. */
ntg_status ntg__st_meta_at(const ntg_st_file *f, size_t i, const char **key, const char **value);

/* Bytes per element of a known dtype name, 0 for an unknown one. */
int ntg__st_dtype_size(const char *dtype);

/* One tensor to write: `shape` has `rank` (0..8) dims; `data` holds
 * numel * dtype size bytes (may be NULL when that is 0). */
typedef struct ntg_st_out {
    const char *name;
    const char *dtype;
    int rank;
    const int64_t *shape;
    const void *data;
} ntg_st_out;

/* Write tensors in the given order (data offsets follow that order), the
 * header padded with spaces to a multiple of 8 so the buffer starts 8-aligned.
 * meta: n_meta key, value pairs (meta[2k], meta[2k+1]); "__metadata__" is
 * omitted when n_meta is 0.  The file is written to PATH.tmp.<pid>, fsync'ed and
 * renamed over PATH, so an existing file is replaced whole or not at all.
 * Names must be valid UTF-8, unique and not "__metadata__"; metadata keys valid
 * UTF-8 and unique; values valid UTF-8.  Errors: NTG_ERR_INVALID_ARG (bad
 * names, dtype, shape), NTG_ERR_IO, NTG_ERR_NOMEM. */
ntg_status ntg__st_write(const char *path, const ntg_st_out *t, size_t n, const char *const *meta,
                         size_t n_meta, ntg_error *err);

#endif /* NTG_SAFETENSORS_H */
