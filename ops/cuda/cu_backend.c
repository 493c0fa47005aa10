/* cu_backend.c — the CUDA backend: device choice, device memory, pinned staging, cuBLAS (loaded
 * with dlopen), and every program of a plan captured as a CUDA graph at prepare.
 *
 * NOT YET RUN ON A GPU.  It is compiled on every build that finds nvcc, and on a machine
 * without a device or driver it reports itself unavailable with the reason; nothing here has
 * been executed against real hardware yet (docs/cuda.md, bench/cuda_check.sh).
 *
 * The CUDA runtime is linked statically (cudart_static), which loads the driver (libcuda.so.1)
 * itself on the first call: a machine without a driver still loads ntgraph, and
 * cudaGetDeviceCount answers cudaErrorInsufficientDriver / cudaErrorNoDevice there.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ref/ref_kernels.h"
#include "cu_int.h"
#include "ntg_error.h"

/* Host <-> device transfers go through a pinned buffer of this size, chunk by chunk. */
#define STAGING_BYTES ((size_t)4 << 20)
/* cuBLAS workspace: given explicitly, so that cuBLAS allocates nothing while a program is
 * being captured (a requirement of stream capture) or run. */
#define BLAS_WS_BYTES ((size_t)32 << 20)
/* Graphs kept per program: the maximum batch, batch 1 and one for any other batch. */
enum { SLOT_MAX, SLOT_ONE, SLOT_OTHER, SLOTS };
/* The SASS this build carries (meson.build's -gencode): sm_90, PTX compute_90. */
#define MIN_CC_MAJOR 9

struct ntg_buffer {
    void *dev;
    size_t size;
};

typedef struct cu_prog {
    cudaGraphExec_t exec[SLOTS];
    int batch[SLOTS]; /* the batch each graph was captured at; 0: none */
} cu_prog;

struct ntg_backend {
    ntg_backend_config cfg;
    int device;
    cudaStream_t stream;
    ntg__cu_blas blas;
    void *staging; /* pinned, STAGING_BYTES */
    const ntg_plan_view *plan;
    uint8_t *base[NTG_STORE_COUNT];
    ntg_view *views; /* operands of every op with device addresses */
    void *scratch, *blas_ws;
    size_t scratch_bytes;
    double *acc;
    size_t acc_count;
    cu_prog *progs;
    uint32_t n_progs;
    char msg[512];
};

/* ---------------------------------------------------------------- errors */

static ntg_status cu_fail(ntg_error *err, cudaError_t e, const char *what)
{
    ntg_status st = e == cudaErrorMemoryAllocation ? NTG_ERR_NOMEM : NTG_ERR_BACKEND;
    return ntg__fail(err, st, "cuda: %s failed: %s (%s)", what, cudaGetErrorString(e),
                     cudaGetErrorName(e));
}

#define CU_TRY(call, what)                                                                         \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return cu_fail(err, e_, (what));                                    \
    } while (0)

/* ------------------------------------------------------------ cuBLAS, dlopen */

/* dlsym's object pointer into a function pointer (POSIX guarantees the conversion). */
static void *sym(void *lib, const char *name, int *missing)
{
    void *p = dlsym(lib, name);
    if (!p) *missing = 1;
    return p;
}

static int blas_load(ntg__cu_blas *bl, char *why, size_t cap)
{
    static const char *const names[] = {"libcublas.so.13", "libcublas.so"};
    memset(bl, 0, sizeof *bl);
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !bl->lib; i++)
        bl->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!bl->lib) {
        const char *e = dlerror();
        ntg__strfmt(why, cap, "cannot load cuBLAS (libcublas.so.13): %s", e ? e : "not found");
        return -1;
    }
    int missing = 0;
    void *p;
    p = sym(bl->lib, "cublasCreate_v2", &missing);
    memcpy(&bl->create, &p, sizeof p);
    p = sym(bl->lib, "cublasDestroy_v2", &missing);
    memcpy(&bl->destroy, &p, sizeof p);
    p = sym(bl->lib, "cublasSetStream_v2", &missing);
    memcpy(&bl->set_stream, &p, sizeof p);
    p = sym(bl->lib, "cublasSetWorkspace_v2", &missing);
    memcpy(&bl->set_workspace, &p, sizeof p);
    p = sym(bl->lib, "cublasSetMathMode", &missing);
    memcpy(&bl->set_math_mode, &p, sizeof p);
    p = sym(bl->lib, "cublasSgemm_v2", &missing);
    memcpy(&bl->sgemm, &p, sizeof p);
    p = sym(bl->lib, "cublasSgemmStridedBatched", &missing);
    memcpy(&bl->sgemm_batched, &p, sizeof p);
    if (missing) {
        ntg__strfmt(why, cap, "libcublas lacks an entry point ntgraph needs (an old cuBLAS?)");
        dlclose(bl->lib);
        bl->lib = NULL;
        return -1;
    }
    return 0;
}

