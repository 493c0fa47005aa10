/* plan_format.h — the plan.bin v1 file layout (see docs/plan-format.md) and its writer. */
#ifndef NTG_PLAN_FORMAT_H
#define NTG_PLAN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "crc32c.h"
#include "ntgraph.h"
#include "ops.h"

/*
 * A plan file is little-endian:
 *
 *   header (64 bytes) | section table (section_count x 32 bytes) | sections...
 *
 * Every section starts at a multiple of 64 bytes (so records can be read in place
 * and weights are 64-byte aligned after mmap); the gaps are zero.  Each section
 * has a CRC32C; the header has its own.  Sections appear in the table in
 * ascending kind order, each kind at most once; kinds unknown to a reader of the
 * same major version are skipped (after their CRC is checked).
 */

#define NTG_PLAN_MAGIC "NTGPLAN" /* 7 chars + NUL = 8 bytes */
#define NTG_PLAN_VERSION_MAJOR 1
#define NTG_PLAN_VERSION_MINOR 0
#define NTG_PLAN_ALIGN 64

typedef struct ntg_plan_header {
    char magic[8];          /* "NTGPLAN\0" */
    uint16_t version_major; /* readers refuse other majors */
    uint16_t version_minor; /* readers accept any minor of their major */
    uint32_t header_bytes;  /* 64 */
    uint64_t file_bytes;    /* total size of the file */
    uint32_t section_count;
    uint32_t flags;         /* 0 */
    uint64_t section_table; /* offset of the section table (64) */
    uint8_t reserved[20];   /* zero */
    uint32_t header_crc;    /* CRC32C of bytes 0..59 */
} ntg_plan_header;

typedef enum ntg_section_kind {
    NTG_SEC_INFO = 1,     /* one ntg_plan_info */
    NTG_SEC_STRINGS = 2,  /* NUL-terminated UTF-8 strings; byte 0 is NUL (the empty string) */
    NTG_SEC_META = 3,     /* ntg_meta_rec[count]: key/value string pairs */
    NTG_SEC_TENSORS = 4,  /* ntg_tensor_rec[count] */
    NTG_SEC_OPS = 5,      /* ntg_op_rec[count] */
    NTG_SEC_OPERANDS = 6, /* uint32_t[count]: tensor ids of op operands (NTG_NONE allowed) */
    NTG_SEC_ATTRS = 7,    /* ntg_attr[count]: 8-byte attribute slots */
    NTG_SEC_PROGRAMS = 8, /* ntg_program_rec[count] */
    NTG_SEC_INDICES = 9,  /* uint32_t[count]: op lists and input/output lists of programs */
    NTG_SEC_WEIGHTS = 10  /* raw parameter and constant data, 64-byte aligned tensors */
} ntg_section_kind;
#define NTG_SEC_MAX 10

typedef struct ntg_plan_section {
    uint32_t kind;  /* ntg_section_kind */
    uint32_t flags; /* 0 */
    uint64_t offset;
    uint64_t bytes;
    uint32_t count; /* number of records (bytes / record size; strings and weights: bytes) */
    uint32_t crc;   /* CRC32C of the section's bytes */
} ntg_plan_section;

typedef struct ntg_plan_info {
    uint32_t max_batch;
    uint32_t n_params;                       /* tensors with role PARAM */
    uint64_t storage_bytes[NTG_STORE_COUNT]; /* [ARENA] arena, [WEIGHTS], [STATE] */
    uint64_t naive_arena_bytes;              /* sum of arena tensors without reuse */
    uint64_t param_elements;
    uint8_t reserved[8];
} ntg_plan_info;

typedef struct ntg_meta_rec {
    uint32_t key; /* STRINGS offsets */
    uint32_t value;
} ntg_meta_rec;

typedef struct ntg_program_rec {
    uint32_t name; /* STRINGS offset: "infer", "train_step", "eval" */
    uint32_t ops;  /* INDICES: first of n_ops op indices, in execution order */
    uint32_t n_ops;
    uint32_t inputs; /* INDICES: tensor ids the caller binds */
    uint32_t n_inputs;
    uint32_t outputs; /* INDICES: tensor ids the caller reads */
    uint32_t n_outputs;
    uint32_t reserved;
    uint64_t arena_peak; /* arena bytes this program touches at the maximum batch */
} ntg_program_rec;

_Static_assert(sizeof(ntg_plan_header) == 64, "plan header is 64 bytes");
_Static_assert(sizeof(ntg_plan_section) == 32, "section entry is 32 bytes");
_Static_assert(sizeof(ntg_plan_info) == 64, "info section is 64 bytes");
_Static_assert(sizeof(ntg_program_rec) == 40, "program record is 40 bytes");
_Static_assert(sizeof(ntg_attr) == 8, "attribute slot is 8 bytes");

/* Everything that goes into a plan file, as arrays in memory.  The writer lays it
 * out; the loader produces the same view over a file. */
typedef struct ntg_plan_image {
    ntg_plan_info info;
    const char *strings;
    uint64_t strings_bytes;
    const ntg_meta_rec *meta;
    uint32_t n_meta;
    const ntg_tensor_rec *tensors;
    uint32_t n_tensors;
    const ntg_op_rec *ops;
    uint32_t n_ops;
    const uint32_t *operands;
    uint32_t n_operands;
    const ntg_attr *attrs;
    uint32_t n_attrs;
    const ntg_program_rec *programs;
    uint32_t n_programs;
    const uint32_t *indices;
    uint32_t n_indices;
    const uint8_t *weights;
    uint64_t weights_bytes;
} ntg_plan_image;

/* Lay `img` out as a plan file in a new 64-byte aligned buffer (free with
 * ntg__aligned_free).  Does not validate; the loader does. */
ntg_status ntg__plan_write(const ntg_plan_image *img, void **out, size_t *size, ntg_error *err);

/* 64-byte aligned allocation for plan bytes and weights; NULL on failure. */
void *ntg__aligned_alloc(size_t size);
void ntg__aligned_free(void *p);

/* String table under construction: deduplicated, offset 0 is "". */
typedef struct ntg_strtab ntg_strtab;
ntg_strtab *ntg__strtab_create(void);
void ntg__strtab_destroy(ntg_strtab *t);
/* Offset of `s` in the table (added if new); UINT32_MAX when out of memory. */
uint32_t ntg__strtab_add(ntg_strtab *t, const char *s);
const char *ntg__strtab_data(const ntg_strtab *t, uint64_t *bytes);

#endif /* NTG_PLAN_FORMAT_H */
