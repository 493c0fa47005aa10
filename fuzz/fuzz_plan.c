/* fuzz_plan.c — libFuzzer target: the plan.bin loader on arbitrary bytes (see fuzz/README.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exog.h"
#include "model_io.h"
#include "ntgraph.h"
#include "op_attrs.h"
#include "plan_format.h"
#include "plan_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch everything a loaded plan hands out, so a view that points outside the bytes shows
 * up under ASan here rather than in a kernel later. */
static unsigned exercise(const ntg_plan *p)
{
    unsigned acc = 0;
    ntg_tensor_info ti;
    ntg_tensor_info_init(&ti);
    for (size_t i = 0; i < ntg_plan_input_count(p); i++)
        if (ntg_plan_input(p, i, &ti, NULL) == NTG_OK) {
            acc += (unsigned)strlen(ti.name);
            acc += ntg__plan_io(p, p->infer_program, 0, ti.name) != NTG_NONE;
        }
    for (size_t i = 0; i < ntg_plan_output_count(p); i++)
        if (ntg_plan_output(p, i, &ti, NULL) == NTG_OK) acc += (unsigned)strlen(ti.name);
    for (size_t i = 0; i < ntg_plan_param_count(p); i++) {
        const uint8_t *w = ntg_plan_param_data(p, i);
        if (ntg_plan_param(p, i, &ti, NULL) != NTG_OK || !w) continue;
        for (size_t b = 0; b < ti.nbytes; b += 61) acc += w[b];
        acc += w[ti.nbytes - 1];
    }
    for (size_t i = 0; i < ntg_plan_meta_count(p); i++) {
        const char *k, *v;
        if (ntg_plan_meta_at(p, i, &k, &v, NULL) == NTG_OK)
            acc += (unsigned)(strlen(k) + strlen(v));
    }
    const ntg_plan_view *vw = &p->view;
    for (uint32_t i = 0; i < vw->n_programs; i++) {
        acc += (unsigned)strlen(vw->programs[i].name);
        for (uint32_t j = 0; j < vw->programs[i].n_ops; j++) {
            const ntg_op_rec *op = &vw->ops[vw->programs[i].ops[j]];
            for (uint32_t k = 0; k < (uint32_t)op->n_in + op->n_out; k++) {
                uint32_t id = vw->operands[op->operands + k];
                if (id != NTG_NONE) acc += vw->tensors[id].rank;
            }
            for (uint32_t k = 0; k < op->n_attr; k++) acc += (unsigned)vw->attrs[op->attrs + k].i;
            acc += (unsigned)strlen(vw->strings + op->loc);
        }
    }
    acc += (unsigned)ntg_plan_max_batch(p) + (unsigned)ntg_plan_arena_bytes(p);
    acc += (unsigned)ntg_plan_param_elements(p) + (unsigned)ntg_plan_has_program(p, "eval");
    acc += ntg_plan_meta(p, "model.name") != NULL;
    /* the metadata readers behind forecasting: inputs/outputs, quantile or distribution head,
     * conformal widths, covariate specs and their normalizers (all strings from the file) */
    ntg_model_io io;
    if (ntg__model_io(p, &io, NULL) == NTG_OK) {
        acc += (unsigned)io.nq;
        double *w = NULL;
        if (io.conformal && ntg__model_conformal_widths(p, &io, &w, NULL) == NTG_OK) {
            acc += w != NULL;
            free(w);
        }
        ntg_exog *ex = NULL;
        if (ntg__exog_from_plan(p, &ex, NULL) == NTG_OK) {
            acc += ntg__exog_check_io(ex, &io, NULL) == NTG_OK;
            ntg__exog_free(ex);
        }
    }
    return acc;
}

/* A loaded plan serialises to exactly its bytes and loads again. */
static void round_trip(const ntg_plan *p, const uint8_t *bytes, size_t size)
{
    void *out;
    size_t n;
    ntg_plan *q = NULL;
    if (ntg_plan_serialize(p, &out, &n, NULL) != NTG_OK) return;
    if (n != size || memcmp(out, bytes, n) != 0) __builtin_trap();
    if (ntg_plan_load_memory(out, n, 0, &q, NULL) != NTG_OK) __builtin_trap();
    ntg_plan_destroy(q);
    ntg_free(out);
}

/* Make the header and every CRC agree with the bytes, so that mutations get past the
 * checksums to the structural checks behind them. */
