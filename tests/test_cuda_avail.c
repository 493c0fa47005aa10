/* test_cuda_avail.c — the CUDA backend is registered and, on a machine without a CUDA device or
 * driver, says so: unavailable with the reason, never picked by auto, and `--backend cuda` a
 * machine failure (exit 1) that names it.  On a machine with a device the no-device
 * assertions are skipped (visibly); the kernels' conformance runs in the generic backend
 * suite and in bench/cuda_check.sh. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli_testutil.h"
#include "cuda/cu_int.h"

static const ntg_backend_class *cuda_class(void)
{
    const ntg_backend_class *c = ntg__backend_find("cuda");
    cr_assert(c, "the cuda backend is not registered in a build that compiled ops/cuda/");
    return c;
}

/* The reason the backend gives, and whether it can run here. */
static int cuda_here(char *info, size_t cap)
{
    const ntg_backend_class *c = cuda_class();
    cr_assert(c->available, "the cuda backend must report whether a device exists");
    info[0] = 0;
    return c->available(info, cap);
}

Test(cuda_avail, registered_with_a_description)
{
    size_t n;
    const ntg_backend_class *const *all = ntg__backends(&n);
    int found = 0;
    for (size_t i = 0; i < n; i++) found |= all[i] == cuda_class();
    cr_assert(found, "cuda is not in the backend list");
    cr_assert_str_eq(cuda_class()->name, "cuda");
    cr_assert(strstr(cuda_class()->description, "not yet run on hardware"), "%s",
              cuda_class()->description);
}

Test(cuda_avail, unavailable_with_a_reason)
{
    char info[256];
    if (cuda_here(info, sizeof info) == 1) cr_skip_test("a CUDA device is present: %s", info);
    cr_assert(info[0], "unavailable without a reason");
    cr_assert(strstr(info, "driver") || strstr(info, "device") || strstr(info, "cuBLAS"),
              "the reason names neither a driver, a device nor cuBLAS: %s", info);
    cr_log_info("cuda here: %s", info);
}

Test(cuda_avail, auto_does_not_pick_it)
{
    char info[256];
    if (cuda_here(info, sizeof info) == 1) cr_skip_test("a CUDA device is present: %s", info);
    cr_assert_neq(ntg__backend_find("auto"), cuda_class(), "auto picked cuda without a device");
}

Test(cuda_avail, session_fails_as_a_machine_failure)
{
    char info[256];
    if (cuda_here(info, sizeof info) == 1) cr_skip_test("a CUDA device is present: %s", info);
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.flags = NTG_COMPILE_INFER_ONLY;
    ntg_define d[] = {{"h", "24"}, {"input_size", "96"}, {"hidden", "16"}};
    o.defines = d;
    o.n_defines = 3;
    ntg_plan *plan = NULL;
    ntg_error err;
    cr_assert_eq(ntg_compile_file(tu_src("graphs/nhits.yaml"), &o, &plan, &err), NTG_OK, "%s",
                 err.message);
    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = "cuda";
    ntg_session *s = NULL;
    cr_assert_eq(ntg_session_create(plan, &so, &s, &err), NTG_ERR_BACKEND, "%s", err.message);
    cr_assert(s == NULL);
    cr_assert(strstr(err.message, "backend 'cuda' is not available here: "), "%s", err.message);
    cr_assert(strstr(err.message, info), "the message lacks the reason '%s': %s", info,
              err.message);
    ntg_plan_destroy(plan);
}

Test(cuda_avail, cli_backend_cuda_exits_1, .init = make_tmp, .fini = rm_tmp)
{
    char info[256];
    if (cuda_here(info, sizeof info) == 1) cr_skip_test("a CUDA device is present: %s", info);
    char *out = NULL;
    cr_assert_eq(sh(NULL,
                    "$NTG compile graphs/nhits.yaml -D h=24 -D input_size=96 -D hidden=16 "
                    "-o '%s'",
                    tmp("p.bin")),
                 0);
    int rc = sh(&out, "$NTG bench '%s' --backend cuda --batch 1 --seconds 0.1", tmp("p.bin"));
    cr_assert_eq(rc, 1, "exit %d (want 1: no device is a machine failure): %s", rc, out);
    cr_assert(strstr(out, "backend 'cuda' is not available here: "), "%s", out);
    free(out);
    rc = sh(&out, "$NTG backends");
    cr_assert_eq(rc, 0, "%s", out);
    const char *line = "cuda     unavailable ";
    cr_assert(strncmp(out, line, strlen(line)) == 0 || strstr(out, "\ncuda     unavailable "), "%s",
              out);
    cr_assert(strstr(out, info), "the listing lacks the reason '%s': %s", info, out);
    cr_assert_null(strstr(out, "auto     -> cuda"), "%s", out);
    free(out);
}

/* Every op of ops.def has a CUDA launcher, and a backward one exactly when it is
 * differentiable (the tables supports() answers from). */
Test(cuda_avail, a_launcher_for_every_op)
{
    for (uint32_t code = 0; code < NTG_OP_COUNT; code++) {
        const ntg_op_info *info = ntg__op_info(code);
        cr_assert(ntg__cu_fwd[code], "no CUDA forward launcher for %s", info->cls->name);
        cr_assert_eq(ntg__cu_bwd[code] != NULL, info->differentiable != 0,
                     "CUDA backward launcher of %s does not match its differentiability",
                     info->cls->name);
    }
}

/* On a machine with a device: NTG_CUDA_DEVICE out of range is bad input, named. */
Test(cuda_avail, bad_device_index_is_named)
{
    char info[256];
    if (cuda_here(info, sizeof info) != 1)
        cr_skip_test("no CUDA device here (%s): NTG_CUDA_DEVICE cannot be checked", info);
    setenv("NTG_CUDA_DEVICE", "9999", 1);
    int ok = cuda_class()->available(info, sizeof info);
    unsetenv("NTG_CUDA_DEVICE");
    cr_assert_eq(ok, 0);
    cr_assert(strstr(info, "NTG_CUDA_DEVICE=9999"), "%s", info);
}
