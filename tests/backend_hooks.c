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

/* clang-format off */
static const bs_hooks table[] = {
    {"cpu", NULL, 1e-5, 1e-4, 1e-3, cpu_cfgs, 1, {1, 0}, NULL,
     NULL, NULL, NULL, NULL, NULL},
#ifdef NTG_TEST_HAVE_XNNPACK
    {"xnnpack", "isa", 1e-5, 1e-4, 1e-3, bs_xnn_cfgs, 1, {1, 2}, "NTG_XNN_POLICY=8",
     NULL, bs_xnn_configure, bs_xnn_prepared, NULL, NULL},
#endif
#ifdef NTG_TEST_HAVE_VULKAN
    {"vulkan", "vulkan", 1e-4, 1e-3, 1e-3, bs_vk_cfgs, 0, {0, 0}, NULL,
     bs_vk_setup, bs_vk_configure, NULL, bs_vk_finish, bs_vk_session_messages},
#endif
};
/* clang-format on */

/* A backend without a row: a device's tolerances (issue 14: 1e-4 forward, 1e-3 backward), one
 * configuration as the backend comes, storages through upload/download. */
static const bs_cfg default_cfgs[] = {{"as the backend comes", 0, BS_ALLOC, {0}},
                                      {NULL, 0, 0, {0}}};
static const bs_hooks bs_default = {NULL,   NULL, 1e-4, 1e-3, 1e-3, default_cfgs, 0,
                                    {0, 0}, NULL, NULL, NULL, NULL, NULL,         NULL};

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
