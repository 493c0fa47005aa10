/* safetensors.c — safetensors reader (validated like the Rust crate) and atomic writer. */
#include "safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"
#include "ntg_error.h"
#include "pool.h"

/* The Rust crate's MAX_HEADER_SIZE. */
#define ST_MAX_HEADER 100000000u
#define ST_MAX_RANK 8

struct ntg_st_file {
    ntg_pool *pool;
    unsigned char *bytes; /* the whole file, malloc'ed */
    size_t size;
    ntg_st_tensor *tensors; /* data-offset order */
    size_t n;
    size_t *by_name;   /* indices into tensors, sorted by name */
    const char **meta; /* key, value, key, value ... in header order */
    size_t n_meta;
};

static const struct {
    const char *name;
    int size;
} st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8},
};

int ntg__st_dtype_size(const char *dtype)
{
    if (!dtype) return 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, dtype) == 0) return st_dtypes[i].size;
    return 0;
}

/* "[4, 96]" into buf. */
static const char *shape_str(const int64_t *shape, int rank, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    k += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

/* Elements and bytes of a shape, or -1 when either overflows 64 bits. */
static int st_nbytes(const int64_t *shape, int rank, int dsize, uint64_t *out)
{
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d && numel > UINT64_MAX / d) return -1;
        numel *= d;
    }
    if (numel > UINT64_MAX / (uint64_t)dsize) return -1;
    *out = numel * (uint64_t)dsize;
    return 0;
}

void ntg__st_free(ntg_st_file *f)
{
    if (!f) return;
    free(f->bytes);
    ntg__pool_destroy(f->pool);
}

size_t ntg__st_count(const ntg_st_file *f)
{
    return f ? f->n : 0;
}

const ntg_st_tensor *ntg__st_get(const ntg_st_file *f, size_t i)
{
    return f && i < f->n ? &f->tensors[i] : NULL;
}

