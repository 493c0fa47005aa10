/* test_runtime_plan.c — plan.bin v1: CRC32C, writer, loader validation, public plan queries. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu_isa.h"
#include "ntgraph.h"
#include "op_attrs.h"
#include "plan_format.h"
#include "plan_int.h"
#include "testutil.h"

/* runtime/plan_load.c: wrap a written buffer without copying */
ntg_status ntg__plan_adopt(void *buf, size_t size, const char *name, ntg_plan **out,
                           ntg_error *err);

/* ================================================================ builder */

/* A plan under construction: fixed arrays the tests can edit before writing. */
typedef struct tp {
    ntg_strtab *st;
    ntg_plan_info info;
    char strings[1024];
    uint64_t strings_bytes;
    ntg_meta_rec meta[8];
    uint32_t n_meta;
    ntg_tensor_rec tensors[16];
    uint32_t n_tensors;
    ntg_op_rec ops[8];
    uint32_t n_ops;
    uint32_t operands[64];
    uint32_t n_operands;
    ntg_attr attrs[32];
    uint32_t n_attrs;
    ntg_program_rec programs[4];
    uint32_t n_programs;
    uint32_t indices[64];
    uint32_t n_indices;
    _Alignas(64) uint8_t weights[512];
    uint64_t weights_bytes;
} tp;

static void tp_init(tp *p, uint32_t max_batch)
{
    memset(p, 0, sizeof *p);
    p->st = ntg__strtab_create();
    cr_assert_not_null(p->st);
    p->info.max_batch = max_batch;
}

/* String offset; the table is copied into p->strings so tests can corrupt it. */
static uint32_t S(tp *p, const char *s)
{
    uint32_t off = ntg__strtab_add(p->st, s);
    cr_assert_neq(off, UINT32_MAX);
    uint64_t n;
    const char *d = ntg__strtab_data(p->st, &n);
    cr_assert_leq(n, sizeof p->strings);
    memcpy(p->strings, d, (size_t)n);
    p->strings_bytes = n;
    return off;
}

static uint32_t add_tensor(tp *p, const char *name, int batched, int rank, const uint32_t *dims,
                           ntg_role role, ntg_storage storage, uint64_t offset)
{
    ntg_tensor_rec *t = &p->tensors[p->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = S(p, name);
    t->dtype = NTG_DTYPE_F32;
    t->rank = (uint8_t)rank;
    t->role = (uint8_t)role;
    t->flags = batched ? NTG_TF_BATCHED : 0;
    uint64_t n = 1;
    for (int d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        n *= dims[d];
    }
    t->storage = (uint8_t)storage;
    t->link = NTG_NONE;
    t->offset = offset;
    t->nbytes = n * 4;
    return p->n_tensors++;
}

static uint32_t add_op(tp *p, ntg_op_code code, int dir, const char *loc, const uint32_t *ins,
                       int n_in, const uint32_t *outs, int n_out, uint32_t attrs, uint32_t n_attr,
                       uint32_t saved)
{
    ntg_op_rec *o = &p->ops[p->n_ops];
    memset(o, 0, sizeof *o);
    o->code = (uint16_t)code;
    o->dir = (uint8_t)dir;
    o->loc = S(p, loc);
    o->operands = p->n_operands;
    for (int i = 0; i < n_in; i++) p->operands[p->n_operands++] = ins[i];
    for (int i = 0; i < n_out; i++) p->operands[p->n_operands++] = outs[i];
    o->n_in = (uint16_t)n_in;
    o->n_out = (uint16_t)n_out;
    o->attrs = attrs;
    o->n_attr = n_attr;
    o->saved = saved;
    return p->n_ops++;
}

static uint32_t add_list(tp *p, const uint32_t *v, uint32_t n)
{
    uint32_t first = p->n_indices;
    for (uint32_t i = 0; i < n; i++) p->indices[p->n_indices++] = v[i];
    return first;
}

static void add_program(tp *p, const char *name, const uint32_t *ops, uint32_t n_ops,
                        const uint32_t *ins, uint32_t n_in, const uint32_t *outs, uint32_t n_out)
{
    ntg_program_rec *r = &p->programs[p->n_programs++];
    memset(r, 0, sizeof *r);
    r->name = S(p, name);
    r->ops = add_list(p, ops, n_ops);
    r->n_ops = n_ops;
    r->inputs = add_list(p, ins, n_in);
    r->n_inputs = n_in;
    r->outputs = add_list(p, outs, n_out);
    r->n_outputs = n_out;
    r->arena_peak = p->info.storage_bytes[NTG_STORE_ARENA];
}

static void add_meta(tp *p, const char *key, const char *value)
{
    p->meta[p->n_meta].key = S(p, key);
    p->meta[p->n_meta].value = S(p, value);
    p->n_meta++;
}

/* n_params and param_elements from the tensors (tests that want them wrong edit after). */
static void tp_count_params(tp *p)
{
    p->info.n_params = 0;
    p->info.param_elements = 0;
    for (uint32_t i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].role == NTG_ROLE_PARAM) {
            p->info.n_params++;
            p->info.param_elements += p->tensors[i].nbytes / 4;
        }
}

/* Tensor ids of the dense plan. */
enum { T_X, T_W, T_B, T_Y, T_TARGET, T_DY, T_DW, T_DB };

/*
 * x [batch 4, 5] (arena 0) -> dense(units 3) with W [3, 5] (weights 0) and b [3] (weights 64)
 * -> y [batch 4, 3] (arena 128); program infer; three meta entries.
 */
static void build_dense(tp *p)
{
    tp_init(p, 4);
    p->info.storage_bytes[NTG_STORE_ARENA] = 192;
    p->info.storage_bytes[NTG_STORE_WEIGHTS] = 76;
    p->info.naive_arena_bytes = 128;
    add_tensor(p, "x", 1, 2, (uint32_t[]){4, 5}, NTG_ROLE_INPUT, NTG_STORE_ARENA, 0);
    add_tensor(p, "dense.weight", 0, 2, (uint32_t[]){3, 5}, NTG_ROLE_PARAM, NTG_STORE_WEIGHTS, 0);
    add_tensor(p, "dense.bias", 0, 1, (uint32_t[]){3}, NTG_ROLE_PARAM, NTG_STORE_WEIGHTS, 64);
    add_tensor(p, "y", 1, 2, (uint32_t[]){4, 3}, NTG_ROLE_OUTPUT, NTG_STORE_ARENA, 128);
    p->attrs[NTG_DENSE_UNITS].i = 3;
    p->attrs[NTG_DENSE_ACT].i = NTG_ACT_NONE;
    p->attrs[NTG_DENSE_BIAS].i = 1;
    p->n_attrs = 3;
    add_op(p, NTG_OP_dense, NTG_DIR_FWD, "tiny.yaml:7:5", (uint32_t[]){T_X, T_W, T_B}, 3,
           (uint32_t[]){T_Y}, 1, 0, 3, 0);
    add_program(p, "infer", (uint32_t[]){0}, 1, (uint32_t[]){T_X}, 1, (uint32_t[]){T_Y}, 1);
    add_meta(p, "model.name", "tiny");
    add_meta(p, "model.kind", "test");
    add_meta(p, "hparam.units", "3");
    float *w = (float *)(void *)p->weights;
    for (int i = 0; i < 15; i++) w[i] = 0.1f * (float)(i + 1);
    float *b = (float *)(void *)(p->weights + 64);
    for (int i = 0; i < 3; i++) b[i] = -1.0f - (float)i;
    p->weights_bytes = 76;
    tp_count_params(p);
}

/* The dense plan plus a training step: dy = y - target, dense backward to dW and db. */
static void build_train(tp *p)
{
    build_dense(p);
    p->info.storage_bytes[NTG_STORE_ARENA] = 448;
    p->programs[0].arena_peak = 192;
    add_tensor(p, "target", 1, 2, (uint32_t[]){4, 3}, NTG_ROLE_INPUT, NTG_STORE_ARENA, 192);
    add_tensor(p, "dy", 1, 2, (uint32_t[]){4, 3}, NTG_ROLE_ACTIVATION, NTG_STORE_ARENA, 256);
    add_tensor(p, "dense.weight.grad", 0, 2, (uint32_t[]){3, 5}, NTG_ROLE_GRAD, NTG_STORE_ARENA,
               320);
    add_tensor(p, "dense.bias.grad", 0, 1, (uint32_t[]){3}, NTG_ROLE_GRAD, NTG_STORE_ARENA, 384);
    p->tensors[T_DW].link = T_W;
    p->tensors[T_DB].link = T_B;
    add_op(p, NTG_OP_sub, NTG_DIR_FWD, "tiny.yaml:train", (uint32_t[]){T_Y, T_TARGET}, 2,
           (uint32_t[]){T_DY}, 1, 3, 0, 0);
    /* [x, W, b, y, dy] -> [dx (not wanted), dW, db]; the kernel reads x and W */
    add_op(p, NTG_OP_dense, NTG_DIR_BWD, "tiny.yaml:7:5", (uint32_t[]){T_X, T_W, T_B, T_Y, T_DY}, 5,
           (uint32_t[]){NTG_NONE, T_DW, T_DB}, 3, 0, 3, 0x3u);
    add_program(p, "train_step", (uint32_t[]){0, 1, 2}, 3, (uint32_t[]){T_X, T_TARGET}, 2,
                (uint32_t[]){T_DW, T_DB}, 2);
    tp_count_params(p);
}