/* cuBLASLt, optional: without it dense runs SGEMM and its own epilogue kernel. */
static void lt_load(ntg__cu_blas *bl)
{
    static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !bl->lt_lib; i++)
        bl->lt_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!bl->lt_lib) return;
    int missing = 0;
    void *p;
#define LT_SYM(field, name)                                                                        \
    p = sym(bl->lt_lib, name, &missing);                                                           \
    memcpy(&bl->field, &p, sizeof p)
    LT_SYM(lt_create, "cublasLtCreate");
    LT_SYM(lt_destroy, "cublasLtDestroy");
    LT_SYM(lt_desc_create, "cublasLtMatmulDescCreate");
    LT_SYM(lt_desc_destroy, "cublasLtMatmulDescDestroy");
    LT_SYM(lt_desc_set, "cublasLtMatmulDescSetAttribute");
    LT_SYM(lt_layout_create, "cublasLtMatrixLayoutCreate");
    LT_SYM(lt_layout_destroy, "cublasLtMatrixLayoutDestroy");
    LT_SYM(lt_pref_create, "cublasLtMatmulPreferenceCreate");
    LT_SYM(lt_pref_destroy, "cublasLtMatmulPreferenceDestroy");
    LT_SYM(lt_pref_set, "cublasLtMatmulPreferenceSetAttribute");
    LT_SYM(lt_heuristic, "cublasLtMatmulAlgoGetHeuristic");
    LT_SYM(lt_matmul, "cublasLtMatmul");
#undef LT_SYM
    if (missing || bl->lt_create(&bl->lt) != CUBLAS_STATUS_SUCCESS) {
        dlclose(bl->lt_lib);
        bl->lt_lib = NULL;
        bl->lt = NULL;
    }
}

static void blas_unload(ntg__cu_blas *bl)
{
    if (bl->lt) bl->lt_destroy(bl->lt);
    if (bl->lt_lib) dlclose(bl->lt_lib);
    if (bl->handle) bl->destroy(bl->handle);
    if (bl->lib) dlclose(bl->lib);
    memset(bl, 0, sizeof *bl);
}

/* ------------------------------------------------------------ devices */

/* NTG_CUDA_DEVICE: the device index to use (default 0); -1 with a message when it is not a
 * device of this machine. */
static int chosen_device(int count, char *why, size_t cap)
{
    const char *v = getenv("NTG_CUDA_DEVICE");
    if (!v || !v[0]) return 0;
    char *end;
    long d = strtol(v, &end, 10);
    if (*end || d < 0 || d >= count) {
        ntg__strfmt(why, cap, "NTG_CUDA_DEVICE=%s is not a device index of this machine (0..%d)", v,
                    count - 1);
        return -1;
    }
    return (int)d;
}

