/* plan_load.c — plan.bin v1 loader: validates every byte before use; the ntg_plan_* queries. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef MAP_POPULATE
#define NTG_MAP_POPULATE MAP_POPULATE
#else
#define NTG_MAP_POPULATE 0
#endif
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "error.h"
#include "plan_int.h"
#include "pool.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "plan.bin is little-endian and read in place; big-endian hosts are not supported"
#endif

#define MEMORY_NAME "<memory>"
#define NAME_FMT "%.200s" /* names in messages: long enough to read, short enough to fit */

/* Record size of each known section (1: a byte section). */
static const uint32_t rec_size[NTG_SEC_MAX + 1] = {0, 64, 1, 8, 64, 32, 4, 8, 40, 4, 1};
static const char *const sec_names[NTG_SEC_MAX + 1] = {"",         "info",    "strings",  "meta",
                                                       "tensors",  "ops",     "operands", "attrs",
                                                       "programs", "indices", "weights"};
static const char *const storage_names[NTG_STORE_COUNT] = {"no", "arena", "weights", "state"};

_Static_assert(sizeof(ntg_meta_rec) == 8, "meta record is 8 bytes");

/* A strict upper bound on the per-session storages: beyond it a plan is surely corrupt. */
#define STORAGE_LIMIT (1ull << 40)
/* How far a declared arena or state size may pass its last tensor (rounded to 64). */
#define STORAGE_SLACK 4096ull
#define MAX_BATCH_LIMIT (1u << 20)
#define MAX_SECTIONS 64u

typedef struct vctx {
    const uint8_t *base;
    size_t size;
    const char *where;
    ntg_error *err;
    ntg_plan_image *img;
    uint8_t *op_writes_weights; /* per op: an in-place op that writes WEIGHTS storage */
} vctx;

static ntg_status bad_st(const vctx *v, ntg_status st, const char *fmt, ...) NTG_PRINTF(3, 4);
static ntg_status bad_st(const vctx *v, ntg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(v->err, st, v->where, 0, 0, fmt, ap);
    va_end(ap);
    return st;
}
#define BAD(...) bad_st(v, NTG_ERR_PLAN, __VA_ARGS__)

typedef unsigned long long ull;

/* "section 'tensors'" or "section of kind 42". */
static const char *sec_label(uint32_t kind, char *buf, size_t cap)
{
    if (kind >= 1 && kind <= NTG_SEC_MAX)
        return ntg__strfmt(buf, cap, "section '%s'", sec_names[kind]);
    return ntg__strfmt(buf, cap, "section of kind %u", kind);
}

static const char *dtype_name(unsigned dt)
{
    return dt == NTG_DTYPE_F32 ? "float32" : dt == NTG_DTYPE_I32 ? "int32" : "?";
}

static int all_zero(const uint8_t *p, uint64_t n, uint64_t *first)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i]) {
            *first = i;
            return 0;
        }
    return 1;
}

static const ntg_plan_section *section_table(const vctx *v)
{
    return (const ntg_plan_section *)(const void *)(v->base + sizeof(ntg_plan_header));
}

/* ------------------------------------------------------------ header, table */

/* A file shorter than its header says: name the first section that lost bytes. */
static ntg_status truncated(const vctx *v, const ntg_plan_header *h)
{
    char what[160] = "";
    uint64_t n = h->section_count;
    if (h->section_table == sizeof *h && n <= MAX_SECTIONS) {
        uint64_t table_end = sizeof *h + n * sizeof(ntg_plan_section);
        if (table_end > v->size) {
            ntg__strfmt(what, sizeof what, "; the section table is cut (it ends at byte %llu)",
                        (ull)table_end);
        } else {
            const ntg_plan_section *t = section_table(v);
            for (uint64_t i = 0; i < n; i++) {
                if (t[i].offset > UINT64_MAX - t[i].bytes) continue;
                if (t[i].offset + t[i].bytes <= v->size) continue;
                char lb[64];
                ntg__strfmt(what, sizeof what, "; %s is cut (it spans bytes %llu..%llu)",
                            sec_label(t[i].kind, lb, sizeof lb), (ull)t[i].offset,
                            (ull)(t[i].offset + t[i].bytes));
                break;
            }
        }
    }
    return BAD("header: file is truncated: %zu of %llu bytes%s", v->size, (ull)h->file_bytes, what);
}

static ntg_status check_header(const vctx *v, uint32_t *n_sections)
{
    if (v->size < sizeof(ntg_plan_header))
        return BAD("header: file is %zu bytes, shorter than the %zu-byte header", v->size,
                   sizeof(ntg_plan_header));
    const ntg_plan_header *h = (const ntg_plan_header *)(const void *)v->base;
    if (memcmp(h->magic, NTG_PLAN_MAGIC, sizeof h->magic) != 0)
        return BAD("header: not a plan file (the magic is not \"%s\")", NTG_PLAN_MAGIC);
    if (h->version_major != NTG_PLAN_VERSION_MAJOR)
        return bad_st(v, NTG_ERR_VERSION, "plan format version %u.%u; this ntgraph reads %d.x",
                      h->version_major, h->version_minor, NTG_PLAN_VERSION_MAJOR);
    if (h->header_bytes != sizeof *h)
        return BAD("header: header_bytes is %u, expected %zu", h->header_bytes, sizeof *h);
    uint32_t crc = ntg__crc32c(0, v->base, offsetof(ntg_plan_header, header_crc));
    if (crc != h->header_crc)
        return BAD("header: CRC32C mismatch (stored 0x%08x, computed 0x%08x)", h->header_crc, crc);
    if (h->flags != 0) return BAD("header: unknown flags 0x%x", h->flags);
    if (h->file_bytes > v->size) return truncated(v, h);
    if (h->file_bytes < v->size)
        return BAD("header: file is %zu bytes, but the header says %llu (trailing bytes)", v->size,
                   (ull)h->file_bytes);
    if (h->section_table != sizeof *h)
        return BAD("section table: at offset %llu, expected %zu", (ull)h->section_table, sizeof *h);
    if (h->section_count > MAX_SECTIONS)
        return BAD("section table: %u sections, at most %u", h->section_count, MAX_SECTIONS);
    uint64_t table_end = sizeof *h + (uint64_t)h->section_count * sizeof(ntg_plan_section);
    if (table_end > v->size)
        return BAD("section table: %u entries end at byte %llu, past the end of the file "
                   "(%zu bytes)",
                   h->section_count, (ull)table_end, v->size);
    *n_sections = h->section_count;
    return NTG_OK;
}

/* Bounds, order, padding, CRC and record count of every section; the known ones are
 * collected into `found` (indexed by kind). */
