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

/* ---- the placement step alone (compiler/memplace.c) on random interval sets ---- */

#include "memplace.h"

/* splitmix64: a fixed sequence per seed */
static uint64_t rnd(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int live_together(const ntg_mp_span *sp, size_t n, int np, size_t a, size_t b)
{
    for (int p = 0; p < np; p++) {
        const ntg_mp_span *x = &sp[(size_t)p * n + a], *y = &sp[(size_t)p * n + b];
        if (x->first >= 0 && y->first >= 0 && x->first <= y->last && y->first <= x->last) return 1;
    }
    return 0;
}

typedef struct busy_range {
    uint64_t off, end;
} busy_range;

static int cmp_busy(const void *a, const void *b)
{
    const busy_range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The planner as it was: every pair compared; block k goes to the lowest offset that no
 * earlier block live with it occupies (those blocks sorted by offset, scanned for a hole). */
static uint64_t brute_place(const ntg_mp_span *sp, size_t n, int np, const uint64_t *size,
                            uint64_t *off)
{
    busy_range *busy = malloc((n + 1) * sizeof *busy);
    cr_assert(busy);
    uint64_t top = 0;
    for (size_t k = 0; k < n; k++) {
        size_t nb = 0;
        for (size_t j = 0; j < k; j++)
            if (live_together(sp, n, np, j, k)) busy[nb++] = (busy_range){off[j], off[j] + size[j]};
        qsort(busy, nb, sizeof *busy, cmp_busy);
        uint64_t o = 0;
        for (size_t j = 0; j < nb && busy[j].off < o + size[k]; j++)
            if (busy[j].end > o) o = busy[j].end;
        off[k] = o;
        if (o + size[k] > top) top = o + size[k];
    }
    free(busy);
    return top;
}

/* Random blocks in np programs: sizes in 64-byte units (a few large), intervals short and
 * long (a few span most of the program, like activations kept for the backward pass). */
static void random_blocks(uint64_t seed, size_t n, int np, int steps, ntg_mp_span *sp,
                          uint64_t *size)
{
    uint64_t s = seed;
    for (size_t k = 0; k < n; k++) {
        uint64_t r = rnd(&s) % 100;
        size[k] = 64 * (r < 5 ? 1 + rnd(&s) % 4096 : 1 + rnd(&s) % 16);
        for (int p = 0; p < np; p++) {
            ntg_mp_span *x = &sp[(size_t)p * n + k];
            if (p > 0 && rnd(&s) % 3 == 0) {
                x->first = x->last = -1; /* not in this program */
                continue;
            }
            int32_t a = (int32_t)(rnd(&s) % (uint64_t)steps);
            int32_t len =
                rnd(&s) % 10 == 0 ? (int32_t)(rnd(&s) % (uint64_t)steps) : (int32_t)(rnd(&s) % 8);
            x->first = a;
            x->last = a + len < steps ? a + len : steps - 1;
        }
    }
    /* placement order of the planner: by decreasing size (ties keep their order) */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && size[j - 1] < size[j]; j--) {
            uint64_t t = size[j];
            size[j] = size[j - 1];
            size[j - 1] = t;
            for (int p = 0; p < np; p++) {
                ntg_mp_span u = sp[(size_t)p * n + j];
                sp[(size_t)p * n + j] = sp[(size_t)p * n + j - 1];
                sp[(size_t)p * n + j - 1] = u;
            }
        }
}

static void check_random(uint64_t seed, size_t n, int np, int steps)
{
    ntg_mp_span *sp = malloc((size_t)np * n * sizeof *sp);
    uint64_t *size = malloc(n * sizeof *size), *off = malloc(n * sizeof *off);
    uint64_t *ref = malloc(n * sizeof *ref);
    uint32_t *ids = malloc(n * sizeof *ids);
    cr_assert(sp && size && off && ref && ids);
    random_blocks(seed, n, np, steps, sp, size);
    for (size_t k = 0; k < n; k++) ids[k] = (uint32_t)k;
    uint64_t arena = 0;
    cr_assert_eq(ntg__memplace(n, np, sp, n, ids, size, off, &arena), 0);
    /* valid: aligned, inside the arena, and no two blocks live together share a byte */
    uint64_t top = 0;
    for (size_t a = 0; a < n; a++) {
        cr_assert_eq(off[a] % 64, 0, "seed %llu: block %zu at offset %llu is not aligned",
                     (unsigned long long)seed, a, (unsigned long long)off[a]);
        cr_assert_leq(off[a] + size[a], arena);
        if (off[a] + size[a] > top) top = off[a] + size[a];
        for (size_t b = a + 1; b < n; b++)
            cr_assert(!(live_together(sp, n, np, a, b) && off[a] < off[b] + size[b] &&
                        off[b] < off[a] + size[a]),
                      "seed %llu: blocks %zu [%llu, +%llu) and %zu [%llu, +%llu) are live "
                      "together and overlap",
                      (unsigned long long)seed, a, (unsigned long long)off[a],
                      (unsigned long long)size[a], b, (unsigned long long)off[b],
                      (unsigned long long)size[b]);
    }
    cr_assert_eq(arena, top, "the arena is the highest end");
    /* and it is the pairwise greedy's placement, offset for offset */
    uint64_t ref_arena = brute_place(sp, n, np, size, ref);
    cr_assert_eq(arena, ref_arena, "seed %llu: arena %llu, pairwise greedy %llu",
                 (unsigned long long)seed, (unsigned long long)arena,
                 (unsigned long long)ref_arena);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(off[k], ref[k], "seed %llu: block %zu at %llu, pairwise greedy %llu",
                     (unsigned long long)seed, k, (unsigned long long)off[k],
                     (unsigned long long)ref[k]);
    free(sp);
    free(size);
    free(off);
    free(ref);
    free(ids);
}

Test(compiler, memplace_random_intervals_match_brute_force)
{
    check_random(1, 3000, 1, 2000); /* one program, sparse */
    check_random(2, 3000, 1, 200);  /* one program, crowded */
    check_random(3, 3000, 5, 1000); /* five programs, like a training plan */
    check_random(4, 2000, 3, 50);   /* everything live together, more or less */
    for (uint64_t seed = 10; seed < 60; seed++) check_random(seed, 60, 1 + (int)(seed % 5), 30);
}

/* A training plan's shape: activations kept until their backward step (nested intervals, all
 * live together), each gradient briefly; the placement stacks them as the pairwise one. */
Test(compiler, memplace_nested_chain_matches_brute_force)
{
    size_t m = 1500, n = 2 * m;
    int32_t steps = 2 * (int32_t)m + 1;
    ntg_mp_span *sp = malloc(2 * n * sizeof *sp);
    uint64_t *size = malloc(n * sizeof *size), *off = malloc(n * sizeof *off);
    uint64_t *ref = malloc(n * sizeof *ref);
    uint32_t *ids = malloc(n * sizeof *ids);
    cr_assert(sp && size && off && ref && ids);
    for (size_t i = 0; i < m; i++) {
        /* program 0 (infer): activation i lives from step i to i + 1; program 1 (grad): to
         * its backward step; gradient i from step steps - 2 - i to steps - 1 - i */
        sp[i] = (ntg_mp_span){(int32_t)i, (int32_t)i + 1};
        sp[n + i] = (ntg_mp_span){(int32_t)i, steps - 1 - (int32_t)i};
        sp[m + i] = (ntg_mp_span){-1, -1};
        sp[n + m + i] = (ntg_mp_span){steps - 2 - (int32_t)i, steps - 1 - (int32_t)i};
        size[i] = size[m + i] = 256;
    }
    for (size_t k = 0; k < n; k++) ids[k] = (uint32_t)k;
    uint64_t arena = 0;
    cr_assert_eq(ntg__memplace(n, 2, sp, n, ids, size, off, &arena), 0);
    uint64_t ref_arena = brute_place(sp, n, 2, size, ref);
    cr_assert_eq(arena, ref_arena);
    for (size_t k = 0; k < n; k++) cr_assert_eq(off[k], ref[k], "block %zu", k);
    cr_assert_geq(arena, (uint64_t)m * 256, "all activations are live together");
    free(sp);
    free(size);
    free(off);
    free(ref);
    free(ids);
}