/* Whether a usable device exists, with the devices or the reason in why. */
static int cu_probe(char *why, size_t cap, int *device)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (e == cudaErrorNoDevice)
            ntg__strfmt(why, cap, "no CUDA device (cudaErrorNoDevice)");
        else if (e == cudaErrorInsufficientDriver)
            ntg__strfmt(why, cap,
                        "no usable NVIDIA driver: %s (cudaErrorInsufficientDriver; the driver "
                        "is missing or older than CUDA 13 needs)",
                        cudaGetErrorString(e));
        else
            ntg__strfmt(why, cap, "cudaGetDeviceCount failed: %s (%s)", cudaGetErrorString(e),
                        cudaGetErrorName(e));
        cudaGetLastError(); /* clear the sticky-free error so later calls are not blamed */
        return 0;
    }
    if (n <= 0) {
        ntg__strfmt(why, cap, "no CUDA device");
        return 0;
    }
    int d = chosen_device(n, why, cap);
    if (d < 0) return 0;
    struct cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, d);
    if (e != cudaSuccess) {
        ntg__strfmt(why, cap, "cannot query device %d: %s", d, cudaGetErrorString(e));
        return 0;
    }
    if (p.major < MIN_CC_MAJOR) {
        ntg__strfmt(why, cap,
                    "device %d (%s) is sm_%d%d; this build carries code for sm_90 and newer only",
                    d, p.name, p.major, p.minor);
        return 0;
    }
    if (device) *device = d;
    size_t at = 0;
    why[0] = 0;
    for (int i = 0; i < n && at + 1 < cap; i++) {
        struct cudaDeviceProp q;
        if (cudaGetDeviceProperties(&q, i) != cudaSuccess) continue;
        int w = snprintf(why + at, cap - at, "%scuda:%d %s (sm_%d%d, %.1f GiB)%s", i ? "; " : "", i,
                         q.name, q.major, q.minor, (double)q.totalGlobalMem / 1073741824.0,
                         i == d ? " [used]" : "");
        if (w < 0) break;
        at += (size_t)w;
    }
    return 1;
}

static int cu_available(char *info, size_t cap)
{
    char why[256];
    if (!cu_probe(info, cap, NULL)) return 0;
    ntg__cu_blas bl;
    if (blas_load(&bl, why, sizeof why)) {
        ntg__strfmt(info, cap, "%s", why);
        return 0;
    }
    blas_unload(&bl);
    return 1;
}

/* ---------------------------------------------------------------- instance */

static void cu_release_graphs(ntg_backend *b)
{
    for (uint32_t g = 0; g < b->n_progs; g++)
        for (int s = 0; s < SLOTS; s++)
            if (b->progs[g].exec[s]) cudaGraphExecDestroy(b->progs[g].exec[s]);
    free(b->progs);
    b->progs = NULL;
    b->n_progs = 0;
}

static void cu_destroy(ntg_backend *b)
{
    if (!b) return;
    cudaSetDevice(b->device);
    if (b->stream) cudaStreamSynchronize(b->stream);
    cu_release_graphs(b);
    blas_unload(&b->blas);
    if (b->scratch) cudaFree(b->scratch);
    if (b->acc) cudaFree(b->acc);
    if (b->blas_ws) cudaFree(b->blas_ws);
    if (b->staging) cudaFreeHost(b->staging);
    if (b->stream) cudaStreamDestroy(b->stream);
    free(b->views);
    free(b);
}

static ntg_status cu_create(const ntg_backend_config *cfg, ntg_backend **out, ntg_error *err)
{
    char why[512];
    int device = 0;
    if (!cu_probe(why, sizeof why, &device)) {
        if (strncmp(why, "NTG_CUDA_DEVICE", 15) == 0)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "cuda: %s", why);
        return ntg__fail(err, NTG_ERR_BACKEND, "cuda: %s", why);
    }
    ntg_backend *b = calloc(1, sizeof *b);
    if (!b) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->cfg = *cfg;
    b->device = device;
    ntg_status st = NTG_OK;
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaHostAlloc(&b->staging, STAGING_BYTES, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        st = cu_fail(err, e, "creating the stream and the pinned staging buffer");
        goto fail;
    }
    if (blas_load(&b->blas, why, sizeof why)) {
        st = ntg__fail(err, NTG_ERR_BACKEND, "cuda: %s", why);
        goto fail;
    }
    cublasStatus_t bs = b->blas.create(&b->blas.handle);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = b->blas.set_stream(b->blas.handle, b->stream);
    /* plain FP32 (no TF32): the reference's tolerances hold for GEMMs too */
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = b->blas.set_math_mode(b->blas.handle, CUBLAS_DEFAULT_MATH);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        st = ntg__fail(err, NTG_ERR_BACKEND, "cuda: cuBLAS initialisation failed (status %d)",
                       (int)bs);
        goto fail;
    }
    lt_load(&b->blas);
    *out = b;
    return NTG_OK;
fail:
    cu_destroy(b);
    return st;
}