static ntg_status check_sections(const vctx *v, uint32_t n,
                                 const ntg_plan_section *found[NTG_SEC_MAX + 1])
{
    const ntg_plan_section *t = section_table(v);
    uint64_t table_end = sizeof(ntg_plan_header) + (uint64_t)n * sizeof(ntg_plan_section);
    uint64_t prev_end = table_end, first;
    uint32_t prev_kind = 0;
    char lb[64];
    for (uint32_t i = 0; i < n; i++) {
        const ntg_plan_section *s = &t[i];
        const char *name = sec_label(s->kind, lb, sizeof lb);
        if (s->kind == 0) return BAD("section table: entry %u has kind 0", i);
        if (s->kind <= prev_kind)
            return BAD("section table: %s (entry %u) follows kind %u; kinds must ascend, each "
                       "at most once",
                       name, i, prev_kind);
        if (s->flags != 0) return BAD("%s: unknown flags 0x%x", name, s->flags);
        if (s->offset % NTG_PLAN_ALIGN != 0)
            return BAD("%s: offset %llu is not a multiple of %d", name, (ull)s->offset,
                       NTG_PLAN_ALIGN);
        if (s->offset < table_end)
            return BAD("%s: offset %llu lies inside the header and section table (which end "
                       "at byte %llu)",
                       name, (ull)s->offset, (ull)table_end);
        if (s->offset < prev_end)
            return BAD("%s: offset %llu overlaps the previous section, which ends at byte %llu",
                       name, (ull)s->offset, (ull)prev_end);
        if (s->offset > v->size || s->bytes > v->size - s->offset)
            return BAD("%s: %llu + %llu bytes run past the end of the file (%zu bytes)", name,
                       (ull)s->offset, (ull)s->bytes, v->size);
        /* padding is zero so that every byte of a file is covered by a CRC or a check */
        if (!all_zero(v->base + prev_end, s->offset - prev_end, &first))
            return BAD("%s: non-zero padding before the section (byte %llu)", name,
                       (ull)(prev_end + first));
        uint32_t crc = ntg__crc32c(0, v->base + s->offset, (size_t)s->bytes);
        if (crc != s->crc)
            return BAD("%s: CRC32C mismatch (stored 0x%08x, computed 0x%08x)", name, s->crc, crc);
        if (s->kind <= NTG_SEC_MAX) {
            uint32_t rs = rec_size[s->kind];
            if (s->kind == NTG_SEC_INFO) {
                if (s->bytes != sizeof(ntg_plan_info) || s->count != 1)
                    return BAD("%s: %llu bytes in %u records, expected one record of %zu bytes",
                               name, (ull)s->bytes, s->count, sizeof(ntg_plan_info));
            } else if (rs == 1) {
                uint32_t want = s->bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)s->bytes;
                if (s->count != want)
                    return BAD("%s: count is %u but the section has %llu bytes", name, s->count,
                               (ull)s->bytes);
            } else if (s->bytes != (uint64_t)s->count * rs) {
                return BAD("%s: %llu bytes do not hold %u records of %u bytes", name, (ull)s->bytes,
                           s->count, rs);
            }
            found[s->kind] = s;
        }
        prev_end = s->offset + s->bytes;
        prev_kind = s->kind;
    }
    if (!all_zero(v->base + prev_end, v->size - prev_end, &first))
        return BAD("section table: non-zero bytes after the last section (byte %llu)",
                   (ull)(prev_end + first));
    static const uint32_t required[] = {NTG_SEC_INFO,     NTG_SEC_STRINGS,  NTG_SEC_TENSORS,
                                        NTG_SEC_OPS,      NTG_SEC_OPERANDS, NTG_SEC_ATTRS,
                                        NTG_SEC_PROGRAMS, NTG_SEC_INDICES};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!found[required[i]]) return BAD("section '%s' is missing", sec_names[required[i]]);
    return NTG_OK;
}

/* Views into the bytes; an empty section gives NULL. */
static const void *sec_data(const vctx *v, const ntg_plan_section *s)
{
    return s && s->bytes ? v->base + s->offset : NULL;
}

static uint32_t sec_count(const ntg_plan_section *s)
{
    return s ? s->count : 0;
}

/* ------------------------------------------------------------ info, strings */

static ntg_status check_strings(const vctx *v)
{
    const ntg_plan_image *img = v->img;
    if (img->strings_bytes == 0)
        return BAD("section 'strings': empty (it needs at least the empty string at offset 0)");
    if (img->strings[0] != '\0')
        return BAD("section 'strings': byte 0 is not NUL (offset 0 must be the empty string)");
    if (img->strings[img->strings_bytes - 1] != '\0')
        return BAD("section 'strings': the last string is unterminated (the table does not end "
                   "with a NUL byte)");
    return NTG_OK;
}

static ntg_status check_info(const vctx *v)
{
    const ntg_plan_info *in = &v->img->info;
    if (in->max_batch < 1 || in->max_batch > MAX_BATCH_LIMIT)
        return BAD("section 'info': max_batch %u is outside [1, %u]", in->max_batch,
                   MAX_BATCH_LIMIT);
    if (in->storage_bytes[NTG_STORE_NONE] != 0)
        return BAD("section 'info': storage_bytes[0] is %llu; storage 0 holds no memory",
                   (ull)in->storage_bytes[NTG_STORE_NONE]);
    if (in->storage_bytes[NTG_STORE_WEIGHTS] != v->img->weights_bytes)
        return BAD("section 'info': weights storage is %llu bytes, but section 'weights' has "
                   "%llu",
                   (ull)in->storage_bytes[NTG_STORE_WEIGHTS], (ull)v->img->weights_bytes);
    if (in->storage_bytes[NTG_STORE_ARENA] >= STORAGE_LIMIT)
        return BAD("section 'info': arena of %llu bytes is not below 2^40",
                   (ull)in->storage_bytes[NTG_STORE_ARENA]);
    if (in->storage_bytes[NTG_STORE_STATE] >= STORAGE_LIMIT)
        return BAD("section 'info': state storage of %llu bytes is not below 2^40",
                   (ull)in->storage_bytes[NTG_STORE_STATE]);
    return NTG_OK;
}

/* -------------------------------------------------------------------- tensors */

static ntg_status check_tensor(const vctx *v, uint32_t i, ntg_strmap *names)
{
    const ntg_plan_image *img = v->img;
    const ntg_tensor_rec *t = &img->tensors[i];
    if (t->name >= img->strings_bytes)
        return BAD("section 'tensors': tensor %u: name offset %u is outside the string table "
                   "(%llu bytes)",
                   i, t->name, (ull)img->strings_bytes);
    const char *name = img->strings + t->name;
    if (!*name) return BAD("section 'tensors': tensor %u has no name", i);
    char pre[256];
    ntg__strfmt(pre, sizeof pre, "section 'tensors': tensor %u '" NAME_FMT "'", i, name);

    if (t->dtype != NTG_DTYPE_F32 && t->dtype != NTG_DTYPE_I32)
        return BAD("%s: unknown dtype %u", pre, t->dtype);
    if (t->rank > NTG_MAX_RANK) return BAD("%s: rank %u exceeds %d", pre, t->rank, NTG_MAX_RANK);
    if (t->flags & ~NTG_TF_BATCHED)
        return BAD("%s: unknown flags 0x%x", pre, t->flags & ~NTG_TF_BATCHED);
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] < 1 || t->dims[d] > INT32_MAX)
            return BAD("%s: dimension %d is %u; dimensions must be in [1, 2^31)", pre, d,
                       t->dims[d]);
    if (t->flags & NTG_TF_BATCHED) {
        if (t->rank < 1) return BAD("%s: batched but of rank 0", pre);
        if (t->dims[0] != img->info.max_batch)
            return BAD("%s: batched but dimension 0 is %u, not max_batch %u", pre, t->dims[0],
                       img->info.max_batch);
    }
    if (t->role > NTG_ROLE_LOSS) return BAD("%s: unknown role %u", pre, t->role);
    if (t->storage >= NTG_STORE_COUNT) return BAD("%s: unknown storage %u", pre, t->storage);

    uint64_t numel = 1;
    for (int d = 0; d < t->rank; d++) {
        if (numel > UINT64_MAX / t->dims[d])
            return BAD("%s: the element count of its shape overflows", pre);
        numel *= t->dims[d];
    }
    if (numel > UINT64_MAX / 4) return BAD("%s: the byte size of its shape overflows", pre);
    if (t->nbytes != numel * 4) {
        ntg_tdesc d;
        char sb[96];
        ntg__tdesc_from_rec(t, &d);
        return BAD("%s: nbytes is %llu, but %s %s needs %llu", pre, (ull)t->nbytes,
                   dtype_name(t->dtype), ntg__tdesc_str(&d, sb, sizeof sb), (ull)(numel * 4));
    }
    if (t->offset % NTG_PLAN_ALIGN != 0)
        return BAD("%s: offset %llu is not a multiple of %d", pre, (ull)t->offset, NTG_PLAN_ALIGN);
    if (t->storage == NTG_STORE_NONE) {
        if (t->offset != 0) return BAD("%s: has no storage but offset %llu", pre, (ull)t->offset);
    } else {
        uint64_t cap = img->info.storage_bytes[t->storage];
        if (t->offset > cap || t->nbytes > cap - t->offset)
            return BAD("%s: offset %llu + %llu bytes exceeds %s storage (%llu bytes)", pre,
                       (ull)t->offset, (ull)t->nbytes, storage_names[t->storage], (ull)cap);
    }
    int in_weights = t->storage == NTG_STORE_WEIGHTS;
    int stored = t->role == NTG_ROLE_PARAM || t->role == NTG_ROLE_CONST;
    if (stored && !in_weights)
        return BAD("%s: a %s must live in weights storage, not %s storage", pre,
                   t->role == NTG_ROLE_PARAM ? "parameter" : "constant", storage_names[t->storage]);
    if (in_weights && !stored)
        return BAD("%s: only parameters and constants live in weights storage", pre);
    if (t->link != NTG_NONE && t->link >= img->n_tensors)
        return BAD("%s: link %u is not a tensor id (the plan has %u tensors)", pre, t->link,
                   img->n_tensors);
    unsigned other;
    if (ntg__strmap_get(names, name, &other))
        return BAD("%s: duplicate name (also tensor %u)", pre, other);
    if (ntg__strmap_put(names, name, i))
        return bad_st(v, NTG_ERR_NOMEM, "section 'tensors': out of memory");
    return NTG_OK;
}

