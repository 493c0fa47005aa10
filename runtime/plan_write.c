/* plan_write.c — lays an ntg_plan_image out as plan.bin v1; aligned buffers; string tables. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "plan_format.h"

/* ------------------------------------------------------------ aligned memory */

void *ntg__aligned_alloc(size_t size)
{
    void *p = NULL;
    if (size > SIZE_MAX - (NTG_PLAN_ALIGN - 1)) return NULL;
    /* whole 64-byte lines: the last tensor of a buffer may be read with full-width vectors */
    size_t n = (size + (NTG_PLAN_ALIGN - 1)) & ~(size_t)(NTG_PLAN_ALIGN - 1);
    if (n == 0) n = NTG_PLAN_ALIGN;
    if (posix_memalign(&p, NTG_PLAN_ALIGN, n) != 0) return NULL;
    return p;
}

void ntg__aligned_free(void *p)
{
    free(p);
}

/* ------------------------------------------------------------------- writer */

typedef struct sec_src {
    uint32_t kind;
    const void *data;
    uint64_t bytes;
    uint32_t count;
} sec_src;

static uint64_t align_up(uint64_t x)
{
    return (x + (NTG_PLAN_ALIGN - 1)) & ~(uint64_t)(NTG_PLAN_ALIGN - 1);
}

/* Byte sections (strings, weights) count bytes; a section of 4 GiB or more saturates. */
static uint32_t byte_count(uint64_t bytes)
{
    return bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

ntg_status ntg__plan_write(const ntg_plan_image *img, void **out, size_t *size, ntg_error *err)
{
    if (out) *out = NULL;
    if (size) *size = 0;
    if (!img || !out || !size)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "plan writer: NULL argument");

    /* ascending kind order; the required sections are always written, even when empty, so a
     * reader can tell "no ops" from "lost the ops section" */
    sec_src s[NTG_SEC_MAX];
    uint32_t n = 0;
    s[n++] = (sec_src){NTG_SEC_INFO, &img->info, sizeof img->info, 1};
    s[n++] = (sec_src){NTG_SEC_STRINGS, img->strings, img->strings_bytes,
                       byte_count(img->strings_bytes)};
    if (img->n_meta)
        s[n++] = (sec_src){NTG_SEC_META, img->meta, (uint64_t)img->n_meta * sizeof(ntg_meta_rec),
                           img->n_meta};
    s[n++] = (sec_src){NTG_SEC_TENSORS, img->tensors,
                       (uint64_t)img->n_tensors * sizeof(ntg_tensor_rec), img->n_tensors};
    s[n++] =
        (sec_src){NTG_SEC_OPS, img->ops, (uint64_t)img->n_ops * sizeof(ntg_op_rec), img->n_ops};
    s[n++] =
        (sec_src){NTG_SEC_OPERANDS, img->operands, (uint64_t)img->n_operands * 4, img->n_operands};
    s[n++] = (sec_src){NTG_SEC_ATTRS, img->attrs, (uint64_t)img->n_attrs * sizeof(ntg_attr),
                       img->n_attrs};
    s[n++] = (sec_src){NTG_SEC_PROGRAMS, img->programs,
                       (uint64_t)img->n_programs * sizeof(ntg_program_rec), img->n_programs};
    s[n++] = (sec_src){NTG_SEC_INDICES, img->indices, (uint64_t)img->n_indices * 4, img->n_indices};
    if (img->weights_bytes)
        s[n++] = (sec_src){NTG_SEC_WEIGHTS, img->weights, img->weights_bytes,
                           byte_count(img->weights_bytes)};

    uint64_t table_end = sizeof(ntg_plan_header) + (uint64_t)n * sizeof(ntg_plan_section);
    uint64_t offsets[NTG_SEC_MAX];
    uint64_t cursor = align_up(table_end);
    for (uint32_t i = 0; i < n; i++) {
        if (s[i].bytes && !s[i].data)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "plan writer: section of kind %u has %llu bytes but no data",
                             s[i].kind, (unsigned long long)s[i].bytes);
        if (s[i].bytes > UINT64_MAX / 2 - cursor)
            return ntg__fail(err, NTG_ERR_NOMEM, "plan writer: plan too large");
        offsets[i] = cursor;
        /* the next section (or the end of the file) starts on a 64-byte boundary, so an
         * empty section sits exactly where the next one begins */
        cursor = align_up(cursor + s[i].bytes);
    }
    if (cursor > SIZE_MAX) return ntg__fail(err, NTG_ERR_NOMEM, "plan writer: plan too large");
    size_t total = (size_t)cursor;

    uint8_t *buf = ntg__aligned_alloc(total);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "plan writer: cannot allocate %zu bytes", total);
    memset(buf, 0, total);

    for (uint32_t i = 0; i < n; i++) {
        ntg_plan_section e;
        memset(&e, 0, sizeof e);
        e.kind = s[i].kind;
        e.offset = offsets[i];
        e.bytes = s[i].bytes;
        e.count = s[i].count;
        if (s[i].bytes) memcpy(buf + offsets[i], s[i].data, (size_t)s[i].bytes);
        e.crc = ntg__crc32c(0, buf + offsets[i], (size_t)s[i].bytes);
        memcpy(buf + sizeof(ntg_plan_header) + i * sizeof e, &e, sizeof e);
    }

    ntg_plan_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, NTG_PLAN_MAGIC, sizeof h.magic);
    h.version_major = NTG_PLAN_VERSION_MAJOR;
    h.version_minor = NTG_PLAN_VERSION_MINOR;
    h.header_bytes = sizeof h;
    h.file_bytes = total;
    h.section_count = n;
    h.section_table = sizeof h;
    memcpy(buf, &h, sizeof h);
    h.header_crc = ntg__crc32c(0, buf, offsetof(ntg_plan_header, header_crc));
    memcpy(buf, &h, sizeof h);

    *out = buf;
    *size = total;
    return NTG_OK;
}

