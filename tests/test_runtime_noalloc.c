/* test_runtime_noalloc.c — ntg_session_run allocates nothing: malloc and friends are counted. */
#include <criterion/criterion.h>
#include <string.h>

#include "ntgraph.h"
#include "testutil.h"

/* glibc's allocator entry points, so the interposed functions can forward to them. */
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

/* Only the test's own thread counts (Criterion's runner threads allocate too). */
static _Thread_local int counting;
static _Thread_local long allocations;

void *malloc(size_t n)
{
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    if (counting) allocations++;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
int posix_memalign(void **out, size_t align, size_t n)
{
    if (counting) allocations++;
    void *p = __libc_memalign(align, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void free(void *p)
{
    __libc_free(p);
}

Test(runtime, session_run_allocates_nothing)
{
    if (getenv("NTG_SANITIZE")) cr_skip_test("the sanitizers own malloc in this build");
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "64"}};
    o.defines = d;
    o.n_defines = 3;
    o.max_batch = 16;
    ntg_plan *plan = NULL;
    ntg_session *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    /* the library's own allocations are seen (it is linked into this program) */
    counting = 1;
    cr_assert_eq(ntg_session_create(plan, NULL, &s, &err), NTG_OK, "%s", err.message);
    counting = 0;
    cr_assert_gt(allocations, 0, "session creation allocates its arena");
    allocations = 0;
    static float x[16 * 96], y[16 * 24];
    tu_rng r = {1};
    tu_fill(&r, x, sizeof x / sizeof x[0], -1, 1);

    counting = 1;
    for (int b = 1; b <= 16; b += 5) {
        ntg_session_set_input(s, "x", x, (size_t)b * 96, &err);
        ntg_session_run(s, b, &err);
        ntg_session_get_output(s, "y", y, (size_t)b * 24, &err);
    }
    counting = 0;
    cr_assert_eq(allocations, 0, "%ld allocations during runs", allocations);
    ntg_session_destroy(s);
    ntg_plan_destroy(plan);
}