static ntg_status check_tensors(const vctx *v)
{
    const ntg_plan_image *img = v->img;
    ntg_strmap names;
    ntg__strmap_init(&names);
    ntg_status st = NTG_OK;
    uint32_t n_params = 0;
    uint64_t elements = 0, end[NTG_STORE_COUNT] = {0};
    for (uint32_t i = 0; i < img->n_tensors && st == NTG_OK; i++) {
        st = check_tensor(v, i, &names);
        const ntg_tensor_rec *t = &img->tensors[i];
        if (st == NTG_OK && t->role == NTG_ROLE_PARAM) {
            n_params++;
            elements += t->nbytes / 4; /* below 2^62 each, the sum cannot wrap */
        }
        /* checked above: offset + nbytes lies within the storage, below 2^40 */
        if (st == NTG_OK && t->offset + t->nbytes > end[t->storage])
            end[t->storage] = t->offset + t->nbytes;
    }
    ntg__strmap_free(&names);
    if (st != NTG_OK) return st;
    /* The arena and the state are allocated at their declared sizes when a session is
     * made, so a declared size far past what the tensors use is a way to make a small
     * file cost gigabytes: it may exceed the end of the last tensor in it, rounded up to
     * 64 bytes, by at most STORAGE_SLACK (docs/plan-format.md). */
    for (int sto = NTG_STORE_ARENA; sto < NTG_STORE_COUNT; sto++) {
        if (sto == NTG_STORE_WEIGHTS) continue; /* equals the section's size, checked */
        uint64_t need = (end[sto] + (NTG_PLAN_ALIGN - 1)) & ~(uint64_t)(NTG_PLAN_ALIGN - 1);
        if (img->info.storage_bytes[sto] > need + STORAGE_SLACK)
            return BAD("section 'info': %s storage is declared as %llu bytes, but its tensors "
                       "use %llu (at most %llu more is allowed)",
                       storage_names[sto], (ull)img->info.storage_bytes[sto], (ull)need,
                       (ull)STORAGE_SLACK);
    }
    if (img->info.n_params != n_params)
        return BAD("section 'info': n_params is %u, but %u tensors are parameters",
                   img->info.n_params, n_params);
    if (img->info.param_elements != elements)
        return BAD("section 'info': param_elements is %llu, but the parameters hold %llu",
                   (ull)img->info.param_elements, (ull)elements);
    return NTG_OK;
}

/* ------------------------------------------------------------------------ ops */

typedef struct op_scratch {
    ntg_tdesc *in;  /* max_in entries */
    ntg_tdesc *out; /* max_out entries */
} op_scratch;

static const char *tensor_name(const ntg_plan_image *img, uint32_t id)
{
    return img->strings + img->tensors[id].name;
}

/* "input 1", "output 0"; for backward records the operand's place in the forward op. */
static const char *operand_label(const ntg_op_rec *op, uint32_t j, char *buf, size_t cap)
{
    if (op->dir == NTG_DIR_FWD) {
        if (j < op->n_in) return ntg__strfmt(buf, cap, "input %u", j);
        return ntg__strfmt(buf, cap, "output %u", j - op->n_in);
    }
    uint32_t nfi = (uint32_t)ntg__bwd_nfi(op), nfo = (uint32_t)ntg__bwd_nfo(op);
    if (j < nfi) return ntg__strfmt(buf, cap, "forward input %u", j);
    if (j < nfi + nfo) return ntg__strfmt(buf, cap, "forward output %u", j - nfi);
    if (j < op->n_in) return ntg__strfmt(buf, cap, "gradient of forward output %u", j - nfi - nfo);
    return ntg__strfmt(buf, cap, "gradient of forward input %u", j - op->n_in);
}

static int overlaps(const ntg_tensor_rec *a, const ntg_tensor_rec *b)
{
    if (a->storage != b->storage || a->storage == NTG_STORE_NONE) return 0;
    return a->offset < b->offset + b->nbytes && b->offset < a->offset + a->nbytes;
}

static ntg_status check_counts(const vctx *v, const char *pre, const ntg_op_rec *op,
                               const ntg_op_info *info)
{
    const char *opn = info->cls->name;
    if (op->dir == NTG_DIR_FWD) {
        if (op->n_in < info->n_in_min || op->n_in > info->n_in_max)
            return BAD("%s: has %u inputs; '%s' takes %d to %d", pre, op->n_in, opn, info->n_in_min,
                       info->n_in_max);
        if (op->n_out < info->n_out_min || op->n_out > info->n_out_max)
            return BAD("%s: has %u outputs; '%s' gives %d to %d", pre, op->n_out, opn,
                       info->n_out_min, info->n_out_max);
        return NTG_OK;
    }
    if (op->n_out < info->n_in_min || op->n_out > info->n_in_max)
        return BAD("%s: backward record has %u outputs (gradients of the forward inputs); '%s' "
                   "takes %d to %d inputs",
                   pre, op->n_out, opn, info->n_in_min, info->n_in_max);
    if (op->n_in < op->n_out || (op->n_in - op->n_out) % 2 != 0)
        return BAD("%s: backward record has %u inputs for %u forward inputs; it needs the "
                   "forward inputs, the forward outputs and their gradients",
                   pre, op->n_in, op->n_out);
    int nfo = ntg__bwd_nfo(op);
    if (nfo < info->n_out_min || nfo > info->n_out_max)
        return BAD("%s: backward record implies %d forward outputs; '%s' gives %d to %d", pre, nfo,
                   opn, info->n_out_min, info->n_out_max);
    return NTG_OK;
}

/* Is operand j's data read or written when the op runs?  Backward records pass forward
 * values they do not save without data, so those may share memory with the outputs. */