const ntg_st_tensor *ntg__st_find(const ntg_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ntg_st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ntg__st_meta(const ntg_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

size_t ntg__st_meta_count(const ntg_st_file *f)
{
    return f ? f->n_meta : 0;
}

ntg_status ntg__st_meta_at(const ntg_st_file *f, size_t i, const char **key, const char **value)
{
    if (!f || i >= f->n_meta) return NTG_ERR_RANGE;
    if (key) *key = f->meta[2 * i];
    if (value) *value = f->meta[2 * i + 1];
    return NTG_OK;
}

/* ------------------------------------------------------------------ reader */

/* What the reader knows about one entry while it checks the tiling. */
typedef struct st_entry {
    uint64_t begin, end;
    size_t order; /* position in the header, so equal offsets sort stably */
} st_entry;

typedef struct st_ctx {
    const char *file;
    ntg_error *err;
    ntg_pool *pool;
} st_ctx;

/* Tensor names in messages: at most 100 bytes of them. */
#define NAMEF "'%.100s%s'"
#define NAMEA(s) (s), strlen(s) > 100 ? "..." : ""

static ntg_status st_bad(const st_ctx *c, const char *fmt, ...) NTG_PRINTF(2, 3);

static ntg_status st_bad(const st_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(c->err, NTG_ERR_DATA, c->file, 0, 0, fmt, ap);
    va_end(ap);
    return NTG_ERR_DATA;
}

static int is_index(const ntg_json *v)
{
    return ntg__json_is(v, NTG_JSON_NUMBER) && v->is_int && v->i64 >= 0;
}

/* "-1", "2.5", "a string" for a value that should have been an index. */
static const char *what_is(const ntg_json *v, char *buf, size_t cap)
{
    if (ntg__json_is(v, NTG_JSON_NUMBER))
        snprintf(buf, cap, "%.40s", v->str);
    else
        snprintf(buf, cap, "a%s %s",
                 v->kind == NTG_JSON_ARRAY || v->kind == NTG_JSON_OBJECT ? "n" : "",
                 ntg__json_kind_name(v->kind));
    return buf;
}

static ntg_status st_metadata(const st_ctx *c, const ntg_json *m, ntg_st_file *f)
{
    if (m->kind == NTG_JSON_NULL) return NTG_OK;
    if (m->kind != NTG_JSON_OBJECT) {
        char w[48];
        return st_bad(c, "__metadata__ is %s, not an object of strings", what_is(m, w, sizeof w));
    }
    f->meta = ntg__pool_array(f->pool, 2 * m->n, sizeof *f->meta);
    if (m->n && !f->meta) return ntg__fail(c->err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->n; i++) {
        const ntg_json *k = m->keys[i], *v = m->items[i];
        if (strlen(k->str) != k->len)
            return st_bad(c, "__metadata__: key " NAMEF " contains U+0000", NAMEA(k->str));
        if (v->kind != NTG_JSON_STRING) {
            char w[48];
            return st_bad(c, "__metadata__: value of " NAMEF " is %s, not a string", NAMEA(k->str),
                          what_is(v, w, sizeof w));
        }
        if (strlen(v->str) != v->len)
            return st_bad(c, "__metadata__: value of " NAMEF " contains U+0000", NAMEA(k->str));
        f->meta[2 * i] = ntg__pool_strdup(f->pool, k->str);
        f->meta[2 * i + 1] = ntg__pool_strdup(f->pool, v->str);
        if (!f->meta[2 * i] || !f->meta[2 * i + 1])
            return ntg__fail(c->err, NTG_ERR_NOMEM, "out of memory");
    }
    f->n_meta = m->n;
    return NTG_OK;
}

/* Check one tensor entry and fill t (data pointer left for later) and e. */
static ntg_status st_tensor(const st_ctx *c, const ntg_json *key, const ntg_json *v,
                            ntg_st_tensor *t, st_entry *e)
{
    const char *name = key->str;
    char w[48];
    if (strlen(name) != key->len)
        return st_bad(c, "tensor name " NAMEF " contains U+0000", NAMEA(name));
    if (v->kind != NTG_JSON_OBJECT)
        return st_bad(c, "tensor " NAMEF ": entry is %s, not an object", NAMEA(name),
                      what_is(v, w, sizeof w));
    const ntg_json *dtype = NULL, *shape = NULL, *offs = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i]->str;
        if (strcmp(k, "dtype") == 0)
            dtype = v->items[i];
        else if (strcmp(k, "shape") == 0)
            shape = v->items[i];
        else if (strcmp(k, "data_offsets") == 0)
            offs = v->items[i];
        else
            return st_bad(c,
                          "tensor " NAMEF ": unknown key '%.60s' (an entry has exactly dtype, "
                          "shape and data_offsets)",
                          NAMEA(name), k);
    }
    if (!dtype || !shape || !offs)
        return st_bad(c, "tensor " NAMEF ": missing '%s'", NAMEA(name),
                      !dtype   ? "dtype"
                      : !shape ? "shape"
                               : "data_offsets");
    if (dtype->kind != NTG_JSON_STRING)
        return st_bad(c, "tensor " NAMEF ": dtype is %s, not a string", NAMEA(name),
                      what_is(dtype, w, sizeof w));
    int dsize = ntg__st_dtype_size(dtype->str);
    if (!dsize || strlen(dtype->str) != dtype->len)
        return st_bad(c,
                      "tensor " NAMEF ": unknown dtype '%.20s' (known: BOOL, U8, I8, I16, U16, "
                      "F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2)",
                      NAMEA(name), dtype->str);
    if (shape->kind != NTG_JSON_ARRAY)
        return st_bad(c, "tensor " NAMEF ": shape is %s, not an array", NAMEA(name),
                      what_is(shape, w, sizeof w));
    if (shape->n > ST_MAX_RANK)
        return st_bad(c, "tensor " NAMEF ": rank %zu is above the supported %d", NAMEA(name),
                      shape->n, ST_MAX_RANK);
    for (size_t i = 0; i < shape->n; i++) {
        if (!is_index(shape->items[i]))
            return st_bad(c, "tensor " NAMEF ": shape[%zu] is %s, not a non-negative integer",
                          NAMEA(name), i, what_is(shape->items[i], w, sizeof w));
        t->shape[i] = shape->items[i]->i64;
    }
    t->rank = (int)shape->n;
    if (offs->kind != NTG_JSON_ARRAY || offs->n != 2 || !is_index(offs->items[0]) ||
        !is_index(offs->items[1]))
        return st_bad(c,
                      "tensor " NAMEF ": data_offsets is not an array of two non-negative "
                      "integers",
                      NAMEA(name));
    e->begin = (uint64_t)offs->items[0]->i64;
    e->end = (uint64_t)offs->items[1]->i64;
    if (e->end < e->begin)
        return st_bad(c,
                      "tensor " NAMEF ": data_offsets [%" PRIu64 ", %" PRIu64 "] end before they "
                      "begin",
                      NAMEA(name), e->begin, e->end);
    char sb[200];
    uint64_t need;
    if (st_nbytes(t->shape, t->rank, dsize, &need))
        return st_bad(c, "tensor " NAMEF ": shape %s of %s overflows 64-bit byte counts",
                      NAMEA(name), shape_str(t->shape, t->rank, sb, sizeof sb), dtype->str);
    if (e->end - e->begin != need)
        return st_bad(c,
                      "tensor " NAMEF ": data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                      " bytes, shape %s of %s needs %" PRIu64,
                      NAMEA(name), e->begin, e->end, e->end - e->begin,
                      shape_str(t->shape, t->rank, sb, sizeof sb), dtype->str, need);
    t->name = ntg__pool_strdup(c->pool, name);
    t->dtype = ntg__pool_strdup(c->pool, dtype->str);
    if (!t->name || !t->dtype) return ntg__fail(c->err, NTG_ERR_NOMEM, "out of memory");
    t->dtype_size = dsize;
    t->nbytes = need;
    return NTG_OK;
}

