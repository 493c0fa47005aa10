/* backend.h — the interface every op backend (cpu, xnnpack, vulkan, cuda) implements. */
#ifndef NTG_BACKEND_H
#define NTG_BACKEND_H

#include "ops.h"

/* A program (entry point) of a plan: the ops it runs, in order. */
typedef struct ntg_program_view {
    const char *name;
    const uint32_t *ops; /* indices into ntg_plan_view.ops */
    uint32_t n_ops;
} ntg_program_view;

/* What sessions of one plan share: immutable data a backend derives from the plan's read-only
 * weights (packed panels, uploaded buffers), kept once per plan, backend and key and
 * refcounted.  It hangs off the plan (runtime/plan_load.c), never off a global: `get` returns
 * the entry `key` (a string naming the backend, instruction set, op and what), making it with
 * fill(ctx, mem, err) into `bytes` 64-byte aligned bytes the first time, under the plan's
 * mutex, so concurrent prepares of two sessions pack once; every successful `get` is matched by
 * a `put` of the same pointer, and the last `put` frees the entry.  A plan outlives its
 * sessions, so an entry never outlives its plan. */
typedef ntg_status (*ntg_shared_fill_fn)(void *ctx, void *mem, ntg_error *err);
typedef struct ntg_shared_cache {
    void *self;
    ntg_status (*get)(void *self, const char *key, size_t bytes, ntg_shared_fill_fn fill, void *ctx,
                      void **out, ntg_error *err);
    void (*put)(void *self, void *mem);
} ntg_shared_cache;

/* Everything a backend needs from a validated plan.  All arrays belong to the
 * plan and outlive the backend instance. */
typedef struct ntg_plan_view {
    const ntg_tensor_rec *tensors;
    uint32_t n_tensors;
    const ntg_op_rec *ops;
    uint32_t n_ops;
    const uint32_t *operands;
    uint32_t n_operands;
    const ntg_attr *attrs;
    uint32_t n_attrs;
    const ntg_program_view *programs;
    uint32_t n_programs;
    const char *strings;
    uint64_t storage_bytes[NTG_STORE_COUNT]; /* size of each storage at the maximum batch */
    int max_batch;
    /* The plan's shared-data cache; NULL: nothing is shared (a view made by hand, tests). */
    const ntg_shared_cache *shared;
} ntg_plan_view;

typedef struct ntg_backend ntg_backend; /* a backend instance (one per session) */
typedef struct ntg_buffer ntg_buffer;   /* device memory owned by a backend instance */

typedef struct ntg_backend_config {
    int threads;   /* 0 = ntg__cpu_default_threads (online, affinity, cgroup quota) */
    int max_batch; /* largest batch runs will use */
} ntg_backend_config;

typedef struct ntg_backend_class {
    const char *name;
    const char *description;
    /* 1 when the backend can run on this machine; `info` gets a one-line description of
     * the device(s) or of why not.  NULL = always available.  2: it can run, but "auto"
     * must not pick it (a device backend that found only a CPU implementation, lavapipe). */
    int (*available)(char *info, size_t cap);
    ntg_status (*create)(const ntg_backend_config *cfg, ntg_backend **out, ntg_error *err);
    void (*destroy)(ntg_backend *b);
    /* 1 when the backend has a kernel for (code, dir) on this dtype. */
    int (*supports)(const ntg_backend *b, uint32_t code, int dir, int dtype);
    ntg_status (*buffer_alloc)(ntg_backend *b, size_t size, ntg_buffer **out, ntg_error *err);
    /* Use caller memory in place (read-only when `readonly`); NULL hook = not possible,
     * the session allocates and uploads instead. */
    ntg_status (*buffer_wrap)(ntg_backend *b, void *host, size_t size, int readonly,
                              ntg_buffer **out, ntg_error *err);
    void (*buffer_free)(ntg_backend *b, ntg_buffer *buf);
    ntg_status (*upload)(ntg_backend *b, ntg_buffer *dst, size_t offset, const void *src,
                         size_t size, ntg_error *err);
    ntg_status (*download)(ntg_backend *b, const ntg_buffer *src, size_t offset, void *dst,
                           size_t size, ntg_error *err);
    /* Bind the plan and its storages (indexed by ntg_storage; NULL where a storage is
     * empty) and do all one-time work: pack weights, create pipelines, record programs. */
    ntg_status (*prepare)(ntg_backend *b, const ntg_plan_view *plan,
                          ntg_buffer *const storage[NTG_STORE_COUNT], ntg_error *err);
    /* Run program `program` (index into plan->programs) at `batch` and wait for it.
     * Must not allocate. */
    ntg_status (*run)(ntg_backend *b, uint32_t program, int batch, ntg_error *err);
    /* Worker threads the instance actually uses (NULL: 1). */
    int (*threads)(const ntg_backend *b);
    /* Run the ops at positions [first, end) of program `program`'s op list at `batch` and wait
     * for them; run(b, g, batch) is the ranges 0..k1, k1..k2, ..., ..n_ops in turn, and a run
     * cut so gives bitwise the same results.  Between two ranges of one run the caller may read
     * tensors no later op writes (data-parallel training all-reduces finished gradient buckets
     * while the rest of backward runs: docs/internals.md, "Overlap").  Must not allocate.
     * NULL: the backend runs whole programs only (the trainer then all-reduces after them). */
    ntg_status (*run_range)(ntg_backend *b, uint32_t program, int batch, uint32_t first,
                            uint32_t end, ntg_error *err);
    /* Optional: op `op` of `program`, an elementwise optimizer op (adam, sgd), over elements
     * [lo, hi) of its parameter only (and the same elements of its gradient and state), inside
     * a run that run_range opened: the sharded optimizer's owner of a part of a parameter
     * (docs/internals.md, "Sharded optimizer").  The same arithmetic per element as the whole
     * op.  Must not allocate.  NULL: not offered (the trainer then cuts at parameters). */
    ntg_status (*run_elems)(ntg_backend *b, uint32_t program, uint32_t op, uint64_t lo, uint64_t hi,
                            ntg_error *err);
} ntg_backend_class;

/* The reference CPU backend: always built, the oracle of every other backend. */
extern const ntg_backend_class ntg__backend_cpu;
/* The fast CPU backend on XNNPACK + pthreadpool (built when XNNPACK is found). */
extern const ntg_backend_class ntg__backend_xnnpack;
/* The Vulkan compute backend (built when libvulkan and glslangValidator are found). */
extern const ntg_backend_class ntg__backend_vulkan;
/* The CUDA backend (built when nvcc is found; compiled, not yet run on hardware). */
extern const ntg_backend_class ntg__backend_cuda;

/* Backends built into this library, in order of preference for "auto". */
const ntg_backend_class *const *ntg__backends(size_t *count);
/* The backend called `name` ("auto" picks the first available), or NULL. */
const ntg_backend_class *ntg__backend_find(const char *name);

#endif /* NTG_BACKEND_H */