static int operand_used(const ntg_op_rec *op, uint32_t j)
{
    if (op->dir == NTG_DIR_FWD) return 1;
    uint32_t nfi = (uint32_t)ntg__bwd_nfi(op), nfo = (uint32_t)ntg__bwd_nfo(op);
    if (j < nfi) return j < 16 && (op->saved >> j) & 1u;
    if (j < nfi + nfo) return j - nfi < 16 && (op->saved >> (16 + j - nfi)) & 1u;
    return 1;
}

static ntg_status check_shapes(const vctx *v, const char *pre, const ntg_op_rec *op,
                               const ntg_op_info *info, const ntg_attr *attr, const uint32_t *ids,
                               op_scratch *sc)
{
    const ntg_plan_image *img = v->img;
    const ntg_op_class *cls = info->cls;
    int bwd = op->dir == NTG_DIR_BWD;
    uint32_t nfi = bwd ? (uint32_t)ntg__bwd_nfi(op) : op->n_in;
    uint32_t nfo = bwd ? (uint32_t)ntg__bwd_nfo(op) : op->n_out;
    char sb[2][96], lb[64];
    if (!cls->infer) return BAD("%s: op '%s' has no shape rule", pre, cls->name);
    for (uint32_t j = 0; j < nfi; j++) ntg__tdesc_from_rec(&img->tensors[ids[j]], &sc->in[j]);
    memset(sc->out, 0, nfo * sizeof *sc->out);
    ntg_opsig sig = {attr, op->n_attr, (int)nfi, sc->in, (int)nfo};
    char msg[512] = "";
    if (cls->infer(&sig, sc->out, msg, sizeof msg) != 0)
        return BAD("%s: %s", pre, msg[0] ? msg : "its shape rule refuses the inputs");
    /* forward outputs (operands nfi.. of either record) */
    for (uint32_t k = 0; k < nfo; k++) {
        uint32_t j = nfi + k;
        ntg_tdesc d;
        ntg__tdesc_from_rec(&img->tensors[ids[j]], &d);
        if (!ntg__tdesc_equal(&d, &sc->out[k]))
            return BAD("%s: %s '" NAME_FMT "' is %s %s, but the shape rule gives %s %s", pre,
                       operand_label(op, j, lb, sizeof lb), tensor_name(img, ids[j]),
                       dtype_name(d.dtype), ntg__tdesc_str(&d, sb[0], sizeof sb[0]),
                       dtype_name(sc->out[k].dtype),
                       ntg__tdesc_str(&sc->out[k], sb[1], sizeof sb[1]));
    }
    if (!bwd) return NTG_OK;
    /* each gradient has exactly its forward value's description */
    for (uint32_t j = nfi + nfo; j < (uint32_t)op->n_in + op->n_out; j++) {
        if (ids[j] == NTG_NONE) continue;
        uint32_t fwd = j < op->n_in ? j - nfo : j - op->n_in;
        const ntg_tdesc *want = fwd < nfi ? &sc->in[fwd] : &sc->out[fwd - nfi];
        ntg_tdesc d;
        ntg__tdesc_from_rec(&img->tensors[ids[j]], &d);
        if (!ntg__tdesc_equal(&d, want))
            return BAD("%s: %s '" NAME_FMT "' is %s %s, but its forward value is %s %s", pre,
                       operand_label(op, j, lb, sizeof lb), tensor_name(img, ids[j]),
                       dtype_name(d.dtype), ntg__tdesc_str(&d, sb[0], sizeof sb[0]),
                       dtype_name(want->dtype), ntg__tdesc_str(want, sb[1], sizeof sb[1]));
    }
    uint32_t need;
    if (cls->bwd_saves) {
        need = cls->bwd_saves(&sig);
    } else {
        need = 0;
        for (uint32_t j = 0; j < nfi && j < 16; j++) need |= 1u << j;
        for (uint32_t k = 0; k < nfo && k < 16; k++) need |= 1u << (16 + k);
    }
    if (need & ~op->saved)
        return BAD("%s: backward record keeps forward values 0x%x, but its kernel reads 0x%x", pre,
                   op->saved, need);
    return NTG_OK;
}

static ntg_status check_op(const vctx *v, uint32_t i, op_scratch *sc)
{
    const ntg_plan_image *img = v->img;
    const ntg_op_rec *op = &img->ops[i];
    const ntg_op_info *info = ntg__op_info(op->code);
    char pre[320], lb[64], lb2[64];
    if (!info)
        return BAD("section 'ops': op %u: unknown op code %u (this ntgraph knows %d ops)", i,
                   op->code, NTG_OP_COUNT);
    const ntg_op_class *cls = info->cls;
    if (op->loc >= img->strings_bytes)
        return BAD("section 'ops': op %u '%s': location offset %u is outside the string table "
                   "(%llu bytes)",
                   i, cls->name, op->loc, (ull)img->strings_bytes);
    const char *loc = img->strings + op->loc;
    if (*loc)
        ntg__strfmt(pre, sizeof pre, "section 'ops': op %u '%s'%s (" NAME_FMT ")", i, cls->name,
                    op->dir == NTG_DIR_BWD ? " backward" : "", loc);
    else
        ntg__strfmt(pre, sizeof pre, "section 'ops': op %u '%s'%s", i, cls->name,
                    op->dir == NTG_DIR_BWD ? " backward" : "");
    if (op->dir != NTG_DIR_FWD && op->dir != NTG_DIR_BWD)
        return BAD("%s: direction %u is neither 0 (forward) nor 1 (backward)", pre, op->dir);
    if (op->dir == NTG_DIR_BWD && !info->differentiable)
        return BAD("%s: '%s' has no gradient, so it cannot have a backward record", pre, cls->name);
    if (op->flags != 0) return BAD("%s: unknown flags 0x%x", pre, op->flags);

    uint64_t n_opnd = (uint64_t)op->n_in + op->n_out;
    if ((uint64_t)op->operands + n_opnd > img->n_operands)
        return BAD("%s: operands %u..%llu lie outside section 'operands' (%u entries)", pre,
                   op->operands, (ull)(op->operands + n_opnd), img->n_operands);
    ntg_status st = check_counts(v, pre, op, info);
    if (st != NTG_OK) return st;

    if ((uint64_t)op->attrs + op->n_attr > img->n_attrs)
        return BAD("%s: attribute slots %u..%llu lie outside section 'attrs' (%u slots)", pre,
                   op->attrs, (ull)((uint64_t)op->attrs + op->n_attr), img->n_attrs);
    /* a static dummy keeps "no slots" from becoming NULL + 0 */
    static const ntg_attr no_attrs[1];
    const ntg_attr *attr = op->n_attr ? img->attrs + op->attrs : no_attrs;
    char msg[512] = "";
    if (ntg__attr_check(cls, attr, op->n_attr, msg, sizeof msg) != 0)
        return BAD("%s: %s", pre, msg);

    const uint32_t *ids = n_opnd ? img->operands + op->operands : NULL;
    int bwd = op->dir == NTG_DIR_BWD;
    uint32_t nfi = bwd ? (uint32_t)ntg__bwd_nfi(op) : op->n_in;
    uint32_t nfo = bwd ? (uint32_t)ntg__bwd_nfo(op) : op->n_out;
    for (uint32_t j = 0; j < n_opnd; j++) {
        uint32_t id = ids[j];
        if (id == NTG_NONE) {
            if (bwd && j >= nfi + nfo) continue;
            return BAD("%s: operand %u (%s) is absent; only gradients may be", pre, j,
                       operand_label(op, j, lb, sizeof lb));
        }
        if (id >= img->n_tensors)
            return BAD("%s: operand %u (%s) is tensor id %u; the plan has %u tensors", pre, j,
                       operand_label(op, j, lb, sizeof lb), id, img->n_tensors);
        if (operand_used(op, j) && img->tensors[id].storage == NTG_STORE_NONE)
            return BAD("%s: %s '" NAME_FMT "' has no storage, but the op reads or writes it", pre,
                       operand_label(op, j, lb, sizeof lb), tensor_name(img, id));
    }

    st = check_shapes(v, pre, op, info, attr, ids, sc);
    if (st != NTG_OK) return st;

    /* memory: outputs are written while inputs are read */
    int inplace = (cls->flags & NTG_OPF_INPLACE) != 0;
    for (uint32_t k = op->n_in; k < n_opnd; k++) {
        if (ids[k] == NTG_NONE) continue;
        const ntg_tensor_rec *o = &img->tensors[ids[k]];
        if (o->storage == NTG_STORE_WEIGHTS) {
            if (bwd || !inplace)
                return BAD("%s: %s '" NAME_FMT "' lives in weights storage, which only in-place "
                           "(optimizer) ops write",
                           pre, operand_label(op, k, lb, sizeof lb), tensor_name(img, ids[k]));
            v->op_writes_weights[i] = 1;
        }
        for (uint32_t j = 0; j < k; j++) {
            if (ids[j] == NTG_NONE || !operand_used(op, j)) continue;
            if (j < op->n_in && inplace) continue;
            const ntg_tensor_rec *a = &img->tensors[ids[j]];
            if (!overlaps(o, a)) continue;
            return BAD("%s: %s '" NAME_FMT "' overlaps %s '" NAME_FMT "' in %s storage (bytes "
                       "%llu..%llu and %llu..%llu)",
                       pre, operand_label(op, k, lb, sizeof lb), tensor_name(img, ids[k]),
                       operand_label(op, j, lb2, sizeof lb2), tensor_name(img, ids[j]),
                       storage_names[o->storage], (ull)o->offset, (ull)(o->offset + o->nbytes),
                       (ull)a->offset, (ull)(a->offset + a->nbytes));
        }
    }
    return NTG_OK;
}