static int entry_order(const void *pa, const void *pb)
{
    const st_entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* qsort has no context argument: sort pointers, then convert to indices. */
static int tensor_name_order(const void *pa, const void *pb)
{
    const ntg_st_tensor *a = *(const ntg_st_tensor *const *)pa;
    const ntg_st_tensor *b = *(const ntg_st_tensor *const *)pb;
    return strcmp(a->name, b->name);
}

/* Validate the header and build the tables of f (whose bytes are set). */
static ntg_status st_build(const st_ctx *c, ntg_st_file *f)
{
    if (f->size < 8)
        return st_bad(c, "file is %zu bytes, shorter than the 8-byte header length", f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->bytes[i];
    if (hlen > ST_MAX_HEADER)
        return st_bad(c, "header length %" PRIu64 " is above the limit of %u bytes", hlen,
                      ST_MAX_HEADER);
    if (hlen > f->size - 8)
        return st_bad(c, "header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                      hlen, f->size);
    const char *htext = (const char *)f->bytes + 8;
    size_t hsize = (size_t)hlen;
    if (!ntg__utf8_valid(htext, hsize)) return st_bad(c, "header is not valid UTF-8");

    /* The tree is only needed while checking: a pool of its own. */
    ntg_pool *jpool = ntg__pool_create();
    if (!jpool) return ntg__fail(c->err, NTG_ERR_NOMEM, "out of memory");
    const ntg_json *root = NULL;
    char jmsg[200];
    size_t joff = 0;
    ntg_status st = ntg__json_parse(htext, hsize, jpool, &root, jmsg, sizeof jmsg, &joff);
    st_entry *ents = NULL;
    if (st == NTG_ERR_NOMEM) {
        ntg__fail(c->err, st, "out of memory");
        goto done;
    }
    if (st != NTG_OK) {
        st = st_bad(c, "header is not valid JSON: %s at byte %zu", jmsg, joff + 8);
        goto done;
    }
    if (root->kind != NTG_JSON_OBJECT) {
        char w[48];
        st = st_bad(c, "header is %s, not a JSON object", what_is(root, w, sizeof w));
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < root->n; i++)
        if (strcmp(root->keys[i]->str, "__metadata__") != 0 || root->keys[i]->len != 12) n++;
    ntg_st_tensor *hdr = ntg__pool_array(f->pool, n, sizeof *hdr);
    f->tensors = ntg__pool_array(f->pool, n, sizeof *f->tensors);
    f->by_name = ntg__pool_array(f->pool, n, sizeof *f->by_name);
    ents = malloc((n ? n : 1) * sizeof *ents);
    if (!hdr || !f->tensors || !f->by_name || !ents) {
        st = ntg__fail(c->err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < root->n; i++) {
        const ntg_json *key = root->keys[i];
        if (key->len == 12 && strcmp(key->str, "__metadata__") == 0) {
            st = st_metadata(c, root->items[i], f);
        } else {
            st = st_tensor(c, key, root->items[i], &hdr[k], &ents[k]);
            ents[k].order = k;
            k++;
        }
        if (st) goto done;
    }

    /* The crate's Metadata::validate: sorted by offsets, the tensors must tile
     * the buffer from 0 to its last byte. */
    qsort(ents, n, sizeof *ents, entry_order);
    const unsigned char *data = f->bytes + 8 + hsize;
    size_t dlen = f->size - 8 - hsize;
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const ntg_st_tensor *t = &hdr[ents[i].order];
        if (ents[i].begin != pos) {
            if (i == 0) {
                st = st_bad(c,
                            "tensor " NAMEF ": data_offsets [%" PRIu64 ", %" PRIu64
                            "] leave a hole at the start of the data buffer",
                            NAMEA(t->name), ents[i].begin, ents[i].end);
            } else {
                const ntg_st_tensor *prev = &f->tensors[i - 1];
                st = st_bad(c,
                            "tensor " NAMEF ": data_offsets [%" PRIu64 ", %" PRIu64
                            "] %s tensor " NAMEF ", which ends at %" PRIu64,
                            NAMEA(t->name), ents[i].begin, ents[i].end,
                            ents[i].begin > pos ? "leave a hole after" : "overlap",
                            NAMEA(prev->name), pos);
            }
            goto done;
        }
        pos = ents[i].end;
        f->tensors[i] = *t;
    }
    if (pos != dlen) {
        st = st_bad(c, "tensors cover %" PRIu64 " bytes, but the data buffer holds %zu", pos, dlen);
        goto done;
    }
    for (size_t i = 0; i < n; i++) f->tensors[i].data = data + ents[i].begin;
    f->n = n;

    const ntg_st_tensor **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    if (!ptrs) {
        st = ntg__fail(c->err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) ptrs[i] = &f->tensors[i];
    qsort(ptrs, n, sizeof *ptrs, tensor_name_order);
    for (size_t i = 0; i < n; i++) f->by_name[i] = (size_t)(ptrs[i] - f->tensors);
    free(ptrs);
    st = NTG_OK;
done:
    free(ents);
    ntg__pool_destroy(jpool);
    return st;
}

/* Takes ownership of `bytes` (malloc'ed), also on failure. */
static ntg_status st_open(unsigned char *bytes, size_t size, const char *name, ntg_st_file **out,
                          ntg_error *err)
{
    *out = NULL;
    ntg_pool *pool = ntg__pool_create();
    ntg_st_file *f = pool ? ntg__pool_alloc(pool, sizeof *f) : NULL;
    if (!f) {
        ntg__pool_destroy(pool);
        free(bytes);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    f->pool = pool;
    f->bytes = bytes;
    f->size = size;
    st_ctx c = {name ? name : "<memory>", err, pool};
    ntg_status st = st_build(&c, f);
    if (st) {
        ntg__st_free(f);
        return st;
    }
    *out = f;
    return NTG_OK;
}

ntg_status ntg__st_parse(const void *bytes, size_t size, const char *name, ntg_st_file **out,
                         ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__st_parse: out is NULL");
    *out = NULL;
    if (!bytes && size) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__st_parse: bytes is NULL");
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    if (size) memcpy(copy, bytes, size);
    return st_open(copy, size, name, out, err);
}

ntg_status ntg__st_load(const char *path, ntg_st_file **out, ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__st_load: out is NULL");
    *out = NULL;
    if (!path) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__st_load: path is NULL");
    char *bytes;
    size_t size;
    ntg_status st = ntg__file_read(path, 0, &bytes, &size, err);
    if (st) return st;
    return st_open((unsigned char *)bytes, size, path, out, err);
}

/* ------------------------------------------------------------------ writer */

static int cstr_order(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* The first string that appears twice among v[0..n) (which gets sorted), or NULL. */
static const char *first_duplicate(const char **v, size_t n)
{
    qsort(v, n, sizeof *v, cstr_order);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0) return v[i];
    return NULL;
}

static ntg_status st_check_out(const char *path, const ntg_st_out *t, size_t n,
                               const char *const *meta, size_t n_meta, uint64_t *nbytes,
                               ntg_error *err)
{
    char sb[200];
    for (size_t i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name)
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0, "tensor %zu has no name", i);
        if (!ntg__utf8_valid(name, strlen(name)))
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                            "tensor name " NAMEF " is not valid UTF-8", NAMEA(name));
        if (strcmp(name, "__metadata__") == 0)
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                            "'__metadata__' is reserved and cannot name a tensor");
        int ds = ntg__st_dtype_size(t[i].dtype);
        if (!ds)
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                            "tensor " NAMEF ": unknown dtype '%.20s'", NAMEA(name),
                            t[i].dtype ? t[i].dtype : "(null)");
        if (t[i].rank < 0 || t[i].rank > ST_MAX_RANK || (t[i].rank && !t[i].shape))
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                            "tensor " NAMEF ": rank %d is not in 0..%d or has no shape",
                            NAMEA(name), t[i].rank, ST_MAX_RANK);
        for (int d = 0; d < t[i].rank; d++)
            if (t[i].shape[d] < 0)
                return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                                "tensor " NAMEF ": negative dimension in shape %s", NAMEA(name),
                                shape_str(t[i].shape, t[i].rank, sb, sizeof sb));
        if (st_nbytes(t[i].shape, t[i].rank, ds, &nbytes[i]) || nbytes[i] > SIZE_MAX / 2)
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                            "tensor " NAMEF ": shape %s of %s is too large", NAMEA(name),
                            shape_str(t[i].shape, t[i].rank, sb, sizeof sb), t[i].dtype);
        if (nbytes[i] && !t[i].data)
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0, "tensor " NAMEF ": data is NULL",
                            NAMEA(name));
    }
    for (size_t i = 0; i < 2 * n_meta; i++) {
        const char *what = i % 2 ? "value" : "key";
        if (!meta[i])
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0, "metadata %s %zu is NULL", what,
                            i / 2);
        if (!ntg__utf8_valid(meta[i], strlen(meta[i])))
            return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                            "metadata %s %zu is not valid UTF-8", what, i / 2);
    }
    size_t most = n > n_meta ? n : n_meta;
    const char **v = malloc((most ? most : 1) * sizeof *v);
    if (!v) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) v[i] = t[i].name;
    const char *dup = first_duplicate(v, n);
    if (dup) {
        ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0, "tensor name " NAMEF " appears twice",
                 NAMEA(dup));
        free(v);
        return NTG_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < n_meta; i++) v[i] = meta[2 * i];
    dup = first_duplicate(v, n_meta);
    if (dup) {
        ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0, "metadata key " NAMEF " appears twice",
                 NAMEA(dup));
        free(v);
        return NTG_ERR_INVALID_ARG;
    }
    free(v);
    return NTG_OK;
}

