/* test_compiler_memplan.c — an independent check of memory plans: no two tensors live at the
 * same time share bytes, for every graph in graphs/. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <string.h>

#include "ntgraph.h"
#include "plan_int.h"
#include "testutil.h"

/* Re-derives liveness from the plan file alone (not from the compiler's planner): a
 * tensor is live from the step that writes it (inputs: from the start) to the last
 * step that reads its value (program outputs: to the end). */
static void check_plan(const ntg_plan *p, const char *what)
{
    const ntg_plan_image *im = &p->img;
    for (uint32_t g = 0; g < im->n_programs; g++) {
        const ntg_program_rec *pr = &im->programs[g];
        int32_t *first = malloc(im->n_tensors * sizeof *first);
        int32_t *last = malloc(im->n_tensors * sizeof *last);
        cr_assert(first && last);
        for (uint32_t t = 0; t < im->n_tensors; t++) first[t] = last[t] = -1;
        int32_t end = (int32_t)pr->n_ops;
#define TOUCH(t, k)                                                                                \
    do {                                                                                           \
        if (first[t] < 0 || (k) < first[t]) first[t] = (k);                                        \
        if ((k) > last[t]) last[t] = (k);                                                          \
    } while (0)
        for (uint32_t i = 0; i < pr->n_inputs; i++) {
            uint32_t t = im->indices[pr->inputs + i];
            TOUCH(t, 0);
            TOUCH(t, end);
        }
        for (uint32_t k = 0; k < pr->n_ops; k++) {
            const ntg_op_rec *op = &im->ops[im->indices[pr->ops + k]];
            int nfi = op->n_out, nfo = (op->n_in - op->n_out) / 2;
            for (int i = 0; i < op->n_in + op->n_out; i++) {
                uint32_t t = im->operands[op->operands + (uint32_t)i];
                if (t == NTG_NONE) continue;
                if (op->dir == NTG_DIR_BWD && i < nfi + nfo) {
                    int bit = i < nfi ? i : 16 + (i - nfi);
                    if (!((op->saved >> bit) & 1u)) continue;
                }
                TOUCH(t, (int32_t)k);
            }
        }
        for (uint32_t i = 0; i < pr->n_outputs; i++) {
            uint32_t t = im->indices[pr->outputs + i];
            TOUCH(t, end);
        }
#undef TOUCH
        uint64_t arena = im->info.storage_bytes[NTG_STORE_ARENA];
        for (uint32_t a = 0; a < im->n_tensors; a++) {
            const ntg_tensor_rec *ta = &im->tensors[a];
            if (ta->storage != NTG_STORE_ARENA || first[a] < 0) continue;
            cr_assert_leq(ta->offset + ta->nbytes, arena, "%s: tensor %s beyond the arena", what,
                          ntg__plan_str(p, ta->name));
            for (uint32_t b = a + 1; b < im->n_tensors; b++) {
                const ntg_tensor_rec *tb = &im->tensors[b];
                if (tb->storage != NTG_STORE_ARENA || first[b] < 0) continue;
                int live_together = first[a] <= last[b] && first[b] <= last[a];
                int bytes_overlap =
                    ta->offset < tb->offset + tb->nbytes && tb->offset < ta->offset + ta->nbytes;
                cr_assert(!(live_together && bytes_overlap),
                          "%s, program %s: %s [%u..%u] and %s [%u..%u] share bytes", what,
                          ntg__plan_str(p, pr->name), ntg__plan_str(p, ta->name), first[a], last[a],
                          ntg__plan_str(p, tb->name), first[b], last[b]);
            }
        }
        free(first);
        free(last);
    }
}

static void compile_and_check(const char *graph, const ntg_define *defs, size_t nd, int batch)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.defines = defs;
    o.n_defines = nd;
    o.max_batch = batch;
    ntg_plan *plan = NULL;
    ntg_error err;
    ntg_status st = ntg_compile_file(graph, &o, &plan, &err);
    cr_assert_eq(st, NTG_OK, "%s: %s", graph, err.message);
    /* reuse must actually happen in a chain of layers */
    cr_assert_lt(ntg_plan_arena_bytes(plan), plan->img.info.naive_arena_bytes, "%s", graph);
    check_plan(plan, graph);
    ntg_plan_destroy(plan);
}

Test(compiler, memplan_every_graph_no_overlap)
{
    DIR *d = opendir(tu_src("graphs"));
    cr_assert(d, "graphs/ not found");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", tu_src("graphs"), e->d_name);
        compile_and_check(path, NULL, 0, 1);
        compile_and_check(path, NULL, 0, 64);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 2, "expected the graphs in graphs/");
}

Test(compiler, memplan_nhits_variants_no_overlap)
{
    ntg_define small[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};
    compile_and_check(tu_src("graphs/nhits.yaml"), small, 3, 7);
    ntg_define odd[] = {{"h", "13"},
                        {"input_size", "31"},
                        {"pools", "[3, 2, 2, 1]"},
                        {"downsample", "[5, 3, 2, 1]"},
                        {"hidden", "17"}};
    compile_and_check(tu_src("graphs/nhits.yaml"), odd, 5, 5);
}