static ntg_status check_ops(const vctx *v)
{
    int max_in = 1, max_out = 1;
    for (uint32_t c = 0; c < NTG_OP_COUNT; c++) {
        const ntg_op_info *info = ntg__op_info(c);
        if (info->n_in_max > max_in) max_in = info->n_in_max;
        if (info->n_out_max > max_out) max_out = info->n_out_max;
    }
    op_scratch sc;
    sc.in = calloc((size_t)max_in, sizeof *sc.in);
    sc.out = calloc((size_t)max_out, sizeof *sc.out);
    ntg_status st = NTG_OK;
    if (!sc.in || !sc.out) st = bad_st(v, NTG_ERR_NOMEM, "section 'ops': out of memory");
    for (uint32_t i = 0; i < v->img->n_ops && st == NTG_OK; i++) st = check_op(v, i, &sc);
    free(sc.in);
    free(sc.out);
    return st;
}

/* ------------------------------------------------------------------- programs */

static ntg_status check_list(const vctx *v, const char *pre, int is_input, uint32_t first,
                             uint32_t n, uint8_t *mark)
{
    const char *what = is_input ? "input" : "output";
    const ntg_plan_image *img = v->img;
    if ((uint64_t)first + n > img->n_indices)
        return BAD("%s: its %s list %u..%llu lies outside section 'indices' (%u entries)", pre,
                   what, first, (ull)((uint64_t)first + n), img->n_indices);
    ntg_status st = NTG_OK;
    for (uint32_t j = 0; j < n && st == NTG_OK; j++) {
        uint32_t id = img->indices[first + j];
        if (id >= img->n_tensors) {
            st = BAD("%s: %s %u is tensor id %u; the plan has %u tensors", pre, what, j, id,
                     img->n_tensors);
            break;
        }
        const ntg_tensor_rec *t = &img->tensors[id];
        if (mark[id])
            st = BAD("%s: tensor '" NAME_FMT "' is listed twice among its %ss", pre,
                     tensor_name(img, id), what);
        else if (t->storage == NTG_STORE_NONE)
            st = BAD("%s: %s %u '" NAME_FMT "' has no storage", pre, what, j, tensor_name(img, id));
        else if (t->storage == NTG_STORE_WEIGHTS && is_input)
            st = BAD("%s: input %u '" NAME_FMT "' lives in weights storage, which is read-only",
                     pre, j, tensor_name(img, id));
        mark[id] = 1;
    }
    /* leave the marks clear for the next list */
    for (uint32_t j = 0; j < n; j++) {
        uint32_t id = img->indices[first + j];
        if (id < img->n_tensors) mark[id] = 0;
    }
    return st;
}

static ntg_status check_program(const vctx *v, uint32_t i, ntg_strmap *names, uint8_t *mark)
{
    const ntg_plan_image *img = v->img;
    const ntg_program_rec *p = &img->programs[i];
    if (p->name >= img->strings_bytes)
        return BAD("section 'programs': program %u: name offset %u is outside the string table "
                   "(%llu bytes)",
                   i, p->name, (ull)img->strings_bytes);
    const char *name = img->strings + p->name;
    if (!*name) return BAD("section 'programs': program %u has no name", i);
    char pre[256];
    ntg__strfmt(pre, sizeof pre, "section 'programs': program %u '" NAME_FMT "'", i, name);
    unsigned other;
    if (ntg__strmap_get(names, name, &other))
        return BAD("%s: duplicate name (also program %u)", pre, other);
    if (ntg__strmap_put(names, name, i))
        return bad_st(v, NTG_ERR_NOMEM, "section 'programs': out of memory");

    if ((uint64_t)p->ops + p->n_ops > img->n_indices)
        return BAD("%s: its op list %u..%llu lies outside section 'indices' (%u entries)", pre,
                   p->ops, (ull)((uint64_t)p->ops + p->n_ops), img->n_indices);
    int is_infer = strcmp(name, "infer") == 0;
    for (uint32_t j = 0; j < p->n_ops; j++) {
        uint32_t o = img->indices[p->ops + j];
        if (o >= img->n_ops)
            return BAD("%s: entry %u of its op list is op %u; the plan has %u ops", pre, j, o,
                       img->n_ops);
        /* inference runs on the mapped file, whose weights are read-only */
        if (is_infer && v->op_writes_weights[o])
            return BAD("%s: op %u writes weights storage, which is read-only in inference", pre, o);
    }
    ntg_status st = check_list(v, pre, 1, p->inputs, p->n_inputs, mark);
    if (st == NTG_OK) st = check_list(v, pre, 0, p->outputs, p->n_outputs, mark);
    if (st != NTG_OK) return st;
    if (p->arena_peak > img->info.storage_bytes[NTG_STORE_ARENA])
        return BAD("%s: arena_peak %llu exceeds the arena (%llu bytes)", pre, (ull)p->arena_peak,
                   (ull)img->info.storage_bytes[NTG_STORE_ARENA]);
    return NTG_OK;
}

static ntg_status check_programs(const vctx *v)
{
    const ntg_plan_image *img = v->img;
    ntg_strmap names;
    ntg__strmap_init(&names);
    uint8_t *mark = calloc(img->n_tensors ? img->n_tensors : 1, 1);
    ntg_status st = NTG_OK;
    if (!mark) st = bad_st(v, NTG_ERR_NOMEM, "section 'programs': out of memory");
    for (uint32_t i = 0; i < img->n_programs && st == NTG_OK; i++)
        st = check_program(v, i, &names, mark);
    unsigned infer;
    if (st == NTG_OK && !ntg__strmap_get(&names, "infer", &infer))
        st = BAD("section 'programs': no program named 'infer'");
    free(mark);
    ntg__strmap_free(&names);
    return st;
}