/* x [batch 4, 5] -> relu -> y: no weights, no attributes (INDICES is the last section). */
static void build_relu(tp *p)
{
    tp_init(p, 4);
    p->info.storage_bytes[NTG_STORE_ARENA] = 256;
    add_tensor(p, "x", 1, 2, (uint32_t[]){4, 5}, NTG_ROLE_INPUT, NTG_STORE_ARENA, 0);
    add_tensor(p, "y", 1, 2, (uint32_t[]){4, 5}, NTG_ROLE_OUTPUT, NTG_STORE_ARENA, 128);
    add_op(p, NTG_OP_relu, NTG_DIR_FWD, "", (uint32_t[]){0}, 1, (uint32_t[]){1}, 1, 0, 0, 0);
    add_program(p, "infer", (uint32_t[]){0}, 1, (uint32_t[]){0}, 1, (uint32_t[]){1}, 1);
    add_meta(p, "model.name", "relu");
}

static void tp_image(const tp *p, ntg_plan_image *img)
{
    memset(img, 0, sizeof *img);
    img->info = p->info;
    img->strings = p->strings;
    img->strings_bytes = p->strings_bytes;
    img->meta = p->meta;
    img->n_meta = p->n_meta;
    img->tensors = p->tensors;
    img->n_tensors = p->n_tensors;
    img->ops = p->ops;
    img->n_ops = p->n_ops;
    img->operands = p->operands;
    img->n_operands = p->n_operands;
    img->attrs = p->attrs;
    img->n_attrs = p->n_attrs;
    img->programs = p->programs;
    img->n_programs = p->n_programs;
    img->indices = p->indices;
    img->n_indices = p->n_indices;
    img->weights = p->weights;
    img->weights_bytes = p->weights_bytes;
}

/* Write the plan (and free the string table): a 64-byte aligned buffer. */
static uint8_t *tp_write(tp *p, size_t *size)
{
    ntg_plan_image img;
    tp_image(p, &img);
    void *buf = NULL;
    ntg_error err;
    ntg_status st = ntg__plan_write(&img, &buf, size, &err);
    cr_assert_eq(st, NTG_OK, "write: %s", err.message);
    ntg__strtab_destroy(p->st);
    p->st = NULL;
    return buf;
}

/* ============================================================ byte helpers */

static ntg_plan_header *hdr(uint8_t *buf)
{
    return (ntg_plan_header *)(void *)buf;
}

static ntg_plan_section *sec_at(uint8_t *buf, uint32_t i)
{
    return (ntg_plan_section *)(void *)(buf + 64 + 32 * (size_t)i);
}

static ntg_plan_section *sec_kind(uint8_t *buf, uint32_t kind)
{
    for (uint32_t i = 0; i < hdr(buf)->section_count; i++)
        if (sec_at(buf, i)->kind == kind) return sec_at(buf, i);
    cr_assert_fail("no section of kind %u", kind);
    return NULL;
}

/* Recompute every CRC after an edit, so the loader's other checks are what refuse it. */
static void fix_crcs(uint8_t *buf, size_t size)
{
    uint32_t n = hdr(buf)->section_count;
    for (uint32_t i = 0; i < n && 64 + 32 * (size_t)(i + 1) <= size; i++) {
        ntg_plan_section *s = sec_at(buf, i);
        if (s->offset <= size && s->bytes <= size - s->offset)
            s->crc = ntg__crc32c(0, buf + s->offset, (size_t)s->bytes);
    }
    hdr(buf)->header_crc = ntg__crc32c(0, buf, 60);
}

/* Exactly `size` bytes of 64-byte aligned memory, so ASan sees any read past the end. */
static void *exact_copy(const void *data, size_t size)
{
    void *p = NULL;
    cr_assert_eq(posix_memalign(&p, 64, size ? size : 1), 0);
    if (size && data) memcpy(p, data, size);
    return p;
}

/* `size` bytes of `data` followed by `extra` zero bytes, 64-byte aligned. */
static uint8_t *grow_copy(const void *data, size_t size, size_t extra)
{
    uint8_t *p = exact_copy(NULL, size + extra);
    memcpy(p, data, size);
    memset(p + size, 0, extra);
    return p;
}

/* Load `size` bytes in place; the caller's buffer is exactly that long. */
static ntg_status load_exact(const uint8_t *buf, size_t size, ntg_plan **out, ntg_error *err)
{
    void *c = exact_copy(buf, size);
    ntg_status st = ntg_plan_load_memory(c, size, NTG_LOAD_BORROW, out, err);
    if (st == NTG_OK) {
        /* the plan borrows c: keep it alive with the plan in this helper's callers */
        ntg_plan_destroy(*out);
        *out = NULL;
    }
    free(c);
    return st;
}

static void expect_refused(const uint8_t *buf, size_t size, ntg_status want, const char *substr)
{
    ntg_plan *p = (ntg_plan *)(uintptr_t)1;
    ntg_error err;
    memset(&err, 0, sizeof err);
    ntg_status st = load_exact(buf, size, &p, &err);
    cr_assert_eq(st, want, "status %d (%s), wanted %d; message: %s", st, ntg_strerror(st), want,
                 err.message);
    cr_assert_null(p);
    cr_assert_eq(err.status, want);
    cr_assert_str_eq(err.file, "<memory>");
    cr_assert_not_null(strstr(err.message, substr), "message \"%s\" lacks \"%s\"", err.message,
                       substr);
}