static void fix_up(uint8_t *b, size_t size)
{
    ntg_plan_header h;
    memcpy(&h, b, sizeof h);
    h.file_bytes = size;
    memcpy(b, &h, sizeof h);
    uint64_t n = h.section_count < 64 ? h.section_count : 64;
    for (uint64_t i = 0; i < n && 64 + 32 * (i + 1) <= size; i++) {
        ntg_plan_section s;
        memcpy(&s, b + 64 + 32 * i, sizeof s);
        if (s.offset > size || s.bytes > size - s.offset) continue;
        s.crc = ntg__crc32c(0, b + s.offset, (size_t)s.bytes);
        memcpy(b + 64 + 32 * i, &s, sizeof s);
    }
    h.header_crc = ntg__crc32c(0, b, offsetof(ntg_plan_header, header_crc));
    memcpy(b, &h, sizeof h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ntg_plan *p = NULL;
    ntg_error err;
    volatile unsigned sink = 0;
    /* as given: almost always a CRC error, which is what a corrupted file is */
    if (ntg_plan_load_memory(data, size, 0, &p, &err) == NTG_OK) {
        sink += exercise(p);
        round_trip(p, data, size);
        ntg_plan_destroy(p);
    }
    if (size < sizeof(ntg_plan_header)) return 0;
    /* checksums fixed up, borrowed in place from a buffer of exactly `size` bytes so ASan
     * sees any read past its end */
    void *c = NULL;
    if (posix_memalign(&c, NTG_PLAN_ALIGN, size) != 0) return 0;
    memcpy(c, data, size);
    fix_up(c, size);
    if (ntg_plan_load_memory(c, size, NTG_LOAD_BORROW, &p, &err) == NTG_OK) {
        sink += exercise(p);
        round_trip(p, c, size);
        ntg_plan_destroy(p);
    }
    free(c);
    (void)sink;
    return 0;
}

#ifdef NTG_FUZZ_SEED_MAIN
/* Seed corpus: a small valid plan (x -> dense -> y), written into the directory argv[1].
 * fuzz/build.sh builds and runs this for every target that has such a main. */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    ntg_strtab *st = ntg__strtab_create();
    if (!st) return 1;
    ntg_tensor_rec t[4];
    memset(t, 0, sizeof t);
    static const char *const names[4] = {"x", "dense.weight", "dense.bias", "y"};
    static const uint32_t dims[4][2] = {{4, 5}, {3, 5}, {3, 0}, {4, 3}};
    static const uint8_t rank[4] = {2, 2, 1, 2}, role[4] = {1, 3, 3, 2}, store[4] = {1, 2, 2, 1};
    static const uint64_t off[4] = {0, 0, 64, 128};
    for (int i = 0; i < 4; i++) {
        t[i].name = ntg__strtab_add(st, names[i]);
        t[i].dtype = NTG_DTYPE_F32;
        t[i].rank = rank[i];
        t[i].role = role[i];
        t[i].flags = (i == 0 || i == 3) ? NTG_TF_BATCHED : 0;
        t[i].dims[0] = dims[i][0];
        t[i].dims[1] = dims[i][1];
        t[i].storage = store[i];
        t[i].link = NTG_NONE;
        t[i].offset = off[i];
        t[i].nbytes = 4ull * dims[i][0] * (rank[i] == 2 ? dims[i][1] : 1);
    }
    ntg_attr attrs[3];
    attrs[NTG_DENSE_UNITS].i = 3;
    attrs[NTG_DENSE_ACT].i = NTG_ACT_RELU;
    attrs[NTG_DENSE_BIAS].i = 1;
    uint32_t operands[4] = {0, 1, 2, 3}, indices[3] = {0, 0, 3};
    ntg_op_rec op;
    memset(&op, 0, sizeof op);
    op.code = NTG_OP_dense;
    op.loc = ntg__strtab_add(st, "seed.yaml:1:1");
    op.n_in = 3;
    op.n_out = 1;
    op.n_attr = 3;
    ntg_program_rec prog;
    memset(&prog, 0, sizeof prog);
    prog.name = ntg__strtab_add(st, "infer");
    prog.n_ops = 1;
    prog.inputs = 1;
    prog.n_inputs = 1;
    prog.outputs = 2;
    prog.n_outputs = 1;
    prog.arena_peak = 192;
    ntg_meta_rec meta = {ntg__strtab_add(st, "model.name"), ntg__strtab_add(st, "seed")};
    static uint8_t weights[76];
    for (size_t i = 0; i < sizeof weights; i++) weights[i] = (uint8_t)(i * 7);

    ntg_plan_image img;
    memset(&img, 0, sizeof img);
    img.info.max_batch = 4;
    img.info.n_params = 2;
    img.info.storage_bytes[NTG_STORE_ARENA] = 192;
    img.info.storage_bytes[NTG_STORE_WEIGHTS] = sizeof weights;
    img.info.param_elements = 18;
    img.strings = ntg__strtab_data(st, &img.strings_bytes);
    img.meta = &meta;
    img.n_meta = 1;
    img.tensors = t;
    img.n_tensors = 4;
    img.ops = &op;
    img.n_ops = 1;
    img.operands = operands;
    img.n_operands = 4;
    img.attrs = attrs;
    img.n_attrs = 3;
    img.programs = &prog;
    img.n_programs = 1;
    img.indices = indices;
    img.n_indices = 3;
    img.weights = weights;
    img.weights_bytes = sizeof weights;

    void *buf;
    size_t size;
    ntg_error err;
    ntg_plan *p;
    if (ntg__plan_write(&img, &buf, &size, &err) != NTG_OK ||
        ntg_plan_load_memory(buf, size, 0, &p, &err) != NTG_OK) {
        fprintf(stderr, "seed plan: %s\n", err.message);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-dense.plan", argv[1]);
    int rc = ntg_plan_save(p, path, &err) == NTG_OK ? 0 : 1;
    if (rc) fprintf(stderr, "%s\n", err.message);
    ntg_plan_destroy(p);
    ntg__aligned_free(buf);
    ntg__strtab_destroy(st);
    return rc;
}
#endif