static ntg_status check_meta(const vctx *v)
{
    const ntg_plan_image *img = v->img;
    for (uint32_t i = 0; i < img->n_meta; i++) {
        const ntg_meta_rec *m = &img->meta[i];
        if (m->key >= img->strings_bytes)
            return BAD("section 'meta': entry %u: key offset %u is outside the string table "
                       "(%llu bytes)",
                       i, m->key, (ull)img->strings_bytes);
        if (m->value >= img->strings_bytes)
            return BAD("section 'meta': entry %u: value offset %u is outside the string table "
                       "(%llu bytes)",
                       i, m->value, (ull)img->strings_bytes);
    }
    return NTG_OK;
}

/* ------------------------------------------------------------------ validate */

static ntg_status validate(vctx *v)
{
    uint32_t n_sections = 0;
    ntg_status st = check_header(v, &n_sections);
    if (st != NTG_OK) return st;
    const ntg_plan_section *found[NTG_SEC_MAX + 1] = {0};
    st = check_sections(v, n_sections, found);
    if (st != NTG_OK) return st;

    ntg_plan_image *img = v->img;
    memcpy(&img->info, v->base + found[NTG_SEC_INFO]->offset, sizeof img->info);
    img->strings = sec_data(v, found[NTG_SEC_STRINGS]);
    img->strings_bytes = found[NTG_SEC_STRINGS]->bytes;
    img->meta = sec_data(v, found[NTG_SEC_META]);
    img->n_meta = sec_count(found[NTG_SEC_META]);
    img->tensors = sec_data(v, found[NTG_SEC_TENSORS]);
    img->n_tensors = sec_count(found[NTG_SEC_TENSORS]);
    img->ops = sec_data(v, found[NTG_SEC_OPS]);
    img->n_ops = sec_count(found[NTG_SEC_OPS]);
    img->operands = sec_data(v, found[NTG_SEC_OPERANDS]);
    img->n_operands = sec_count(found[NTG_SEC_OPERANDS]);
    img->attrs = sec_data(v, found[NTG_SEC_ATTRS]);
    img->n_attrs = sec_count(found[NTG_SEC_ATTRS]);
    img->programs = sec_data(v, found[NTG_SEC_PROGRAMS]);
    img->n_programs = sec_count(found[NTG_SEC_PROGRAMS]);
    img->indices = sec_data(v, found[NTG_SEC_INDICES]);
    img->n_indices = sec_count(found[NTG_SEC_INDICES]);
    img->weights = sec_data(v, found[NTG_SEC_WEIGHTS]);
    img->weights_bytes = found[NTG_SEC_WEIGHTS] ? found[NTG_SEC_WEIGHTS]->bytes : 0;

    st = check_strings(v);
    if (st == NTG_OK) st = check_info(v);
    if (st == NTG_OK) st = check_tensors(v);
    if (st == NTG_OK) {
        v->op_writes_weights = calloc(img->n_ops ? img->n_ops : 1, 1);
        if (!v->op_writes_weights) st = bad_st(v, NTG_ERR_NOMEM, "section 'ops': out of memory");
    }
    if (st == NTG_OK) st = check_ops(v);
    if (st == NTG_OK) st = check_programs(v);
    if (st == NTG_OK) st = check_meta(v);
    free(v->op_writes_weights);
    v->op_writes_weights = NULL;
    return st;
}

/* Validate p->base/p->size and build the derived tables. */
/* ------------------------------------------------------- shared backend data */

/* One entry of a plan's shared cache: `bytes` of immutable data made once by a backend. */
typedef struct shared_entry {
    struct shared_entry *next;
    char *key;
    void *mem;
    size_t bytes;
    unsigned refs;
} shared_entry;

struct ntg_plan_shared {
    pthread_mutex_t mu;
    shared_entry *head;
};

static ntg_status shared_get(void *self, const char *key, size_t bytes, ntg_shared_fill_fn fill,
                             void *ctx, void **out, ntg_error *err)
{
    struct ntg_plan_shared *c = self;
    ntg_status st = NTG_OK;
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    shared_entry *e = c->head;
    while (e && strcmp(e->key, key) != 0) e = e->next;
    if (e && e->bytes != bytes) {
        st = ntg__fail(err, NTG_ERR_INTERNAL,
                       "shared data '%s' was made with %zu bytes, asked for with %zu", key,
                       e->bytes, bytes);
    } else if (e) {
        e->refs++;
        *out = e->mem;
    } else {
        /* made under the lock: a second session preparing at the same time waits for this
         * packing instead of doing its own */
        e = calloc(1, sizeof *e);
        size_t klen = strlen(key) + 1;
        if (e) e->key = malloc(klen);
        if (e && e->key && posix_memalign(&e->mem, 64, bytes ? bytes : 64) != 0) e->mem = NULL;
        if (!e || !e->key || !e->mem) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes of shared data '%s'",
                           bytes, key);
        } else {
            memcpy(e->key, key, klen);
            e->bytes = bytes;
            st = fill ? fill(ctx, e->mem, err) : NTG_OK;
        }
        if (st) {
            if (e) {
                free(e->mem);
                free(e->key);
                free(e);
            }
        } else {
            e->refs = 1;
            e->next = c->head;
            c->head = e;
            *out = e->mem;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

static void shared_put(void *self, void *mem)
{
    struct ntg_plan_shared *c = self;
    if (!mem) return;
    pthread_mutex_lock(&c->mu);
    for (shared_entry **pe = &c->head; *pe; pe = &(*pe)->next) {
        shared_entry *e = *pe;
        if (e->mem != mem) continue;
        if (--e->refs == 0) {
            *pe = e->next;
            free(e->mem);
            free(e->key);
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
}

static ntg_status shared_init(ntg_plan *p, const char *where, ntg_error *err)
{
    p->shared = calloc(1, sizeof *p->shared);
    if (!p->shared) return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "out of memory");
    if (pthread_mutex_init(&p->shared->mu, NULL) != 0) {
        free(p->shared);
        p->shared = NULL;
        return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "cannot initialise a mutex");
    }
    p->shared_api.self = p->shared;
    p->shared_api.get = shared_get;
    p->shared_api.put = shared_put;
    p->view.shared = &p->shared_api;
    return NTG_OK;
}

/* The plan's sessions are gone (the API contract): whatever is left is freed. */
static void shared_free(ntg_plan *p)
{
    if (!p->shared) return;
    for (shared_entry *e = p->shared->head, *n; e; e = n) {
        n = e->next;
        free(e->mem);
        free(e->key);
        free(e);
    }
    pthread_mutex_destroy(&p->shared->mu);
    free(p->shared);
    p->shared = NULL;
}

static ntg_status plan_init(ntg_plan *p, const char *where, ntg_error *err)
{
    vctx v = {p->base, p->size, where, err, &p->img, NULL};
    ntg_status st = validate(&v);
    if (st != NTG_OK) return st;
    const ntg_plan_image *img = &p->img;

    p->programs = calloc(img->n_programs, sizeof *p->programs);
    p->param_ids = calloc(img->info.n_params ? img->info.n_params : 1, sizeof *p->param_ids);
    if (!p->programs || !p->param_ids)
        return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "out of memory");
    p->infer_program = -1;
    for (uint32_t i = 0; i < img->n_programs; i++) {
        const ntg_program_rec *r = &img->programs[i];
        p->programs[i].name = ntg__plan_str(p, r->name);
        p->programs[i].ops = r->n_ops ? img->indices + r->ops : NULL;
        p->programs[i].n_ops = r->n_ops;
        if (p->infer_program < 0 && strcmp(p->programs[i].name, "infer") == 0)
            p->infer_program = (int)i;
    }
    p->n_params = 0;
    for (uint32_t i = 0; i < img->n_tensors; i++)
        if (img->tensors[i].role == NTG_ROLE_PARAM) p->param_ids[p->n_params++] = i;

    ntg_plan_view *w = &p->view;
    w->tensors = img->tensors;
    w->n_tensors = img->n_tensors;
    w->ops = img->ops;
    w->n_ops = img->n_ops;
    w->operands = img->operands;
    w->n_operands = img->n_operands;
    w->attrs = img->attrs;
    w->n_attrs = img->n_attrs;
    w->programs = p->programs;
    w->n_programs = img->n_programs;
    w->strings = img->strings;
    memcpy(w->storage_bytes, img->info.storage_bytes, sizeof w->storage_bytes);
    w->max_batch = (int)img->info.max_batch;
    return shared_init(p, where, err);
}