/* Build, let `edit` change records, write and expect refusal. */
static void refuse_edit(void (*build)(tp *), void (*edit)(tp *), const char *substr)
{
    tp p;
    build(&p);
    edit(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    expect_refused(buf, size, NTG_ERR_PLAN, substr);
    ntg__aligned_free(buf);
}

static ntg_plan *load_ok(const uint8_t *buf, size_t size)
{
    ntg_plan *p = NULL;
    ntg_error err;
    ntg_status st = ntg_plan_load_memory(buf, size, 0, &p, &err);
    cr_assert_eq(st, NTG_OK, "load: %s", err.message);
    cr_assert_not_null(p);
    return p;
}

/* A fresh directory under /tmp for file tests; removed by rm_tree. */
static void make_tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/ntg_plan_test_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ================================================================== CRC32C */

Test(runtime, crc32c_known_vectors)
{
    uint8_t buf[32];
    cr_assert_eq(ntg__crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(ntg__crc32c(0, "", 0), 0u);
    /* RFC 3720 B.4 (iSCSI) */
    memset(buf, 0, sizeof buf);
    cr_assert_eq(ntg__crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    cr_assert_eq(ntg__crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    cr_assert_eq(ntg__crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    cr_assert_eq(ntg__crc32c(0, buf, 32), 0x113FDB5Cu);
    cr_assert_eq(ntg__crc32c_sw(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(ntg__crc32c_hw(0, "123456789", 9), 0xE3069283u);
}

/* long enough for the 3 x 8 KiB interleaved blocks, the 3 x 256 ones and the tails */
#define CRC_LEN (3 * 8192 * 2 + 3 * 256 + 100)

static uint8_t *crc_data(tu_rng *r)
{
    uint8_t *buf = malloc(CRC_LEN + 64);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < CRC_LEN + 64; i++) buf[i] = (uint8_t)tu_next(r);
    return buf;
}

Test(runtime, crc32c_continues)
{
    size_t n = CRC_LEN;
    tu_rng r = {42};
    uint8_t *buf = crc_data(&r);
    uint32_t whole = ntg__crc32c_sw(0, buf, n);
    cr_assert_eq(ntg__crc32c(0, buf, n), whole);
    /* a computation split anywhere continues to the same value */
    for (size_t cut = 0; cut <= n; cut += 997) {
        uint32_t c = ntg__crc32c(0, buf, cut);
        cr_assert_eq(ntg__crc32c(c, buf + cut, n - cut), whole, "cut at %zu", cut);
    }
    free(buf);
}

/* the CRCs of two pieces, taken apart (on two threads, in a store read), join to the whole's */
Test(runtime, crc32c_combine_joins_pieces)
{
    size_t n = CRC_LEN;
    tu_rng r = {7};
    uint8_t *buf = crc_data(&r);
    for (int k = 0; k < 400; k++) {
        size_t off = (size_t)(tu_next(&r) % 64), len = (size_t)(tu_next(&r) % (n - 64));
        if (k < 40) len = (size_t)k;
        size_t cut = len ? (size_t)(tu_next(&r) % (len + 1)) : 0;
        uint32_t a = ntg__crc32c(0, buf + off, cut), b = ntg__crc32c(0, buf + off + cut, len - cut);
        cr_assert_eq(ntg__crc32c_combine(a, b, len - cut), ntg__crc32c_sw(0, buf + off, len),
                     "offset %zu length %zu cut %zu", off, len, cut);
    }
    /* a long second piece (the length's high bits) of zeros: the same as feeding them */
    uint8_t *z = calloc(1, 5u << 20);
    cr_assert_not_null(z);
    uint32_t a = ntg__crc32c(0, buf, 1000);
    cr_assert_eq(ntg__crc32c_combine(a, ntg__crc32c(0, z, 5u << 20), 5u << 20),
                 ntg__crc32c(a, z, 5u << 20));
    free(z);
    free(buf);
}

Test(runtime, crc32c_sse42_matches_software)
{
    if (!ntg__crc32c_hw_available())
        cr_skip_test("this CPU lacks SSE4.2: its CRC path is not tested here");
    int cap;
    cr_assert_eq(ntg__isa_cap_from_env(&cap, NULL), NTG_OK, "NTG_CPU_ISA=%s",
                 getenv("NTG_CPU_ISA"));
    if (cap <= NTG_ISA_PORTABLE)
        cr_skip_test("NTG_CPU_ISA=%s excludes SSE4.2: its CRC path is not tested in this run",
                     getenv("NTG_CPU_ISA"));
    size_t n = CRC_LEN;
    tu_rng r = {42};
    uint8_t *buf = crc_data(&r);
    for (int k = 0; k < 3000; k++) {
        size_t off = (size_t)(tu_next(&r) % 64), len = (size_t)(tu_next(&r) % (n - 64));
        if (k < 600) len = (size_t)k; /* every short length */
        uint32_t seed = (uint32_t)tu_next(&r);
        cr_assert_eq(ntg__crc32c_hw(seed, buf + off, len), ntg__crc32c_sw(seed, buf + off, len),
                     "offset %zu length %zu", off, len);
    }
    free(buf);
}

/* NTG_CPU_ISA=portable keeps CRC32C off the SSE4.2 instruction; avx2 and avx512 leave it on */
Test(runtime, crc32c_honours_the_isa_cap)
{
    static const char *const caps[] = {"portable", "PORTABLE", "avx2", "avx512", ""};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(setenv("NTG_CPU_ISA", caps[i], 1), 0);
        int want = i < 2 ? 0 : ntg__crc32c_hw_available();
        cr_assert_eq(ntg__crc32c_uses_hw(), want, "NTG_CPU_ISA=%s", caps[i]);
        cr_assert_eq(ntg__crc32c(0, "123456789", 9), 0xE3069283u, "NTG_CPU_ISA=%s", caps[i]);
    }
    unsetenv("NTG_CPU_ISA");
    cr_assert_eq(ntg__crc32c_uses_hw(), ntg__crc32c_hw_available());
}

/* ============================================================ string table */

Test(runtime, strtab_dedups_and_starts_with_empty_string)
{
    ntg_strtab *t = ntg__strtab_create();
    cr_assert_not_null(t);
    cr_assert_eq(ntg__strtab_add(t, ""), 0u);
    uint32_t a = ntg__strtab_add(t, "alpha"), b = ntg__strtab_add(t, "beta");
    cr_assert_eq(a, 1u);
    cr_assert_eq(b, 7u);
    cr_assert_eq(ntg__strtab_add(t, "alpha"), a);
    uint32_t offs[500];
    char name[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "stack%d.block%d.weight", i % 7, i);
        offs[i] = ntg__strtab_add(t, name);
    }
    uint64_t bytes;
    const char *d = ntg__strtab_data(t, &bytes);
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "stack%d.block%d.weight", i % 7, i);
        cr_assert_eq(ntg__strtab_add(t, name), offs[i]);
        cr_assert_str_eq(d + offs[i], name);
    }
    d = ntg__strtab_data(t, &bytes);
    cr_assert_eq(d[0], '\0');
    cr_assert_eq(d[bytes - 1], '\0');
    cr_assert_str_eq(d + b, "beta");
    cr_assert_eq(ntg__strtab_add(t, NULL), UINT32_MAX);
    ntg__strtab_destroy(t);
    ntg__strtab_destroy(NULL);
}

/* ================================================================== writer */

Test(runtime, plan_write_layout)
{
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    cr_assert_eq((uintptr_t)buf % 64, 0u);
    cr_assert_eq(size % 64, 0u);
    ntg_plan_header *h = hdr(buf);
    cr_assert_eq(memcmp(h->magic, "NTGPLAN", 8), 0);
    cr_assert_eq(h->version_major, 1);
    cr_assert_eq(h->version_minor, 0);
    cr_assert_eq(h->header_bytes, 64u);
    cr_assert_eq(h->file_bytes, size);
    cr_assert_eq(h->section_table, 64u);
    cr_assert_eq(h->section_count, 10u); /* every kind: meta and weights are present */
    cr_assert_eq(h->header_crc, ntg__crc32c(0, buf, 60));
    uint64_t end = 64 + 32 * 10;
    for (uint32_t i = 0; i < h->section_count; i++) {
        ntg_plan_section *s = sec_at(buf, i);
        cr_assert_eq(s->kind, i + 1);
        cr_assert_eq(s->offset % 64, 0u);
        cr_assert_geq(s->offset, end);
        for (uint64_t b = end; b < s->offset; b++)
            cr_assert_eq(buf[b], 0, "gap byte %llu", (unsigned long long)b);
        cr_assert_eq(s->crc, ntg__crc32c(0, buf + s->offset, (size_t)s->bytes));
        end = s->offset + s->bytes;
    }
    cr_assert_eq(sec_kind(buf, NTG_SEC_TENSORS)->count, 4u);
    cr_assert_eq(sec_kind(buf, NTG_SEC_TENSORS)->bytes, 4u * 64);
    cr_assert_eq(sec_kind(buf, NTG_SEC_STRINGS)->count, sec_kind(buf, NTG_SEC_STRINGS)->bytes);
    cr_assert_eq(sec_kind(buf, NTG_SEC_WEIGHTS)->count, 76u);
    ntg__aligned_free(buf);

    /* without weights and meta those sections are left out; empty attrs stay */
    build_relu(&p);
    p.n_meta = 0;
    buf = tp_write(&p, &size);
    cr_assert_eq(hdr(buf)->section_count, 8u);
    cr_assert_eq(sec_kind(buf, NTG_SEC_ATTRS)->bytes, 0u);
    cr_assert_eq(sec_kind(buf, NTG_SEC_ATTRS)->count, 0u);
    ntg_plan *pl = load_ok(buf, size);
    cr_assert_eq(ntg_plan_meta_count(pl), 0u);
    cr_assert_eq(ntg_plan_param_count(pl), 0u);
    cr_assert_null(ntg_plan_param_data(pl, 0));
    ntg_plan_destroy(pl);
    ntg__aligned_free(buf);

    ntg_error err;
    void *out;
    cr_assert_eq(ntg__plan_write(NULL, &out, &size, &err), NTG_ERR_INVALID_ARG);
}

/* ================================================================== queries */

static void check_dense_queries(const ntg_plan *p, const uint8_t *weights_src)
{
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_max_batch(p), 4);
    cr_assert_eq(ntg_plan_arena_bytes(p), 192u);
    cr_assert_eq(ntg_plan_input_count(p), 1u);
    cr_assert_eq(ntg_plan_output_count(p), 1u);
    cr_assert_eq(ntg_plan_input(p, 0, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "x");
    cr_assert_eq(ti.dtype, NTG_DTYPE_F32);
    cr_assert_eq(ti.role, NTG_ROLE_INPUT);
    cr_assert_eq(ti.rank, 2);
    cr_assert_eq(ti.shape[0], 4);
    cr_assert_eq(ti.shape[1], 5);
    cr_assert_eq(ti.batched, 1);
    cr_assert_eq(ti.nbytes, 80u);
    cr_assert_eq(ntg_plan_input(p, 1, &ti, NULL), NTG_ERR_RANGE);
    cr_assert_eq(ntg_plan_output(p, 0, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "y");
    cr_assert_eq(ti.role, NTG_ROLE_OUTPUT);
    cr_assert_eq(ti.shape[1], 3);
    cr_assert_eq(ti.nbytes, 48u);
    cr_assert_eq(ntg_plan_output(p, 1, &ti, NULL), NTG_ERR_RANGE);
    cr_assert_eq(ntg_plan_input(p, 0, NULL, NULL), NTG_ERR_INVALID_ARG);

    cr_assert_eq(ntg_plan_param_count(p), 2u);
    cr_assert_eq(ntg_plan_param_elements(p), 18u);
    cr_assert_eq(ntg_plan_param(p, 0, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "dense.weight");
    cr_assert_eq(ti.role, NTG_ROLE_PARAM);
    cr_assert_eq(ti.batched, 0);
    cr_assert_eq(ti.rank, 2);
    cr_assert_eq(ti.shape[0], 3);
    cr_assert_eq(ti.shape[1], 5);
    cr_assert_eq(ti.nbytes, 60u);
    cr_assert_eq(ntg_plan_param(p, 1, &ti, NULL), NTG_OK);
    cr_assert_str_eq(ti.name, "dense.bias");
    cr_assert_eq(ti.nbytes, 12u);
    cr_assert_eq(ntg_plan_param(p, 2, &ti, NULL), NTG_ERR_RANGE);
    const void *w = ntg_plan_param_data(p, 0), *b = ntg_plan_param_data(p, 1);
    cr_assert_not_null(w);
    cr_assert_not_null(b);
    cr_assert_eq((uintptr_t)w % 64, 0u);
    cr_assert_eq((uintptr_t)b % 64, 0u);
    cr_assert_eq(memcmp(w, weights_src, 60), 0);
    cr_assert_eq(memcmp(b, weights_src + 64, 12), 0);
    cr_assert_null(ntg_plan_param_data(p, 2));

    cr_assert(ntg_plan_has_program(p, "infer"));
    cr_assert_not(ntg_plan_has_program(p, "eval"));
    cr_assert_not(ntg_plan_has_program(p, NULL));

    cr_assert_eq(ntg_plan_meta_count(p), 3u);
    cr_assert_str_eq(ntg_plan_meta(p, "model.name"), "tiny");
    cr_assert_str_eq(ntg_plan_meta(p, "hparam.units"), "3");
    cr_assert_null(ntg_plan_meta(p, "model.version"));
    const char *k, *v;
    cr_assert_eq(ntg_plan_meta_at(p, 1, &k, &v, NULL), NTG_OK);
    cr_assert_str_eq(k, "model.kind");
    cr_assert_str_eq(v, "test");
    cr_assert_eq(ntg_plan_meta_at(p, 3, &k, &v, NULL), NTG_ERR_RANGE);

    /* internals */
    cr_assert_eq(ntg__plan_program(p, "infer"), 0);
    cr_assert_eq(ntg__plan_program(p, "train_step"), -1);
    cr_assert_eq(ntg__plan_io(p, 0, 0, "x"), (uint32_t)T_X);
    cr_assert_eq(ntg__plan_io(p, 0, 1, "y"), (uint32_t)T_Y);
    cr_assert_eq(ntg__plan_io(p, 0, 0, "y"), NTG_NONE);
    cr_assert_eq(ntg__plan_io(p, 5, 0, "x"), NTG_NONE);
    cr_assert_eq(ntg__plan_weights(p, T_B), (const uint8_t *)b);
    cr_assert_null(ntg__plan_weights(p, T_X));
    cr_assert_eq(p->infer_program, 0);
    cr_assert_eq(p->n_params, 2u);
    cr_assert_eq(p->param_ids[0], (uint32_t)T_W);
    cr_assert_eq(p->param_ids[1], (uint32_t)T_B);
    cr_assert_str_eq(p->programs[0].name, "infer");
    cr_assert_eq(p->programs[0].n_ops, 1u);
    cr_assert_eq(p->programs[0].ops[0], 0u);
    const ntg_plan_view *vw = &p->view;
    cr_assert_eq(vw->n_tensors, 4u);
    cr_assert_eq(vw->n_ops, 1u);
    cr_assert_eq(vw->ops[0].code, NTG_OP_dense);
    cr_assert_eq(vw->n_operands, 4u);
    cr_assert_eq(vw->n_attrs, 3u);
    cr_assert_eq(vw->attrs[NTG_DENSE_UNITS].i, 3);
    cr_assert_eq(vw->n_programs, 1u);
    cr_assert_eq(vw->programs, p->programs);
    cr_assert_eq(vw->storage_bytes[NTG_STORE_ARENA], 192u);
    cr_assert_eq(vw->storage_bytes[NTG_STORE_WEIGHTS], 76u);
    cr_assert_eq(vw->storage_bytes[NTG_STORE_STATE], 0u);
    cr_assert_eq(vw->max_batch, 4);
    cr_assert_str_eq(vw->strings + vw->tensors[T_W].name, "dense.weight");
}

Test(runtime, plan_load_memory_answers_every_query)
{
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *pl = load_ok(buf, size);
    check_dense_queries(pl, p.weights);
    /* a copy: the caller's buffer may go */
    cr_assert((const uint8_t *)ntg_plan_param_data(pl, 0) < buf ||
              (const uint8_t *)ntg_plan_param_data(pl, 0) >= buf + size);
    ntg_plan_destroy(pl);

    /* borrowed: used in place */
    ntg_error err;
    cr_assert_eq(ntg_plan_load_memory(buf, size, NTG_LOAD_BORROW, &pl, &err), NTG_OK);
    check_dense_queries(pl, p.weights);
    const uint8_t *w = ntg_plan_param_data(pl, 0);
    cr_assert(w >= buf && w < buf + size);
    ntg_plan_destroy(pl);

    /* adopted: the plan owns the writer's buffer */
    cr_assert_eq(ntg__plan_adopt(buf, size, "tiny.yaml", &pl, &err), NTG_OK, "%s", err.message);
    check_dense_queries(pl, p.weights);
    ntg_plan_destroy(pl);
}

Test(runtime, plan_queries_tolerate_null)
{
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_input_count(NULL), 0u);
    cr_assert_eq(ntg_plan_output_count(NULL), 0u);
    cr_assert_eq(ntg_plan_input(NULL, 0, &ti, NULL), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_plan_output(NULL, 0, &ti, NULL), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_plan_param_count(NULL), 0u);
    cr_assert_eq(ntg_plan_param(NULL, 0, &ti, NULL), NTG_ERR_INVALID_ARG);
    cr_assert_null(ntg_plan_param_data(NULL, 0));
    cr_assert_eq(ntg_plan_param_elements(NULL), 0u);
    cr_assert_eq(ntg_plan_max_batch(NULL), 0);
    cr_assert_eq(ntg_plan_arena_bytes(NULL), 0u);
    cr_assert_eq(ntg_plan_has_program(NULL, "infer"), 0);
    cr_assert_null(ntg_plan_meta(NULL, "k"));
    cr_assert_eq(ntg_plan_meta_count(NULL), 0u);
    cr_assert_eq(ntg_plan_meta_at(NULL, 0, NULL, NULL, NULL), NTG_ERR_INVALID_ARG);
    ntg_plan_destroy(NULL);
}

Test(runtime, plan_load_memory_arguments)
{
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *pl = (ntg_plan *)(uintptr_t)1;
    ntg_error err;
    /* NTG_LOAD_BORROW needs 64-byte aligned data; a copy of misaligned bytes is fine */
    uint8_t *mis = grow_copy(buf, 0, size + 64);
    uint8_t *odd = mis + 8;
    memcpy(odd, buf, size);
    cr_assert_eq(ntg_plan_load_memory(odd, size, NTG_LOAD_BORROW, &pl, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(pl);
    cr_assert_not_null(strstr(err.message, "64-byte aligned"));
    cr_assert_eq(ntg_plan_load_memory(odd, size, 0, &pl, &err), NTG_OK, "%s", err.message);
    check_dense_queries(pl, p.weights);
    ntg_plan_destroy(pl);
    cr_assert_eq(ntg_plan_load_memory(buf, size, 0x80, &pl, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_plan_load_memory(NULL, 10, 0, &pl, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_plan_load_memory(buf, size, 0, NULL, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg_plan_load_memory(NULL, 0, 0, &pl, &err), NTG_ERR_PLAN);
    cr_assert_eq(ntg_plan_load_memory(buf, size, 0, &pl, NULL), NTG_OK);
    ntg_plan_destroy(pl);
    free(mis);
    ntg__aligned_free(buf);
}

/* ================================================================== round trips */

Test(runtime, plan_serialize_gives_identical_bytes)
{
    tp p;
    build_train(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *pl = load_ok(buf, size);
    void *data;
    size_t n;
    ntg_error err;
    cr_assert_eq(ntg_plan_serialize(pl, &data, &n, &err), NTG_OK);
    cr_assert_eq(n, size);
    cr_assert_eq(memcmp(data, buf, size), 0);
    cr_assert(ntg_plan_has_program(pl, "train_step"));
    cr_assert_eq(ntg__plan_program(pl, "train_step"), 1);
    cr_assert_eq(pl->programs[1].n_ops, 3u);
    cr_assert_eq(ntg__plan_io(pl, 1, 0, "target"), (uint32_t)T_TARGET);
    cr_assert_eq(ntg__plan_io(pl, 1, 1, "dense.bias.grad"), (uint32_t)T_DB);
    ntg_free(data);
    cr_assert_eq(ntg_plan_serialize(NULL, &data, &n, &err), NTG_ERR_INVALID_ARG);
    ntg_plan_destroy(pl);
    ntg__aligned_free(buf);
}

Test(runtime, plan_save_and_load_file)
{
    char dir[64], path[128], tmpname[160];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tiny.plan", dir);
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *pl = load_ok(buf, size), *pf;
    ntg_error err;
    cr_assert_eq(ntg_plan_save(pl, path, &err), NTG_OK, "%s", err.message);
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_eq(access(tmpname, F_OK), -1);
    size_t n;
    char *disk = tu_read_file(path, &n);
    cr_assert_eq(n, size);
    cr_assert_eq(memcmp(disk, buf, size), 0);
    free(disk);
    cr_assert_eq(ntg_plan_load_file(path, &pf, &err), NTG_OK, "%s", err.message);
    check_dense_queries(pf, p.weights);
    cr_assert_not_null(pf->map);
    /* a loaded file saves back byte for byte (over the old file) */
    cr_assert_eq(ntg_plan_save(pf, path, &err), NTG_OK, "%s", err.message);
    disk = tu_read_file(path, &n);
    cr_assert_eq(n, size);
    cr_assert_eq(memcmp(disk, buf, size), 0);
    free(disk);
    ntg_plan_destroy(pf);
    ntg_plan_destroy(pl);
    ntg__aligned_free(buf);
    rm_tree(dir);
}

Test(runtime, plan_save_failure_leaves_target_alone)
{
    char dir[64], path[128], tmpname[160];
    make_tmpdir(dir, sizeof dir);
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *pl = load_ok(buf, size);
    ntg_error err;

    /* the temporary file cannot be created: the existing file keeps its bytes */
    snprintf(path, sizeof path, "%s/existing.plan", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("old contents", f);
    fclose(f);
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_eq(mkdir(tmpname, 0700), 0);
    cr_assert_eq(ntg_plan_save(pl, path, &err), NTG_ERR_IO);
    cr_assert_str_eq(err.file, path);
    char *disk = tu_read_file(path, NULL);
    cr_assert_str_eq(disk, "old contents");
    free(disk);
    cr_assert_eq(rmdir(tmpname), 0);

    /* the rename fails (the target is a directory): the temporary file is removed */
    snprintf(path, sizeof path, "%s/adir", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_eq(ntg_plan_save(pl, path, &err), NTG_ERR_IO);
    cr_assert_not_null(strstr(err.message, path));
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_eq(access(tmpname, F_OK), -1);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));

    /* a missing directory */
    snprintf(path, sizeof path, "%s/no/such/dir/x.plan", dir);
    cr_assert_eq(ntg_plan_save(pl, path, &err), NTG_ERR_IO);
    cr_assert_eq(ntg_plan_save(NULL, path, &err), NTG_ERR_INVALID_ARG);
    ntg_plan_destroy(pl);
    ntg__aligned_free(buf);
    rm_tree(dir);
}

Test(runtime, plan_load_file_errors_name_the_path)
{
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    ntg_plan *pl = (ntg_plan *)(uintptr_t)1;
    ntg_error err;
    snprintf(path, sizeof path, "%s/missing.plan", dir);
    cr_assert_eq(ntg_plan_load_file(path, &pl, &err), NTG_ERR_IO);
    cr_assert_null(pl);
    cr_assert_str_eq(err.file, path);
    cr_assert_not_null(strstr(err.message, path));
    cr_assert_not_null(strstr(err.message, "cannot open"));

    snprintf(path, sizeof path, "%s/empty.plan", dir);
    FILE *f = fopen(path, "wb");
    fclose(f);
    /* an empty file is a truncated plan (NTG_ERR_PLAN), not an I/O failure */
    cr_assert_eq(ntg_plan_load_file(path, &pl, &err), NTG_ERR_PLAN);
    cr_assert_null(pl);
    cr_assert_str_eq(err.file, path);
    cr_assert(strstr(err.message, "header: file is empty (0 bytes), shorter than the"), "%s",
              err.message);
    cr_assert_eq(ntg_plan_load_file_ex(path, NTG_LOAD_COPY, &pl, &err), NTG_ERR_PLAN);
    cr_assert_eq(ntg_plan_load_file(dir, &pl, &err), NTG_ERR_IO);
    cr_assert_eq(ntg_plan_load_file_ex(path, 0x80u, &pl, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "unknown flags 0x80"), "%s", err.message);

    /* a truncated file: NTG_ERR_PLAN, named by its path */
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    snprintf(path, sizeof path, "%s/cut.plan", dir);
    f = fopen(path, "wb");
    fwrite(buf, 1, size - 100, f);
    fclose(f);
    cr_assert_eq(ntg_plan_load_file(path, &pl, &err), NTG_ERR_PLAN);
    cr_assert_null(pl);
    cr_assert_str_eq(err.file, path);
    cr_assert_not_null(strstr(err.message, path));
    cr_assert_not_null(strstr(err.message, "truncated"));
    cr_assert_not_null(strstr(err.message, "section 'weights'"), "%s", err.message);
    cr_assert_eq(ntg_plan_load_file_ex(path, NTG_LOAD_COPY, &pl, &err), NTG_ERR_PLAN);
    cr_assert_not_null(strstr(err.message, "section 'weights'"), "%s", err.message);
    cr_assert_eq(ntg_plan_load_file(NULL, &pl, &err), NTG_ERR_INVALID_ARG);
    ntg__aligned_free(buf);
    rm_tree(dir);
}

/* ============================================================ truncation, flips */

/* The place a file cut at `len` bytes is refused for. */
static void expected_cut(uint8_t *buf, size_t len, char *want, size_t cap)
{
    static const char *const names[] = {"",         "info",    "strings",  "meta",
                                        "tensors",  "ops",     "operands", "attrs",
                                        "programs", "indices", "weights"};
    uint32_t n = hdr(buf)->section_count;
    if (len < 64) {
        snprintf(want, cap, "header");
        return;
    }
    if (len < 64 + 32 * (size_t)n) {
        snprintf(want, cap, "section table is cut");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        ntg_plan_section *s = sec_at(buf, i);
        if (s->offset + s->bytes > len) {
            snprintf(want, cap, "section '%s' is cut", names[s->kind]);
            return;
        }
    }
    snprintf(want, cap, "truncated");
}

Test(runtime, plan_truncation_is_refused_naming_the_section)
{
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    char want[64];
    size_t limit = size < 512 ? size : 512;
    for (size_t len = 0; len < limit; len++) {
        expected_cut(buf, len, want, sizeof want);
        expect_refused(buf, len, NTG_ERR_PLAN, want);
    }
    for (uint32_t i = 0; i < hdr(buf)->section_count; i++) {
        ntg_plan_section *s = sec_at(buf, i);
        size_t cuts[4] = {(size_t)s->offset, (size_t)(s->offset + s->bytes / 2),
                          (size_t)(s->offset + s->bytes) - (s->bytes ? 1 : 0),
                          (size_t)(s->offset + s->bytes)};
        for (int c = 0; c < 4; c++) {
            if (cuts[c] >= size) continue;
            expected_cut(buf, cuts[c], want, sizeof want);
            expect_refused(buf, cuts[c], NTG_ERR_PLAN, want);
            expect_refused(buf, cuts[c], NTG_ERR_PLAN, "truncated");
        }
    }
    ntg__aligned_free(buf);
}

Test(runtime, plan_random_byte_flips_are_refused)
{
    tp p;
    build_train(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    uint8_t *c = exact_copy(buf, size);
    tu_rng r = {7};
    for (int k = 0; k < 2000; k++) {
        size_t at = (size_t)(tu_next(&r) % size);
        uint8_t x = (uint8_t)(1 + tu_next(&r) % 255);
        c[at] ^= x;
        ntg_plan *pl = NULL;
        ntg_error err;
        ntg_status st = ntg_plan_load_memory(c, size, NTG_LOAD_BORROW, &pl, &err);
        cr_assert(st == NTG_ERR_PLAN || st == NTG_ERR_VERSION,
                  "flip of byte %zu by 0x%02x: status %d", at, x, st);
        cr_assert_null(pl);
        c[at] ^= x;
    }
    ntg_plan *pl = load_ok(c, size);
    ntg_plan_destroy(pl);
    free(c);
    ntg__aligned_free(buf);
}

/* ============================================================ header, table */

/* Write the dense plan, let `patch` edit the bytes, recompute the CRCs and expect refusal. */
static void refuse_bytes(void (*patch)(uint8_t *buf, size_t *size), int crcs, ntg_status want,
                         const char *substr)
{
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    uint8_t *big = grow_copy(buf, size, 128);
    patch(big, &size);
    if (crcs) fix_crcs(big, size);
    expect_refused(big, size, want, substr);
    free(big);
    ntg__aligned_free(buf);
}

static void patch_version(uint8_t *b, size_t *n)
{
    (void)n;
    hdr(b)->version_major = 2;
}
static void patch_minor(uint8_t *b, size_t *n)
{
    (void)n;
    hdr(b)->version_minor = 7; /* accepted: but then the flags are not */
    hdr(b)->flags = 1;
}
static void patch_magic(uint8_t *b, size_t *n)
{
    (void)n;
    b[0] = 'X';
}
static void patch_header_bytes(uint8_t *b, size_t *n)
{
    (void)n;
    hdr(b)->header_bytes = 128;
}
static void patch_reserved(uint8_t *b, size_t *n)
{
    (void)n;
    hdr(b)->reserved[3] = 1;
}
static void patch_trailing(uint8_t *b, size_t *n)
{
    (void)b;
    *n += 64;
}
static void patch_table_at(uint8_t *b, size_t *n)
{
    (void)n;
    hdr(b)->section_table = 128;
}
static void patch_section_count(uint8_t *b, size_t *n)
{
    (void)n;
    hdr(b)->section_count = 65;
}
static void patch_misaligned(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_OPS)->offset += 8;
}
static void patch_in_table(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_INFO)->offset = 320;
}
static void patch_overlap(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_STRINGS)->offset = sec_kind(b, NTG_SEC_INFO)->offset;
}
static void patch_past_end(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_WEIGHTS)->bytes = UINT64_MAX - 10;
}
static void patch_kind_order(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_META)->kind = NTG_SEC_STRINGS;
}
static void patch_kind_zero(uint8_t *b, size_t *n)
{
    (void)n;
    sec_at(b, 0)->kind = 0;
}
static void patch_sec_flags(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_OPS)->flags = 4;
}
static void patch_padding(uint8_t *b, size_t *n)
{
    (void)n;
    ntg_plan_section *s = sec_kind(b, NTG_SEC_STRINGS);
    b[s->offset + s->bytes] = 1;
}
static void patch_tail(uint8_t *b, size_t *n)
{
    b[*n - 1] = 1;
}
static void patch_count(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_TENSORS)->count += 1;
}
static void patch_bytes_count(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_STRINGS)->count -= 1;
}
static void patch_info_size(uint8_t *b, size_t *n)
{
    (void)n;
    sec_kind(b, NTG_SEC_INFO)->count = 2;
}
static void patch_section_crc(uint8_t *b, size_t *n)
{
    (void)n;
    b[sec_kind(b, NTG_SEC_TENSORS)->offset + 5] ^= 0x10;
}

Test(runtime, plan_header_and_table_are_checked)
{
    refuse_bytes(patch_version, 1, NTG_ERR_VERSION,
                 "plan format version 2.0; this ntgraph reads 1.x");
    refuse_bytes(patch_version, 0, NTG_ERR_VERSION, "version 2.0");
    refuse_bytes(patch_minor, 1, NTG_ERR_PLAN, "header: unknown flags 0x1");
    refuse_bytes(patch_magic, 1, NTG_ERR_PLAN, "header: not a plan file");
    refuse_bytes(patch_header_bytes, 1, NTG_ERR_PLAN, "header: header_bytes is 128");
    refuse_bytes(patch_reserved, 0, NTG_ERR_PLAN, "header: CRC32C mismatch");
    refuse_bytes(patch_trailing, 1, NTG_ERR_PLAN, "trailing bytes");
    refuse_bytes(patch_table_at, 1, NTG_ERR_PLAN, "section table: at offset 128");
    refuse_bytes(patch_section_count, 1, NTG_ERR_PLAN, "section table: 65 sections, at most 64");
    refuse_bytes(patch_misaligned, 1, NTG_ERR_PLAN, "section 'ops': offset");
    refuse_bytes(patch_misaligned, 1, NTG_ERR_PLAN, "is not a multiple of 64");
    refuse_bytes(patch_in_table, 1, NTG_ERR_PLAN,
                 "section 'info': offset 320 lies inside the header and section table");
    refuse_bytes(patch_overlap, 1, NTG_ERR_PLAN, "section 'strings': offset");
    refuse_bytes(patch_overlap, 1, NTG_ERR_PLAN, "overlaps the previous section");
    refuse_bytes(patch_past_end, 1, NTG_ERR_PLAN, "section 'weights'");
    refuse_bytes(patch_past_end, 1, NTG_ERR_PLAN, "run past the end of the file");
    refuse_bytes(patch_kind_order, 1, NTG_ERR_PLAN, "kinds must ascend");
    refuse_bytes(patch_kind_zero, 1, NTG_ERR_PLAN, "entry 0 has kind 0");
    refuse_bytes(patch_sec_flags, 1, NTG_ERR_PLAN, "section 'ops': unknown flags 0x4");
    refuse_bytes(patch_padding, 1, NTG_ERR_PLAN, "section 'meta': non-zero padding");
    refuse_bytes(patch_tail, 1, NTG_ERR_PLAN, "non-zero bytes after the last section");
    refuse_bytes(patch_count, 1, NTG_ERR_PLAN, "section 'tensors': 256 bytes do not hold 5");
    refuse_bytes(patch_bytes_count, 1, NTG_ERR_PLAN, "section 'strings': count is");
    refuse_bytes(patch_info_size, 1, NTG_ERR_PLAN, "section 'info': 64 bytes in 2 records");
    refuse_bytes(patch_section_crc, 0, NTG_ERR_PLAN, "section 'tensors': CRC32C mismatch");
}

Test(runtime, plan_required_sections_and_unknown_kinds)
{
    tp p;
    build_relu(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    uint32_t n = hdr(buf)->section_count;
    cr_assert_eq(n, 9u);
    cr_assert_eq(sec_at(buf, n - 1)->kind, (uint32_t)NTG_SEC_INDICES);

    /* a required section turned into an unknown kind is skipped, then missed */
    uint8_t *c = exact_copy(buf, size);
    sec_at(c, n - 1)->kind = 99;
    fix_crcs(c, size);
    expect_refused(c, size, NTG_ERR_PLAN, "section 'indices' is missing");
    free(c);

    /* an unknown section (a later minor version's) is skipped after its CRC check: the
     * ninth table entry fits in the padding before the first section */
    cr_assert_geq(sec_at(buf, 0)->offset, 64u + 32u * 10);
    size_t big = size + 64;
    c = grow_copy(buf, size, 64);
    memcpy(c + size, "future data", 11);
    ntg_plan_section *s = sec_at(c, n);
    memset(s, 0, sizeof *s);
    s->kind = 42;
    s->offset = size;
    s->bytes = 11;
    s->count = 1;
    hdr(c)->section_count = n + 1;
    hdr(c)->file_bytes = big;
    fix_crcs(c, big);
    ntg_plan *pl = NULL;
    ntg_error err;
    cr_assert_eq(ntg_plan_load_memory(c, big, 0, &pl, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg_plan_meta(pl, "model.name"), "relu");
    ntg_plan_destroy(pl);
    c[size + 3] ^= 1;
    expect_refused(c, big, NTG_ERR_PLAN, "section of kind 42: CRC32C mismatch");
    free(c);
    ntg__aligned_free(buf);
}

/* ============================================================ info, strings */

static void e_unterminated(tp *p)
{
    p->strings[p->strings_bytes - 1] = 'x';
}
static void e_strings_start(tp *p)
{
    p->strings[0] = 'x';
}
static void e_strings_empty(tp *p)
{
    p->strings_bytes = 0;
}
static void e_max_batch0(tp *p)
{
    p->info.max_batch = 0;
}
static void e_max_batch_big(tp *p)
{
    p->info.max_batch = (1u << 20) + 1;
}
static void e_weights_size(tp *p)
{
    p->info.storage_bytes[NTG_STORE_WEIGHTS] = 128;
}
static void e_arena_huge(tp *p)
{
    p->info.storage_bytes[NTG_STORE_ARENA] = 1ull << 40;
}
static void e_state_huge(tp *p)
{
    p->info.storage_bytes[NTG_STORE_STATE] = UINT64_MAX;
}
static void e_storage0(tp *p)
{
    p->info.storage_bytes[NTG_STORE_NONE] = 64;
}
static void e_n_params(tp *p)
{
    p->info.n_params = 3;
}
static void e_param_elements(tp *p)
{
    p->info.param_elements = 17;
}

Test(runtime, plan_info_and_strings_are_checked)
{
    refuse_edit(build_dense, e_unterminated, "section 'strings': the last string is unterminated");
    refuse_edit(build_dense, e_strings_start, "section 'strings': byte 0 is not NUL");
    refuse_edit(build_dense, e_strings_empty, "section 'strings': empty");
    refuse_edit(build_dense, e_max_batch0, "section 'info': max_batch 0 is outside [1, 1048576]");
    refuse_edit(build_dense, e_max_batch_big, "max_batch 1048577 is outside");
    refuse_edit(build_dense, e_weights_size,
                "section 'info': weights storage is 128 bytes, but section 'weights' has 76");
    refuse_edit(build_dense, e_arena_huge, "section 'info': arena of 1099511627776 bytes");
    refuse_edit(build_dense, e_state_huge, "section 'info': state storage");
    refuse_edit(build_dense, e_storage0, "storage 0 holds no memory");
    refuse_edit(build_dense, e_n_params, "section 'info': n_params is 3, but 2 tensors");
    refuse_edit(build_dense, e_param_elements, "param_elements is 17, but the parameters hold 18");
}

/* ================================================================== tensors */

static void e_offset_beyond(tp *p)
{
    p->tensors[T_W].offset = 128;
}
static void e_arena_beyond(tp *p)
{
    p->tensors[T_Y].offset = 192;
}
static void e_dims_overflow(tp *p)
{
    ntg_tensor_rec *t = &p->tensors[T_W];
    t->rank = 6;
    for (int d = 0; d < 6; d++) t->dims[d] = 0x7fffffffu;
}
static void e_dim_too_big(tp *p)
{
    p->tensors[T_W].dims[1] = 0x80000000u;
}
static void e_dim_zero(tp *p)
{
    p->tensors[T_B].dims[0] = 0;
}
static void e_rank7(tp *p)
{
    p->tensors[T_Y].rank = 7;
}
static void e_dtype(tp *p)
{
    p->tensors[T_Y].dtype = 9;
}
static void e_role(tp *p)
{
    p->tensors[T_Y].role = 8;
}
static void e_storage(tp *p)
{
    p->tensors[T_Y].storage = 4;
}
static void e_tflags(tp *p)
{
    p->tensors[T_Y].flags |= 0x80;
}
static void e_batch_dim(tp *p)
{
    p->tensors[T_X].dims[0] = 8;
    p->tensors[T_X].nbytes = 160;
}
static void e_batched_scalar(tp *p)
{
    p->tensors[T_B].rank = 0;
    p->tensors[T_B].flags = NTG_TF_BATCHED;
}
static void e_nbytes(tp *p)
{
    p->tensors[T_Y].nbytes = 64;
}
static void e_toffset_align(tp *p)
{
    p->tensors[T_Y].offset = 100;
}
static void e_param_in_arena(tp *p)
{
    p->tensors[T_B].storage = NTG_STORE_ARENA;
}
static void e_activation_in_weights(tp *p)
{
    p->tensors[T_Y].storage = NTG_STORE_WEIGHTS;
    p->tensors[T_Y].offset = 0;
}
static void e_link(tp *p)
{
    p->tensors[T_Y].link = 4;
}
static void e_dup_name(tp *p)
{
    p->tensors[T_Y].name = p->tensors[T_X].name;
}
static void e_name_range(tp *p)
{
    p->tensors[T_Y].name = 5000;
}
static void e_no_name(tp *p)
{
    p->tensors[T_Y].name = 0;
}
static void e_none_offset(tp *p)
{
    p->tensors[T_Y].storage = NTG_STORE_NONE;
}

Test(runtime, plan_tensors_are_checked)
{
    refuse_edit(build_dense, e_offset_beyond,
                "section 'tensors': tensor 1 'dense.weight': offset 128 + 60 bytes exceeds "
                "weights storage (76 bytes)");
    refuse_edit(build_dense, e_arena_beyond,
                "tensor 3 'y': offset 192 + 48 bytes exceeds arena storage (192 bytes)");
    refuse_edit(build_dense, e_dims_overflow,
                "tensor 1 'dense.weight': the element count of its shape overflows");
    refuse_edit(build_dense, e_dim_too_big,
                "tensor 1 'dense.weight': dimension 1 is 2147483648; dimensions must be in "
                "[1, 2^31)");
    refuse_edit(build_dense, e_dim_zero, "tensor 2 'dense.bias': dimension 0 is 0");
    refuse_edit(build_dense, e_rank7, "section 'tensors': tensor 3 'y': rank 7 exceeds 6");
    refuse_edit(build_dense, e_dtype, "tensor 3 'y': unknown dtype 9");
    refuse_edit(build_dense, e_role, "tensor 3 'y': unknown role 8");
    refuse_edit(build_dense, e_storage, "tensor 3 'y': unknown storage 4");
    refuse_edit(build_dense, e_tflags, "tensor 3 'y': unknown flags 0x80");
    refuse_edit(build_dense, e_batch_dim,
                "tensor 0 'x': batched but dimension 0 is 8, not max_batch 4");
    refuse_edit(build_dense, e_batched_scalar, "tensor 2 'dense.bias': batched but of rank 0");
    refuse_edit(build_dense, e_nbytes,
                "tensor 3 'y': nbytes is 64, but float32 [batch, 3] needs 48");
    refuse_edit(build_dense, e_toffset_align, "tensor 3 'y': offset 100 is not a multiple of 64");
    refuse_edit(build_dense, e_param_in_arena,
                "tensor 2 'dense.bias': a parameter must live in weights storage, not arena");
    refuse_edit(build_dense, e_activation_in_weights,
                "tensor 3 'y': only parameters and constants live in weights storage");
    refuse_edit(build_dense, e_link, "tensor 3 'y': link 4 is not a tensor id");
    refuse_edit(build_dense, e_dup_name,
                "section 'tensors': tensor 3 'x': duplicate name (also tensor 0)");
    refuse_edit(build_dense, e_name_range, "tensor 3: name offset 5000 is outside the string");
    refuse_edit(build_dense, e_no_name, "tensor 3 has no name");
    refuse_edit(build_dense, e_none_offset, "tensor 3 'y': has no storage but offset 128");
}

/* ====================================================================== ops */

static void e_op_code(tp *p)
{
    p->ops[0].code = 200;
}
static void e_operand_id(tp *p)
{
    p->operands[1] = 99;
}
static void e_operand_none(tp *p)
{
    p->operands[0] = NTG_NONE;
}
static void e_shape_mismatch(tp *p)
{
    p->tensors[T_W].dims[1] = 6;
    p->tensors[T_W].nbytes = 72;
    p->info.param_elements = 21;
}
static void e_out_shape(tp *p)
{
    ntg_tensor_rec *y = &p->tensors[T_Y];
    y->dims[1] = 4;
    y->nbytes = 64;
}
static void e_overlap(tp *p)
{
    p->tensors[T_Y].offset = 64;
}
static void e_same_tensor(tp *p)
{
    p->operands[3] = T_X;
}
static void e_dir(tp *p)
{
    p->ops[0].dir = 2;
}
static void e_op_flags(tp *p)
{
    p->ops[0].flags = 1;
}
static void e_loc(tp *p)
{
    p->ops[0].loc = 4000;
}
static void e_operand_range(tp *p)
{
    p->ops[0].operands = 2;
}
static void e_n_in(tp *p)
{
    p->ops[0].n_in = 4;
    p->ops[0].n_out = 0;
}
static void e_n_out(tp *p)
{
    p->ops[0].n_in = 2;
    p->ops[0].n_out = 2;
}
static void e_attr_range(tp *p)
{
    p->ops[0].attrs = 1;
}
static void e_attr_few(tp *p)
{
    p->ops[0].n_attr = 2;
}
static void e_attr_enum(tp *p)
{
    p->attrs[NTG_DENSE_ACT].i = 9;
}
static void e_no_bias(tp *p)
{
    p->attrs[NTG_DENSE_BIAS].i = 0;
}
static void e_none_storage(tp *p)
{
    p->tensors[T_Y].storage = NTG_STORE_NONE;
    p->tensors[T_Y].offset = 0;
}
static void e_writes_weights(tp *p)
{
    /* a constant output: an ordinary op may not write the mapped weights */
    ntg_tensor_rec *y = &p->tensors[T_Y];
    y->role = NTG_ROLE_CONST;
    y->storage = NTG_STORE_WEIGHTS;
    y->offset = 0;
    y->flags = 0;
    y->dims[0] = 1;
    y->nbytes = 12;
    p->tensors[T_X].flags = 0;
    p->tensors[T_X].dims[0] = 1;
    p->tensors[T_X].nbytes = 20;
}

Test(runtime, plan_ops_are_checked)
{
    refuse_edit(build_dense, e_op_code,
                "section 'ops': op 0: unknown op code 200 (this ntgraph knows");
    refuse_edit(build_dense, e_operand_id,
                "section 'ops': op 0 'dense' (tiny.yaml:7:5): operand 1 (input 1) is tensor id "
                "99; the plan has 4 tensors");
    refuse_edit(build_dense, e_operand_none, "operand 0 (input 0) is absent; only gradients");
    refuse_edit(build_dense, e_shape_mismatch,
                "op 0 'dense' (tiny.yaml:7:5): dense: weight [3, 6] does not fit input "
                "[batch, 5]");
    refuse_edit(build_dense, e_out_shape,
                "output 0 'y' is float32 [batch, 4], but the shape rule gives float32 "
                "[batch, 3]");
    refuse_edit(build_dense, e_overlap,
                "op 0 'dense' (tiny.yaml:7:5): output 0 'y' overlaps input 0 'x' in arena "
                "storage (bytes 64..112 and 0..80)");
    refuse_edit(build_dense, e_same_tensor, "output 0 'x'");
    refuse_edit(build_dense, e_dir, "direction 2 is neither 0 (forward) nor 1 (backward)");
    refuse_edit(build_dense, e_op_flags, "op 0 'dense' (tiny.yaml:7:5): unknown flags 0x1");
    refuse_edit(build_dense, e_loc, "op 0 'dense': location offset 4000 is outside");
    refuse_edit(build_dense, e_operand_range,
                "operands 2..6 lie outside section 'operands' (4 entries)");
    refuse_edit(build_dense, e_n_in, "has 4 inputs; 'dense' takes 2 to 3");
    refuse_edit(build_dense, e_n_out, "has 2 outputs; 'dense' gives 1 to 1");
    refuse_edit(build_dense, e_attr_range,
                "attribute slots 1..4 lie outside section 'attrs' (3 slots)");
    refuse_edit(build_dense, e_attr_few, "op 'dense' has 2 attribute slots, needs 3");
    refuse_edit(build_dense, e_attr_enum, "attribute 'activation' of op 'dense' has no value 9");
    refuse_edit(build_dense, e_no_bias, "dense: expected 2 operands");
    refuse_edit(build_dense, e_none_storage, "output 0 'y' has no storage");
    refuse_edit(build_dense, e_writes_weights,
                "output 0 'y' lives in weights storage, which only in-place (optimizer) ops "
                "write");
}

/* ======================================================== backward records */

static void e_bwd_grad_shape(tp *p)
{
    ntg_tensor_rec *g = &p->tensors[T_DW];
    g->dims[1] = 4;
    g->nbytes = 48;
}
static void e_bwd_saved(tp *p)
{
    p->ops[2].saved = 0x1;
}
static void e_bwd_fwd_none(tp *p)
{
    p->operands[p->ops[2].operands + 1] = NTG_NONE;
}
static void e_bwd_overlap(tp *p)
{
    p->tensors[T_DB].offset = 0; /* onto x, which the kernel reads */
}
static void e_bwd_overlap_unsaved(tp *p)
{
    p->tensors[T_DB].offset = 128; /* onto y, whose value it does not read: fine */
}
static void e_bwd_counts(tp *p)
{
    p->ops[2].n_in = 4;
    p->ops[2].n_out = 3;
    p->operands[p->ops[2].operands + 4] = T_DW;
    p->operands[p->ops[2].operands + 5] = T_DB;
}
static void e_bwd_fwd_out(tp *p)
{
    p->operands[p->ops[2].operands + 3] = T_X; /* not the forward op's output */
}

Test(runtime, plan_backward_records_are_checked)
{
    tp p;
    build_train(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *pl = load_ok(buf, size);
    cr_assert_eq(pl->view.ops[2].dir, NTG_DIR_BWD);
    ntg_plan_destroy(pl);
    ntg__aligned_free(buf);

    refuse_edit(build_train, e_bwd_grad_shape,
                "op 2 'dense' backward (tiny.yaml:7:5): gradient of forward input 1 "
                "'dense.weight.grad' is float32 [3, 4], but its forward value is float32 [3, 5]");
    refuse_edit(build_train, e_bwd_saved,
                "backward record keeps forward values 0x1, but its "
                "kernel reads 0x3");
    refuse_edit(build_train, e_bwd_fwd_none, "operand 1 (forward input 1) is absent");
    refuse_edit(build_train, e_bwd_overlap,
                "gradient of forward input 2 'dense.bias.grad' overlaps forward input 0 'x'");
    refuse_edit(build_train, e_bwd_counts, "backward record has 4 inputs for 3 forward inputs");
    refuse_edit(build_train, e_bwd_fwd_out,
                "forward output 0 'x' is float32 [batch, 5], but the shape rule gives float32 "
                "[batch, 3]");

    /* a backward gradient may reuse the memory of a forward value it does not read */
    build_train(&p);
    e_bwd_overlap_unsaved(&p);
    buf = tp_write(&p, &size);
    pl = load_ok(buf, size);
    ntg_plan_destroy(pl);
    ntg__aligned_free(buf);
}

/* ================================================================= programs */

static void e_no_infer(tp *p)
{
    p->programs[0].name = S(p, "eval");
}
static void e_dup_program(tp *p)
{
    p->programs[1].name = p->programs[0].name;
}
static void e_prog_op(tp *p)
{
    p->indices[p->programs[0].ops] = 7;
}
static void e_prog_list(tp *p)
{
    p->programs[0].outputs = 60;
}
static void e_prog_ops_list(tp *p)
{
    p->programs[0].n_ops = 100;
}
static void e_prog_io_id(tp *p)
{
    p->indices[p->programs[0].inputs] = 4;
}
static void e_prog_dup_input(tp *p)
{
    p->indices[p->programs[1].inputs + 1] = T_X;
}
static void e_prog_weights_input(tp *p)
{
    p->indices[p->programs[0].inputs] = T_W;
}
static void e_prog_peak(tp *p)
{
    p->programs[0].arena_peak = 193;
}
static void e_prog_name(tp *p)
{
    p->programs[0].name = 0;
}
static void e_meta_key(tp *p)
{
    p->meta[1].key = 3000;
}
static void e_meta_value(tp *p)
{
    p->meta[2].value = (uint32_t)p->strings_bytes;
}

Test(runtime, plan_programs_and_meta_are_checked)
{
    refuse_edit(build_dense, e_no_infer, "section 'programs': no program named 'infer'");
    refuse_edit(build_train, e_dup_program,
                "section 'programs': program 1 'infer': duplicate name (also program 0)");
    refuse_edit(build_dense, e_prog_op,
                "program 0 'infer': entry 0 of its op list is op 7; the plan has 1 ops");
    refuse_edit(build_dense, e_prog_list, "its output list 60..61 lies outside section 'indices'");
    refuse_edit(build_dense, e_prog_ops_list, "its op list 0..100 lies outside section 'indices'");
    refuse_edit(build_dense, e_prog_io_id, "input 0 is tensor id 4; the plan has 4 tensors");
    refuse_edit(build_train, e_prog_dup_input,
                "program 1 'train_step': tensor 'x' is listed twice among its inputs");
    refuse_edit(build_dense, e_prog_weights_input,
                "input 0 'dense.weight' lives in weights storage, which is read-only");
    refuse_edit(build_dense, e_prog_peak, "arena_peak 193 exceeds the arena (192 bytes)");
    refuse_edit(build_dense, e_prog_name, "program 0 has no name");
    refuse_edit(build_dense, e_meta_key, "section 'meta': entry 1: key offset 3000");
    refuse_edit(build_dense, e_meta_value, "section 'meta': entry 2: value offset");
}

/* NTG_LOAD_COPY: the plan holds its own copy, so the file may be rewritten in place (what a
 * mapped plan must not see) and even removed while the plan keeps its values. */
Test(runtime, plan_load_copy_survives_the_file_being_rewritten)
{
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    tp p;
    build_dense(&p);
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    snprintf(path, sizeof path, "%s/copy.plan", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
    ntg_plan *mapped = NULL, *copied = NULL;
    ntg_error err;
    cr_assert_eq(ntg_plan_load_file(path, &mapped, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg_plan_load_file_ex(path, NTG_LOAD_COPY, &copied, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(ntg_plan_param_count(copied), ntg_plan_param_count(mapped));
    size_t n = ntg_plan_param_count(copied);
    cr_assert_gt(n, 0);
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    cr_assert_eq(ntg_plan_param(copied, 0, &ti, NULL), NTG_OK);
    float *want = malloc(ti.nbytes);
    cr_assert(want);
    memcpy(want, ntg_plan_param_data(copied, 0), ti.nbytes);
    cr_assert_eq(memcmp(want, ntg_plan_param_data(mapped, 0), ti.nbytes), 0);
    ntg_plan_destroy(mapped);
    /* rewrite every byte in place (same size, so no page goes away), then remove it */
    f = fopen(path, "r+b");
    memset(buf, 0x5a, size);
    cr_assert_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(memcmp(want, ntg_plan_param_data(copied, 0), ti.nbytes), 0,
                 "the copied plan still has the values it loaded");
    free(want);
    ntg_plan_destroy(copied);
    ntg__aligned_free(buf);
    rm_tree(dir);
}

/* A 50 KB plan that declared a 5 GB arena was accepted (anything below 2^40) and a
 * session then allocated and zeroed all of it. Declared arena and state sizes may pass
 * the end of their last tensor (rounded to 64) by at most 4 KiB. */
static void e_arena_5gb(tp *p)
{
    p->info.storage_bytes[NTG_STORE_ARENA] = (uint64_t)5 << 30;
}
static void e_state_unused(tp *p)
{
    p->info.storage_bytes[NTG_STORE_STATE] = (uint64_t)1 << 30;
}
static void e_arena_slack_plus_one(tp *p)
{
    p->info.storage_bytes[NTG_STORE_ARENA] = 192 + 4096 + 64;
}

Test(runtime, plan_declared_storage_must_fit_its_tensors)
{
    refuse_edit(build_dense, e_arena_5gb,
                "section 'info': arena storage is declared as 5368709120 bytes, but its tensors "
                "use 192 (at most 4096 more is allowed)");
    refuse_edit(build_dense, e_state_unused,
                "section 'info': state storage is declared as 1073741824 bytes, but its tensors "
                "use 0");
    refuse_edit(build_dense, e_arena_slack_plus_one, "arena storage is declared as 4352 bytes");
    /* within the slack: loads */
    tp p;
    build_dense(&p);
    p.info.storage_bytes[NTG_STORE_ARENA] = 192 + 4096;
    size_t size;
    uint8_t *buf = tp_write(&p, &size);
    ntg_plan *plan = load_ok(buf, size);
    cr_assert_eq(ntg_plan_arena_bytes(plan), 192 + 4096);
    ntg_plan_destroy(plan);
    ntg__aligned_free(buf);
}