static int cu_supports(const ntg_backend *b, uint32_t code, int dir, int dtype)
{
    (void)b;
    if (code >= NTG_OP_COUNT || dtype != NTG_DTYPE_F32) return 0;
    return dir == NTG_DIR_FWD ? ntg__cu_fwd[code] != NULL : ntg__cu_bwd[code] != NULL;
}

/* ---------------------------------------------------------------- memory */

static ntg_status cu_buffer_alloc(ntg_backend *b, size_t size, ntg_buffer **out, ntg_error *err)
{
    ntg_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    size_t bytes = size ? size : 64;
    cudaError_t e = cudaSetDevice(b->device);
    if (e == cudaSuccess) e = cudaMalloc(&buf->dev, bytes);
    /* zeroed, as every backend's buffers: optimizer state starts at zero */
    if (e == cudaSuccess) e = cudaMemsetAsync(buf->dev, 0, bytes, b->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(b->stream);
    if (e != cudaSuccess) {
        if (buf->dev) cudaFree(buf->dev);
        free(buf);
        if (e == cudaErrorMemoryAllocation)
            return ntg__fail(err, NTG_ERR_NOMEM, "cuda: cannot allocate %zu bytes on device %d",
                             size, b->device);
        return cu_fail(err, e, "allocating device memory");
    }
    buf->size = size;
    *out = buf;
    return NTG_OK;
}

static void cu_buffer_free(ntg_backend *b, ntg_buffer *buf)
{
    if (!buf) return;
    cudaSetDevice(b->device);
    cudaStreamSynchronize(b->stream);
    cudaFree(buf->dev);
    free(buf);
}

/* Through the pinned staging buffer, STAGING_BYTES at a time: no allocation per transfer. */
static ntg_status cu_upload(ntg_backend *b, ntg_buffer *dst, size_t offset, const void *src,
                            size_t size, ntg_error *err)
{
    if (offset > dst->size || size > dst->size - offset)
        return ntg__fail(err, NTG_ERR_RANGE, "upload of %zu bytes at %zu outside a %zu-byte buffer",
                         size, offset, dst->size);
    CU_TRY(cudaSetDevice(b->device), "selecting the device");
    for (size_t at = 0; at < size; at += STAGING_BYTES) {
        size_t n = size - at < STAGING_BYTES ? size - at : STAGING_BYTES;
        memcpy(b->staging, (const uint8_t *)src + at, n);
        CU_TRY(cudaMemcpyAsync((uint8_t *)dst->dev + offset + at, b->staging, n,
                               cudaMemcpyHostToDevice, b->stream),
               "uploading");
        CU_TRY(cudaStreamSynchronize(b->stream), "uploading");
    }
    return NTG_OK;
}

static ntg_status cu_download(ntg_backend *b, const ntg_buffer *src, size_t offset, void *dst,
                              size_t size, ntg_error *err)
{
    if (offset > src->size || size > src->size - offset)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "download of %zu bytes at %zu outside a %zu-byte buffer", size, offset,
                         src->size);
    CU_TRY(cudaSetDevice(b->device), "selecting the device");
    for (size_t at = 0; at < size; at += STAGING_BYTES) {
        size_t n = size - at < STAGING_BYTES ? size - at : STAGING_BYTES;
        CU_TRY(cudaMemcpyAsync(b->staging, (const uint8_t *)src->dev + offset + at, n,
                               cudaMemcpyDeviceToHost, b->stream),
               "downloading");
        CU_TRY(cudaStreamSynchronize(b->stream), "downloading");
        memcpy((uint8_t *)dst + at, b->staging, n);
    }
    return NTG_OK;
}

/* ---------------------------------------------------------------- programs */

