/* backend_hooks.c — the generic backend suites' table of per-backend hooks. */
#include <string.h>

#include "backend_hooks.h"

/* ------------------------------------------------------------------ cpu */

static const bs_cfg cpu_cfgs[] = {
    /* single-threaded: its storages as buffers of its own and as host memory in place */
    {"device buffers", 1, BS_ALLOC, {0}},
    {"host memory, read-only weights", 1, BS_WRAP_RO, {0}},
    {NULL, 0, 0, {0}},
};

/* ------------------------------------------------------------------ the table */

static const bs_hooks table[] = {
    {.backend = "cpu",
     .tol_fwd = 1e-5,
     .tol_bwd = 1e-4,
     .tol_parity = 1e-3,
     .cfgs = cpu_cfgs,
     .fresh = 1,
     .gold_threads = {1, 0},
     .exact_batch1 = 1},
#ifdef NTG_TEST_HAVE_XNNPACK
    {.backend = "xnnpack",
     .group = "isa",
     .tol_fwd = 1e-5,
     .tol_bwd = 1e-4,
     .tol_parity = 1e-3,
     .cfgs = bs_xnn_cfgs,
     .fresh = 1,
     .gold_threads = {1, 2},
     .repro_env = "NTG_XNN_POLICY=8",
     .configure = bs_xnn_configure,
     .prepared = bs_xnn_prepared},
#endif
#ifdef NTG_TEST_HAVE_VULKAN
    {.backend = "vulkan",
     .group = "vulkan",
     .tol_fwd = 1e-4,
     .tol_bwd = 1e-3,
     .tol_parity = 1e-3,
     .cfgs = bs_vk_cfgs,
     .setup = bs_vk_setup,
     .configure = bs_vk_configure,
     .finish = bs_vk_finish,
     .session_messages = bs_vk_session_messages},
#endif
};

/* A backend without a row: a device's tolerances (issue 14: 1e-4 forward, 1e-3 backward), one
 * configuration as the backend comes, storages through upload/download. */
static const bs_cfg default_cfgs[] = {{"as the backend comes", 0, BS_ALLOC, {0}},
                                      {NULL, 0, 0, {0}}};
static const bs_hooks bs_default = {
    .tol_fwd = 1e-4, .tol_bwd = 1e-3, .tol_parity = 1e-3, .cfgs = default_cfgs};

const bs_hooks *bs_hooks_for(const char *backend)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].backend, backend) == 0) return &table[i];
    return &bs_default;
}

const bs_hooks *bs_hooks_row(size_t i)
{
    return i < sizeof table / sizeof table[0] ? &table[i] : NULL;
}