/* The JSON header, padded with spaces to a multiple of 8, in malloc'ed memory. */
static ntg_status st_header(const char *path, const ntg_st_out *t, size_t n,
                            const char *const *meta, size_t n_meta, const uint64_t *nbytes,
                            char **out, size_t *len, ntg_error *err)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    fputc('{', f);
    if (n_meta) {
        fputs("\"__metadata__\":{", f);
        for (size_t i = 0; i < n_meta; i++) {
            if (i) fputc(',', f);
            ntg__json_put_string(f, meta[2 * i]);
            fputc(':', f);
            ntg__json_put_string(f, meta[2 * i + 1]);
        }
        fputc('}', f);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (i || n_meta) fputc(',', f);
        ntg__json_put_string(f, t[i].name);
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
        for (int d = 0; d < t[i].rank; d++) fprintf(f, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
        fprintf(f, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + nbytes[i]);
        off += nbytes[i];
    }
    fputc('}', f);
    fflush(f);
    while (size % 8) {
        fputc(' ', f);
        fflush(f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (size > ST_MAX_HEADER) {
        free(buf);
        return ntg__err(err, NTG_ERR_INVALID_ARG, path, 0, 0,
                        "the header would be %zu bytes, above the format's limit of %u", size,
                        ST_MAX_HEADER);
    }
    *out = buf;
    *len = size;
    return NTG_OK;
}

ntg_status ntg__st_write(const char *path, const ntg_st_out *t, size_t n, const char *const *meta,
                         size_t n_meta, ntg_error *err)
{
    if (!path) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__st_write: path is NULL");
    if ((n && !t) || (n_meta && !meta))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__st_write: tensors or metadata are NULL");
    uint64_t *nbytes = malloc((n ? n : 1) * sizeof *nbytes);
    ntg_span *parts = n <= SIZE_MAX / sizeof *parts - 2 ? malloc((n + 2) * sizeof *parts) : NULL;
    if (!nbytes || !parts) {
        free(nbytes);
        free(parts);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    char *header = NULL;
    size_t hlen = 0;
    ntg_status st = st_check_out(path, t, n, meta, n_meta, nbytes, err);
    if (!st) st = st_header(path, t, n, meta, n_meta, nbytes, &header, &hlen, err);
    if (!st) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        parts[0] = (ntg_span){len8, 8};
        parts[1] = (ntg_span){header, hlen};
        for (size_t i = 0; i < n; i++) parts[2 + i] = (ntg_span){t[i].data, (size_t)nbytes[i]};
        st = ntg__file_replace(path, parts, n + 2, err);
    }
    free(header);
    free(parts);
    free(nbytes);
    return st;
}