/* ---------------------------------------------------------------- load, save */

static const char *errno_str(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0) ntg__strfmt(buf, cap, "error %d", e);
    return buf;
}

static ntg_status io_err(ntg_error *err, const char *path, const char *what, int e)
{
    char eb[128];
    return ntg__err_os(err, NTG_ERR_IO, e, path, "%s: %s", what, errno_str(e, eb, sizeof eb));
}

static ntg_status load_bytes(const void *data, size_t size, unsigned flags, void *owned,
                             const char *where, ntg_plan **out, ntg_error *err);

/* NTG_LOAD_COPY: the file's bytes read into memory of the plan's own. */
static ntg_status load_copy(int fd, size_t size, const char *path, ntg_plan **out, ntg_error *err)
{
    uint8_t *buf = ntg__aligned_alloc(size);
    if (!buf) {
        close(fd);
        return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "cannot allocate %zu bytes", size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            ntg__aligned_free(buf);
            /* a file that shrank while it was read is a truncated plan */
            if (r == 0)
                return ntg__err(err, NTG_ERR_PLAN, path, 0, 0,
                                "file shrank to %zu bytes while it was read (%zu expected)", got,
                                size);
            return io_err(err, path, "cannot read", e);
        }
        got += (size_t)r;
    }
    close(fd);
    return load_bytes(buf, size, 0, buf, path, out, err);
}

ntg_status ntg_plan_load_file(const char *path, ntg_plan **out, ntg_error *err)
{
    return ntg_plan_load_file_ex(path, 0, out, err);
}

ntg_status ntg_plan_load_file_ex(const char *path, unsigned flags, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!path || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_file: NULL argument");
    if (flags & ~NTG_LOAD_COPY)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_file_ex: unknown flags 0x%x",
                         flags & ~NTG_LOAD_COPY);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_err(err, path, "cannot open", errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return io_err(err, path, "cannot stat", e);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ntg__err(err, NTG_ERR_IO, path, 0, 0, "not a regular file");
    }
    if (sb.st_size <= 0) {
        close(fd);
        /* an empty file is the shortest truncated plan, and says so as they do */
        return ntg__err(err, NTG_ERR_PLAN, path, 0, 0,
                        "header: file is empty (0 bytes), shorter than the %zu-byte header",
                        sizeof(ntg_plan_header));
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ntg__err(err, NTG_ERR_IO, path, 0, 0, "file is too large to map");
    }
    size_t size = (size_t)sb.st_size;
    if (flags & NTG_LOAD_COPY) return load_copy(fd, size, path, out, err);
    /* MAP_PRIVATE + PROT_READ: weights are used in place and no one can write through us.
     * MAP_POPULATE maps every page of the file up front (it is all read by the CRC check
     * anyway): one pass in the kernel instead of a page fault per 4 KiB, about half the
     * load time of a warm 14.7 MB plan. */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | NTG_MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return io_err(err, path, "cannot map", e);
    ntg_plan *p = calloc(1, sizeof *p);
    if (!p) {
        munmap(map, size);
        return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    p->map = map;
    p->base = map;
    p->size = size;
    ntg_status st = plan_init(p, path, err);
    if (st != NTG_OK) {
        ntg_plan_destroy(p);
        return st;
    }
    *out = p;
    return NTG_OK;
}

static ntg_status load_bytes(const void *data, size_t size, unsigned flags, void *owned,
                             const char *where, ntg_plan **out, ntg_error *err)
{
    ntg_plan *p = calloc(1, sizeof *p);
    if (!p) {
        ntg__aligned_free(owned);
        return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "out of memory");
    }
    if (owned) {
        p->owned = owned;
        p->base = owned;
    } else if (flags & NTG_LOAD_BORROW) {
        p->base = data;
    } else {
        p->owned = ntg__aligned_alloc(size);
        if (!p->owned) {
            free(p);
            return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "cannot allocate %zu bytes", size);
        }
        memcpy(p->owned, data, size);
        p->base = p->owned;
    }
    p->size = size;
    ntg_status st = plan_init(p, where, err);
    if (st != NTG_OK) {
        ntg_plan_destroy(p);
        return st;
    }
    *out = p;
    return NTG_OK;
}

ntg_status ntg_plan_load_memory(const void *data, size_t size, unsigned flags, ntg_plan **out,
                                ntg_error *err)
{
    if (out) *out = NULL;
    if (!out || (!data && size))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_memory: NULL argument");
    if (flags & ~NTG_LOAD_BORROW)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_memory: unknown flags 0x%x",
                         flags & ~NTG_LOAD_BORROW);
    if (!data)
        return ntg__err(err, NTG_ERR_PLAN, MEMORY_NAME, 0, 0,
                        "header: file is 0 bytes, shorter than the %zu-byte header",
                        sizeof(ntg_plan_header));
    if ((flags & NTG_LOAD_BORROW) && ((uintptr_t)data % NTG_PLAN_ALIGN) != 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "ntg_plan_load_memory: NTG_LOAD_BORROW needs 64-byte aligned data");
    return load_bytes(data, size, flags, NULL, MEMORY_NAME, out, err);
}

ntg_status ntg__plan_adopt(void *buf, size_t size, const char *name, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!buf || !out || ((uintptr_t)buf % NTG_PLAN_ALIGN) != 0) {
        ntg__aligned_free(buf);
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__plan_adopt: bad argument");
    }
    return load_bytes(buf, size, 0, buf, name ? name : MEMORY_NAME, out, err);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Make the rename itself durable; a file system that cannot sync directories is no error. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        memcpy(dir, ".", 2);
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir) return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

ntg_status ntg_plan_save(const ntg_plan *plan, const char *path, ntg_error *err)
{
    if (!plan || !path) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_save: NULL argument");
    size_t tn = strlen(path) + 32;
    char *tmp = malloc(tn);
    if (!tmp) return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "out of memory");
    snprintf(tmp, tn, "%s.tmp.%ld", path, (long)getpid());

    ntg_status st = NTG_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = io_err(err, path, "cannot create the temporary file", errno);
        free(tmp);
        return st;
    }
    if (write_all(fd, plan->base, plan->size) != 0)
        st = io_err(err, path, "cannot write", errno);
    else if (fsync(fd) != 0)
        st = io_err(err, path, "cannot sync", errno);
    if (close(fd) != 0 && st == NTG_OK) st = io_err(err, path, "cannot close", errno);
    if (st == NTG_OK && rename(tmp, path) != 0)
        st = io_err(err, path, "cannot replace the file", errno);
    if (st != NTG_OK)
        unlink(tmp);
    else
        sync_dir(path);
    free(tmp);
    return st;
}

