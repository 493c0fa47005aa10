/* registry.c — the backends compiled into this library and how "auto" picks one. */
#include <string.h>

#include "backend.h"

/* Preference order for "auto": the first available backend wins.  Device backends are
 * only preferred when they report a real GPU (their `available` hook says so). */
static const ntg_backend_class *const backends[] = {
#ifdef NTG_HAVE_CUDA
    &ntg__backend_cuda, /* only when it finds a device (sm_90+), a driver and cuBLAS */
#endif
    &ntg__backend_xnnpack, /* built without libXNNPACK too: then on our own kernels alone */
#ifdef NTG_HAVE_VULKAN
    &ntg__backend_vulkan,
#endif
    &ntg__backend_cpu,
};

const ntg_backend_class *const *ntg__backends(size_t *count)
{
    *count = sizeof backends / sizeof backends[0];
    return backends;
}

const ntg_backend_class *ntg__backend_find(const char *name)
{
    size_t n = sizeof backends / sizeof backends[0];
    if (!name || strcmp(name, "auto") == 0) {
        for (size_t i = 0; i < n; i++) {
            char info[256];
            if (!backends[i]->available || backends[i]->available(info, sizeof info) == 1)
                return backends[i];
        }
        return &ntg__backend_cpu;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(backends[i]->name, name) == 0) return backends[i];
    return NULL;
}