/* Enqueue program g's ops at `batch` on the stream while it is captured into *graph. */
static ntg_status capture(ntg_backend *b, uint32_t g, int batch, cudaGraph_t *graph, ntg_error *err)
{
    const ntg_plan_view *plan = b->plan;
    const ntg_program_view *pg = &plan->programs[g];
    *graph = NULL;
    CU_TRY(cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeThreadLocal),
           "starting a graph capture");
    for (uint32_t k = 0; k < pg->n_ops; k++) {
        const ntg_op_rec *op = &plan->ops[pg->ops[k]];
        ntg_view *v = b->views + op->operands;
        for (int i = 0; i < op->n_in + op->n_out; i++)
            if (v[i].d.batched) v[i].d.dims[0] = batch;
        ntg__cu_ctx c = {plan->attrs + op->attrs,
                         op->n_attr,
                         op->n_in,
                         op->n_out,
                         v,
                         v + op->n_in,
                         batch,
                         b->scratch,
                         b->scratch_bytes,
                         b->acc,
                         b->acc_count,
                         b->stream,
                         &b->blas,
                         b->msg,
                         sizeof b->msg};
        b->msg[0] = 0;
        ntg__cu_launch_fn fn =
            op->dir == NTG_DIR_FWD ? ntg__cu_fwd[op->code] : ntg__cu_bwd[op->code];
        if (!fn || fn(&c)) {
            cudaGraph_t broken = NULL;
            cudaStreamEndCapture(b->stream, &broken);
            if (broken) cudaGraphDestroy(broken);
            cudaGetLastError();
            const char *name = ntg__op_info(op->code)->cls->name;
            return ntg__fail(err, NTG_ERR_BACKEND, "%s: %s%s (program %s, batch %d): %s",
                             plan->strings + op->loc, name,
                             op->dir == NTG_DIR_BWD ? " backward" : "", pg->name, batch,
                             b->msg[0] ? b->msg : "no CUDA kernel");
        }
    }
    CU_TRY(cudaStreamEndCapture(b->stream, graph), "ending a graph capture");
    return NTG_OK;
}

/* Program g's graph at `batch` into slot s (replacing what was there). */
static ntg_status build_slot(ntg_backend *b, uint32_t g, int s, int batch, ntg_error *err)
{
    cu_prog *p = &b->progs[g];
    cudaGraph_t graph;
    ntg_status st = capture(b, g, batch, &graph, err);
    if (st) return st;
    cudaError_t e = cudaErrorUnknown;
    if (p->exec[s]) {
        /* same topology at another batch: the parameters are updated in place */
        cudaGraphExecUpdateResultInfo info;
        e = cudaGraphExecUpdate(p->exec[s], graph, &info);
        if (e != cudaSuccess) {
            cudaGetLastError();
            cudaGraphExecDestroy(p->exec[s]);
            p->exec[s] = NULL;
        }
    }
    if (e != cudaSuccess) e = cudaGraphInstantiate(&p->exec[s], graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        p->exec[s] = NULL;
        p->batch[s] = 0;
        return cu_fail(err, e, "instantiating a program's graph");
    }
    p->batch[s] = batch;
    return NTG_OK;
}

