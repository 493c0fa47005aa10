/* backend_suite.h — the backend-generic suites: one Criterion test per (backend, case). */
#ifndef NTG_TEST_BACKEND_SUITE_H
#define NTG_TEST_BACKEND_SUITE_H

#include <criterion/criterion.h>
#include <criterion/internal/test.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_hooks.h"

/*
 * As ggml's test-backend-ops: a suite file (conformance, golden, training parity) is a list of
 * items and one body; this header's main() registers a test named "<backend>_<item>" for every
 * backend the registry (ops/registry.c) has built in, so that a failure names both and a new
 * backend is tested by registering itself.  A backend that cannot run here (no device, no
 * driver) is reported by each of its tests as skipped, with the backend's own reason.
 *
 * NTG_TEST_GROUP restricts the run to the backends of one hook group (backend_hooks.h): "isa"
 * and "vulkan" are the meson suites scripts/test runs again under NTG_CPU_ISA caps and under
 * the validation layer; "!isa,vulkan" is every other backend (a backend without a group: the
 * new ones).  Without it every backend runs.  A run with no backend in this build, or none
 * that can run here, exits 77 after its tests (meson's skip).
 *
 * A suite file defines, before including this header:
 *   BS_SUITE                  the Criterion suite name ("conformance", ...)
 *   BS_TIMEOUT                seconds per test
 *   static size_t bs_items(const char **names, size_t cap)   its items, in order
 *   static void bs_run(const ntg_backend_class *cls, const bs_hooks *h, const char *item)
 */

#define BS_MAX_TESTS 512
#define BS_NAME 96

static size_t bs_items(const char **names, size_t cap);
static void bs_run(const ntg_backend_class *cls, const bs_hooks *h, const char *item);

/* Whether a backend in hook group `g` belongs to the run NTG_TEST_GROUP=`sel` asks for. */
static int bs_in_group(const char *g, const char *sel)
{
    if (!sel || !sel[0]) return 1;
    if (sel[0] != '!') return g && strcmp(g, sel) == 0;
    if (!g) return 1;
    size_t n = strlen(g);
    for (const char *s = sel + 1; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, g, n) == 0) return 0;
        s += len + (e ? 1 : 0);
    }
    return 1;
}

/* The registered backend usable for this test, or a skip naming why it is not. */
static const ntg_backend_class *bs_need(const ntg_backend_class *cls, const bs_hooks *h)
{
    if (h->setup) h->setup();
    char info[256] = "";
    if (cls->available && cls->available(info, sizeof info) == 0)
        cr_skip_test("the %s backend cannot run here: %s", cls->name, info);
    return cls;
}

/* The body of every registered test: find its backend and item again from its name. */
static void bs_body(void)
{
    const char *name = criterion_current_test->name;
    size_t nb;
    const ntg_backend_class *const *b = ntg__backends(&nb);
    for (size_t i = 0; i < nb; i++) {
        size_t n = strlen(b[i]->name);
        if (strncmp(name, b[i]->name, n) == 0 && name[n] == '_') {
            const bs_hooks *h = bs_hooks_for(b[i]->name);
            bs_run(bs_need(b[i], h), h, name + n + 1);
            return;
        }
    }
    cr_assert_fail("test %s names no backend of this build", name);
}

static void bs_trampoline(void)
{
    criterion_internal_test_setup();
    criterion_internal_test_main(bs_body);
    criterion_internal_test_teardown();
}

typedef struct bs_reg {
    struct criterion_test t;
    struct criterion_test_extra_data d;
    char name[BS_NAME], id[2 * BS_NAME];
} bs_reg;

/* Visible: BoxFort starts each test's worker by finding main in the dynamic symbols and
 * patching it (the build hides everything else). */
__attribute__((visibility("default"))) int main(int argc, char *argv[]);
__attribute__((visibility("default"))) int main(int argc, char *argv[])
{
    struct criterion_test_set *set = criterion_initialize();
    const char *sel = getenv("NTG_TEST_GROUP");
    const char *items[BS_MAX_TESTS];
    size_t ni = bs_items(items, BS_MAX_TESTS), nb, n = 0;
    const ntg_backend_class *const *b = ntg__backends(&nb);
    bs_reg *reg = calloc(BS_MAX_TESTS, sizeof *reg);
    if (!reg) return 1;
    int runnable = 0;
    for (size_t i = 0; i < nb; i++) {
        const bs_hooks *h = bs_hooks_for(b[i]->name);
        if (!bs_in_group(h->group, sel)) continue;
        char info[256];
        if (h->setup) h->setup();
        if (!b[i]->available || b[i]->available(info, sizeof info) != 0) runnable++;
        for (size_t j = 0; j < ni && n < BS_MAX_TESTS; j++, n++) {
            bs_reg *r = &reg[n];
            snprintf(r->name, sizeof r->name, "%s_%s", b[i]->name, items[j]);
            snprintf(r->id, sizeof r->id, "%s/%s", BS_SUITE, r->name);
            r->d.compiler_ = CR_COMP_GCC;
            r->d.lang_ = CR_LANG_C;
            r->d.kind_ = CR_TEST_NORMAL;
            r->d.identifier_ = r->id;
            r->d.file_ = __FILE__;
            r->d.line_ = __LINE__;
            r->d.timeout = BS_TIMEOUT;
            r->t.name = r->name;
            r->t.category = BS_SUITE;
            r->t.test = bs_trampoline;
            r->t.data = &r->d;
            criterion_register_test(set, &r->t);
        }
    }
    int rc;
    if (n == 0 && sel) {
        fprintf(stderr, "%s: no backend of group %s in this build\n", BS_SUITE, sel);
        rc = 77;
    } else {
        rc = criterion_handle_args(argc, argv, true) ? !criterion_run_all_tests(set) : 0;
        /* every backend of the run skipped: meson reports the run as skipped, not passed */
        if (rc == 0 && runnable == 0) rc = 77;
    }
    criterion_finalize(set);
    free(reg);
    return rc;
}

#endif /* NTG_TEST_BACKEND_SUITE_H */
