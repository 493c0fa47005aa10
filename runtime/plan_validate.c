/* plan_validate.c — plan.bin v1 validation: every byte, bound and cross-reference checked
 * before anything reads the plan in place. */
#include "plan_validate.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "plan_int.h"
#include "pool.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "plan.bin is little-endian and read in place; big-endian hosts are not supported"
#endif

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

ntg_status ntg__plan_validate(const uint8_t *base, size_t size, const char *where,
                              ntg_plan_image *img, ntg_error *err)
{
    vctx v = {base, size, where, err, img, NULL};
    return validate(&v);
}
