/* backend_hooks.h — what the generic backend suites do differently per backend: one table. */
#ifndef NTG_TEST_BACKEND_HOOKS_H
#define NTG_TEST_BACKEND_HOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "ntgraph.h"

/*
 * Everything here is genuinely per backend: its tolerances against the reference, the
 * configurations its conformance cases run under (thread splits and kernel policies for
 * xnnpack; reductions, workgroup tiling, staging and shader builds for vulkan), and the
 * device's own checks (the Vulkan validation layer's messages).  A backend with no row runs
 * with bs_default: the tolerances issue 14 sets for a device (1e-4 forward, 1e-3 backward),
 * one configuration as the backend comes, buffers through upload/download.  Adding a backend
 * adds at most a row here, never a test file.
 */

enum { BS_ALLOC, BS_WRAP, BS_WRAP_RO }; /* storages: device buffers / host memory in place */

/* One configuration of the conformance run; knob[] means what the backend's hooks say. */
typedef struct bs_cfg {
    const char *name;
    int threads; /* 0: the backend's default */
    int wrap;    /* BS_ALLOC, BS_WRAP, BS_WRAP_RO (weights read-only: packed paths) */
    int knob[5];
} bs_cfg;

typedef struct bs_hooks {
    const char *backend;
    const char *group;       /* meson suite that re-runs its tests (backend_suite.h); NULL */
    double tol_fwd, tol_bwd; /* max-abs-rel: vs the reference (conformance), vs PyTorch (golden) */
    double tol_parity;       /* relative: a training run's losses vs the reference backend's */
    const bs_cfg *cfgs;      /* ended by one with name NULL */
    int fresh; /* 1: a new instance per case; 0: one per (op, configuration), re-preparing */
    int gold_threads[2];   /* golden sessions' thread counts (0: the default; second 0: none) */
    const char *repro_env; /* reproducibility: a second round under this NAME=VALUE (or NULL) */
    int exact_batch1;      /* golden: batch 1 is bitwise the first row of the golden batch's */
    /* Called first in every test: pick the driver (lavapipe for vulkan). */
    void (*setup)(void);
    /* Apply configuration g to a new instance for op `code`; 0: g does not apply (the instance
     * is then finished unused). */
    int (*configure)(ntg_backend *be, const bs_cfg *g, uint32_t code);
    /* After prepare: backend-specific checks of what it chose (log it when `log`). */
    void (*prepared)(ntg_backend *be, const char *case_name, uint32_t code, int bwd, int log);
    /* Destroy the instance; the number of device messages it produced (first one copied). */
    long (*finish)(const ntg_backend_class *cls, ntg_backend *be, char *first, size_t cap);
    /* A session's device messages so far (golden, training); NULL: none kept. */
    long (*session_messages)(ntg_backend *be, char *first, size_t cap);
} bs_hooks;

/* The hooks of `backend` (tests/backend_hooks.c): its row, or bs_default's. */
const bs_hooks *bs_hooks_for(const char *backend);
/* The table's rows, for the check that each names a backend of this build. */
const bs_hooks *bs_hooks_row(size_t i);

/* Each backend's hooks live in a file of their own (its private header defines the same
 * opaque types as the others'): tests/backend_hooks_<backend>.c. */
#ifdef NTG_TEST_HAVE_XNNPACK
extern const bs_cfg bs_xnn_cfgs[];
int bs_xnn_configure(ntg_backend *be, const bs_cfg *g, uint32_t code);
void bs_xnn_prepared(ntg_backend *be, const char *case_name, uint32_t code, int bwd, int log);
#endif
#ifdef NTG_TEST_HAVE_VULKAN
extern const bs_cfg bs_vk_cfgs[];
void bs_vk_setup(void);
int bs_vk_configure(ntg_backend *be, const bs_cfg *g, uint32_t code);
long bs_vk_finish(const ntg_backend_class *cls, ntg_backend *be, char *first, size_t cap);
long bs_vk_session_messages(ntg_backend *be, char *first, size_t cap);
#endif

#endif /* NTG_TEST_BACKEND_HOOKS_H */