/* ------------------------------------------------------------- string table */

struct ntg_strtab {
    char *data; /* every string with its NUL; data[0] is the empty string */
    size_t len, cap;
    uint32_t *slots; /* open addressing over offsets; 0 marks a free slot ("" is never stored) */
    size_t nslots, used;
};

/* FNV-1a: the strings are the compiler's own names, not an adversary's. */
static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

ntg_strtab *ntg__strtab_create(void)
{
    ntg_strtab *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = 256;
    t->data = malloc(t->cap);
    t->nslots = 64;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->data || !t->slots) {
        ntg__strtab_destroy(t);
        return NULL;
    }
    t->data[0] = '\0';
    t->len = 1;
    return t;
}

void ntg__strtab_destroy(ntg_strtab *t)
{
    if (!t) return;
    free(t->data);
    free(t->slots);
    free(t);
}

static int strtab_rehash(ntg_strtab *t)
{
    size_t nn = t->nslots * 2;
    uint32_t *ns = calloc(nn, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < t->nslots; i++) {
        uint32_t off = t->slots[i];
        if (!off) continue;
        size_t j = (size_t)str_hash(t->data + off) & (nn - 1);
        while (ns[j]) j = (j + 1) & (nn - 1);
        ns[j] = off;
    }
    free(t->slots);
    t->slots = ns;
    t->nslots = nn;
    return 0;
}

uint32_t ntg__strtab_add(ntg_strtab *t, const char *s)
{
    if (!t || !s) return UINT32_MAX;
    if (!*s) return 0;
    if ((t->used + 1) * 2 > t->nslots && strtab_rehash(t)) return UINT32_MAX;
    size_t j = (size_t)str_hash(s) & (t->nslots - 1);
    while (t->slots[j]) {
        if (strcmp(t->data + t->slots[j], s) == 0) return t->slots[j];
        j = (j + 1) & (t->nslots - 1);
    }
    size_t n = strlen(s) + 1;
    /* offsets are uint32 and UINT32_MAX is the error value */
    if (n > (size_t)UINT32_MAX - 1 - t->len) return UINT32_MAX;
    if (t->len + n > t->cap) {
        size_t nc = t->cap;
        while (nc < t->len + n) nc *= 2;
        char *nd = realloc(t->data, nc);
        if (!nd) return UINT32_MAX;
        t->data = nd;
        t->cap = nc;
    }
    uint32_t off = (uint32_t)t->len;
    memcpy(t->data + off, s, n);
    t->len += n;
    t->slots[j] = off;
    t->used++;
    return off;
}

const char *ntg__strtab_data(const ntg_strtab *t, uint64_t *bytes)
{
    if (bytes) *bytes = t ? t->len : 0;
    return t ? t->data : NULL;
}