ntg_status ntg_plan_serialize(const ntg_plan *plan, void **data, size_t *size, ntg_error *err)
{
    if (data) *data = NULL;
    if (size) *size = 0;
    if (!plan || !data || !size)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_serialize: NULL argument");
    void *buf = malloc(plan->size);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes", plan->size);
    /* a loaded plan is its validated file bytes, unchanged */
    memcpy(buf, plan->base, plan->size);
    *data = buf;
    *size = plan->size;
    return NTG_OK;
}

void ntg_plan_destroy(ntg_plan *plan)
{
    if (!plan) return;
    shared_free(plan);
    if (plan->map) munmap(plan->map, plan->size);
    ntg__aligned_free(plan->owned);
    free(plan->programs);
    free(plan->param_ids);
    free(plan);
}

/* -------------------------------------------------------------------- queries */

int ntg__plan_program(const struct ntg_plan *p, const char *name)
{
    if (!p || !name) return -1;
    for (uint32_t i = 0; i < p->img.n_programs; i++)
        if (strcmp(p->programs[i].name, name) == 0) return (int)i;
    return -1;
}

static const ntg_program_rec *program_rec(const struct ntg_plan *p, int prog)
{
    if (!p || prog < 0 || (uint32_t)prog >= p->img.n_programs) return NULL;
    return &p->img.programs[prog];
}

uint32_t ntg__plan_io(const struct ntg_plan *p, int prog, int is_output, const char *name)
{
    const ntg_program_rec *r = program_rec(p, prog);
    if (!r || !name) return NTG_NONE;
    uint32_t first = is_output ? r->outputs : r->inputs, n = is_output ? r->n_outputs : r->n_inputs;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t id = p->img.indices[first + j];
        if (strcmp(ntg__plan_str(p, p->img.tensors[id].name), name) == 0) return id;
    }
    return NTG_NONE;
}

void ntg__plan_tensor_info(const struct ntg_plan *p, uint32_t id, ntg_tensor_info *info)
{
    const ntg_tensor_rec *t = &p->img.tensors[id];
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    info->name = ntg__plan_str(p, t->name);
    info->dtype = (ntg_dtype)t->dtype;
    info->role = (ntg_role)t->role;
    info->rank = t->rank;
    for (int d = 0; d < t->rank; d++) info->shape[d] = t->dims[d];
    info->batched = (t->flags & NTG_TF_BATCHED) ? 1 : 0;
    info->nbytes = (size_t)t->nbytes;
}

const uint8_t *ntg__plan_weights(const struct ntg_plan *p, uint32_t id)
{
    if (!p || id >= p->img.n_tensors) return NULL;
    const ntg_tensor_rec *t = &p->img.tensors[id];
    if (t->storage != NTG_STORE_WEIGHTS || !p->img.weights) return NULL;
    return p->img.weights + t->offset;
}

void ntg_tensor_info_init(ntg_tensor_info *info)
{
    if (!info) return;
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
}

/* The caller's `info` checked, tensor `id` described into it as far as its size reaches. */
static ntg_status tensor_info_out(const ntg_plan *plan, uint32_t id, ntg_tensor_info *info,
                                  const char *fn, ntg_error *err)
{
    ntg_status st = NTG__ABI_CHECK(info, ntg_tensor_info, nbytes, fn, err);
    if (st) return st;
    ntg_tensor_info full;
    ntg__plan_tensor_info(plan, id, &full);
    ntg__abi_out(info, &full);
    return NTG_OK;
}

static ntg_status io_info(const ntg_plan *plan, int is_output, size_t index, ntg_tensor_info *info,
                          ntg_error *err)
{
    const char *fn = is_output ? "ntg_plan_output" : "ntg_plan_input";
    if (!plan || !info) return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: NULL argument", fn);
    const ntg_program_rec *r = program_rec(plan, plan->infer_program);
    uint32_t n = is_output ? r->n_outputs : r->n_inputs;
    if (index >= n)
        return ntg__fail(err, NTG_ERR_RANGE, "%s: index %zu, but the plan has %u %s", fn, index, n,
                         is_output ? "outputs" : "inputs");
    uint32_t first = is_output ? r->outputs : r->inputs;
    return tensor_info_out(plan, plan->img.indices[first + index], info, fn, err);
}

size_t ntg_plan_input_count(const ntg_plan *plan)
{
    return plan ? program_rec(plan, plan->infer_program)->n_inputs : 0;
}

size_t ntg_plan_output_count(const ntg_plan *plan)
{
    return plan ? program_rec(plan, plan->infer_program)->n_outputs : 0;
}

ntg_status ntg_plan_input(const ntg_plan *plan, size_t index, ntg_tensor_info *info, ntg_error *err)
{
    return io_info(plan, 0, index, info, err);
}

ntg_status ntg_plan_output(const ntg_plan *plan, size_t index, ntg_tensor_info *info,
                           ntg_error *err)
{
    return io_info(plan, 1, index, info, err);
}

size_t ntg_plan_param_count(const ntg_plan *plan)
{
    return plan ? plan->n_params : 0;
}

ntg_status ntg_plan_param(const ntg_plan *plan, size_t index, ntg_tensor_info *info, ntg_error *err)
{
    if (!plan || !info) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_param: NULL argument");
    if (index >= plan->n_params)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "ntg_plan_param: index %zu, but the plan has %u "
                         "parameters",
                         index, plan->n_params);
    return tensor_info_out(plan, plan->param_ids[index], info, "ntg_plan_param", err);
}

const void *ntg_plan_param_data(const ntg_plan *plan, size_t index)
{
    if (!plan || index >= plan->n_params) return NULL;
    return ntg__plan_weights(plan, plan->param_ids[index]);
}

uint64_t ntg_plan_param_elements(const ntg_plan *plan)
{
    return plan ? plan->img.info.param_elements : 0;
}

int ntg_plan_max_batch(const ntg_plan *plan)
{
    return plan ? (int)plan->img.info.max_batch : 0;
}

uint64_t ntg_plan_arena_bytes(const ntg_plan *plan)
{
    return plan ? plan->img.info.storage_bytes[NTG_STORE_ARENA] : 0;
}

int ntg_plan_has_program(const ntg_plan *plan, const char *program)
{
    return ntg__plan_program(plan, program) >= 0;
}

const char *ntg_plan_meta(const ntg_plan *plan, const char *key)
{
    if (!plan || !key) return NULL;
    for (uint32_t i = 0; i < plan->img.n_meta; i++)
        if (strcmp(ntg__plan_str(plan, plan->img.meta[i].key), key) == 0)
            return ntg__plan_str(plan, plan->img.meta[i].value);
    return NULL;
}

size_t ntg_plan_meta_count(const ntg_plan *plan)
{
    return plan ? plan->img.n_meta : 0;
}

ntg_status ntg_plan_meta_at(const ntg_plan *plan, size_t index, const char **key,
                            const char **value, ntg_error *err)
{
    if (!plan) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_meta_at: plan is NULL");
    if (index >= plan->img.n_meta)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "ntg_plan_meta_at: index %zu, but the plan has %u "
                         "metadata entries",
                         index, plan->img.n_meta);
    if (key) *key = ntg__plan_str(plan, plan->img.meta[index].key);
    if (value) *value = ntg__plan_str(plan, plan->img.meta[index].value);
    return NTG_OK;
}