static ntg_status cu_prepare(ntg_backend *b, const ntg_plan_view *plan,
                             ntg_buffer *const storage[NTG_STORE_COUNT], ntg_error *err)
{
    CU_TRY(cudaSetDevice(b->device), "selecting the device");
    cu_release_graphs(b);
    b->plan = plan;
    for (int s = 0; s < NTG_STORE_COUNT; s++)
        b->base[s] = storage[s] ? (uint8_t *)storage[s]->dev : NULL;
    free(b->views);
    b->views = calloc(plan->n_operands + 1, sizeof *b->views);
    b->progs = calloc(plan->n_programs + 1, sizeof *b->progs);
    if (!b->views || !b->progs) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->n_progs = plan->n_programs;
    size_t scratch = 0, acc = 2;
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        const ntg_op_rec *op = &plan->ops[k];
        /* the distribution losses and loss_xent have no kernel yet, basis (which the compiler
         * folds) none at all: refuse the plan, naming the op, as the vulkan backend does
         * (docs/cuda.md) */
        if (op->code == NTG_OP_loss_normal || op->code == NTG_OP_loss_studentt ||
            op->code == NTG_OP_loss_xent || op->code == NTG_OP_basis)
            return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                             "%s: no CUDA kernel for %s yet; run the plan on the cpu or xnnpack "
                             "backend (--backend cpu)",
                             plan->strings + op->loc, ntg__op_info(op->code)->cls->name);
        ntg_view *v = b->views + op->operands;
        for (int i = 0; i < op->n_in + op->n_out; i++) {
            uint32_t id = plan->operands[op->operands + (uint32_t)i];
            memset(&v[i], 0, sizeof v[i]);
            if (id == NTG_NONE) continue;
            const ntg_tensor_rec *t = &plan->tensors[id];
            ntg__tdesc_from_rec(t, &v[i].d);
            if (ntg__bwd_has_value(op, i) && b->base[t->storage])
                v[i].data = b->base[t->storage] + t->offset;
        }
        ntg_kctx c = {plan->attrs + op->attrs, op->n_attr, op->n_in, op->n_out, v, v + op->n_in,
                      plan->max_batch,         NULL,       0};
        size_t need = ntg__cpu_scratch_bytes(op->code, op->dir, &c);
        size_t more = ntg__cu_scratch_bytes(op->code, op->dir, &c);
        if (need + more > scratch) scratch = need + more;
        size_t na = ntg__cu_acc_count(op->code, op->dir, &c);
        if (na > acc) acc = na;
    }
    if (b->scratch) cudaFree(b->scratch);
    if (b->acc) cudaFree(b->acc);
    b->scratch = NULL;
    b->acc = NULL;
    b->scratch_bytes = scratch;
    b->acc_count = acc;
    CU_TRY(cudaMalloc(&b->scratch, scratch ? scratch : 64), "allocating device scratch");
    CU_TRY(cudaMalloc((void **)&b->acc, acc * sizeof(double)), "allocating device accumulators");
    if (!b->blas_ws) CU_TRY(cudaMalloc(&b->blas_ws, BLAS_WS_BYTES), "allocating cuBLAS workspace");
    if (b->blas.set_workspace(b->blas.handle, b->blas_ws, BLAS_WS_BYTES) != CUBLAS_STATUS_SUCCESS)
        return ntg__fail(err, NTG_ERR_BACKEND, "cuda: cublasSetWorkspace failed");
    b->blas.ws = b->blas_ws;
    b->blas.ws_bytes = BLAS_WS_BYTES;
    int maxb = b->cfg.max_batch > 0 ? b->cfg.max_batch : plan->max_batch;
    for (uint32_t g = 0; g < plan->n_programs; g++) {
        ntg_status st = build_slot(b, g, SLOT_MAX, maxb, err);
        if (!st && maxb > 1) st = build_slot(b, g, SLOT_ONE, 1, err);
        if (st) return st;
    }
    return NTG_OK;
}

/*
 * One graph launch.  At the maximum batch and at batch 1 the graph captured at prepare runs
 * as it is.  Any other batch re-captures the program into the third slot and updates that
 * executable graph in place (cudaGraphExecUpdate): no device memory is allocated, but the
 * capture itself makes host allocations inside the CUDA driver, so such a run is not
 * allocation-free (docs/cuda.md, "Batches").  The slot keeps that batch for the next run.
 */
static ntg_status cu_run(ntg_backend *b, uint32_t program, int batch, ntg_error *err)
{
    if (!b->plan || program >= b->n_progs)
        return ntg__fail(err, NTG_ERR_INTERNAL, "cuda backend: no such program %u", program);
    CU_TRY(cudaSetDevice(b->device), "selecting the device");
    cu_prog *p = &b->progs[program];
    int s = 0;
    while (s < SLOTS && p->batch[s] != batch) s++;
    if (s == SLOTS) {
        s = SLOT_OTHER;
        ntg_status st = build_slot(b, program, s, batch, err);
        if (st) return st;
    }
    CU_TRY(cudaGraphLaunch(p->exec[s], b->stream), "launching a program");
    CU_TRY(cudaStreamSynchronize(b->stream), "running a program");
    return NTG_OK;
}

const ntg_backend_class ntg__backend_cuda = {
    "cuda",
    "CUDA kernels + cuBLAS, each program one CUDA graph (compiled, not yet run on hardware)",
    cu_available,
    cu_create,
    cu_destroy,
    cu_supports,
    cu_buffer_alloc,
    NULL, /* weights are copied to the device: no host memory is used in place */
    cu_buffer_free,
    cu_upload,
    cu_download,
    cu_prepare,
    cu_run,
    NULL,
    NULL, /* run_range: a program is one CUDA graph; the trainer all-reduces after it */
    NULL, /* run_elems */
};
