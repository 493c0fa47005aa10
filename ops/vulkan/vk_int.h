/* vk_int.h — private to the Vulkan backend: device state, plan records and the emitter API. */
#ifndef NTG_VK_INT_H
#define NTG_VK_INT_H

#include <vulkan/vulkan.h>

#include "backend.h"
#include "ntg_error.h"
#include "vk_abi.h"

/* The compute pipelines (vk_pipes.def), one per shader. */
typedef enum ntg__vk_pipe {
#define NTG_VK_PIPE(name, builds) NTG_VK_PIPE_##name,
#include "vk_pipes.def"
#undef NTG_VK_PIPE
    NTG_VK_PIPE_COUNT
} ntg__vk_pipe;

/* Device memory: a VkBuffer with its own allocation, mapped when host-visible and coherent. */
struct ntg_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    void *map;
    size_t size;
};

/* One operand of the op being emitted. */
typedef struct ntg__vk_opnd {
    int present;        /* a tensor (not NTG_NONE) */
    int has_value;      /* its value may be read (a backward's unsaved forward values may not) */
    uint32_t sto;       /* storage index: 0 scratch, 1 arena, 2 weights, 3 state */
    uint32_t off;       /* first element */
    ntg_tdesc d;        /* at the actual batch */
    uint64_t max_bytes; /* bytes at the maximum batch: the range hazards are computed on */
} ntg__vk_opnd;

/* A byte range a dispatch reads or writes. */
typedef struct ntg__vk_range {
    uint64_t lo, hi;
    uint8_t sto, write;
} ntg__vk_range;

typedef struct ntg__vk_disp {
    uint32_t pipe;
    uint32_t words, base; /* parameter words and the first one's index */
    uint32_t op;          /* plan op index, for messages */
    uint32_t r0, nr;      /* its ranges */
    uint32_t gmax[3];     /* group counts at the maximum batch */
    int barrier;          /* a barrier before it */
} ntg__vk_disp;

typedef struct ntg__vk_prog {
    uint32_t d0, nd; /* its dispatches */
    VkCommandBuffer cmd;
    int batch; /* the batch its words and group counts were last written for (0: never) */
} ntg__vk_prog;

/* What an emitter works with; see SHADERS.md §5. */
typedef struct ntg__vk_ctx {
    ntg_backend *b;
    const ntg_plan_view *plan;
    const ntg_op_rec *op;
    const ntg_attr *attr; /* the op's attribute slots */
    uint32_t op_index;
    int planning; /* 1: prepare (record ranges), 0: write words for a run */
    int batch, max_batch;
    int n_in, n_out;
    ntg__vk_opnd *in, *out;
    uint64_t scratch_top;    /* floats of scratch this op has taken */
    uint64_t scratch_region; /* the largest scratch region so far (floats) */
    uint32_t cursor;         /* next dispatch (runs) */
    uint32_t end;            /* one past the program's last dispatch (runs) */
    ntg_status status;
    ntg_error *err;
} ntg__vk_ctx;

typedef ntg_status (*ntg__vk_emit_fn)(ntg__vk_ctx *e);
#define NTG_OP(name, ni0, ni1, no0, no1)                                                           \
    ntg_status ntg__vk_fwd_##name(ntg__vk_ctx *e);                                                 \
    ntg_status ntg__vk_bwd_##name(ntg__vk_ctx *e);
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1) ntg_status ntg__vk_fwd_##name(ntg__vk_ctx *e);
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF

/* ------------------------------------------------------------ emitter API (vk_emit.c) */

/* Start a dispatch of `pipe` with `words` parameter words and group counts (at the actual
 * batch); returns the words to fill (zeroed when planning), NULL on failure (e->status). */
uint32_t *ntg__vk_dispatch(ntg__vk_ctx *e, int pipe, uint32_t words, uint32_t gx, uint32_t gy,
                           uint32_t gz);
/* The last dispatch reads / writes all of operand o (at the maximum batch). */
void ntg__vk_read(ntg__vk_ctx *e, const ntg__vk_opnd *o);
void ntg__vk_write(ntg__vk_ctx *e, const ntg__vk_opnd *o);
/* A scratch region of `floats` elements, sized at the maximum batch (SHADERS.md §2). */
ntg__vk_opnd ntg__vk_scratch(ntg__vk_ctx *e, uint64_t floats);
/* Fail the emission with NTG_ERR_UNSUPPORTED or NTG_ERR_INTERNAL and a message. */
ntg_status ntg__vk_fail(ntg__vk_ctx *e, ntg_status st, const char *fmt, ...) NTG_PRINTF(3, 4);

/* Groups of NTG_VK_WG invocations for n items of a grid-stride loop (at most 4096). */
uint32_t ntg__vk_groups1d(uint64_t n);
/* Operand reference words: the descriptor slot and the element offset (+ extra) in it. */
void ntg__vk_ref(const ntg__vk_ctx *e, uint32_t *w, const ntg__vk_opnd *o, uint64_t extra);
uint32_t ntg__vk_fbits(double v);
/* A double as two words, low then high (the _f64 builds' PD()). */
void ntg__vk_dbits(uint32_t *w, double v);
/* Elements of o at the actual batch. */
uint64_t ntg__vk_numel(const ntg__vk_opnd *o);

/* Shared building blocks. */
ntg_status ntg__vk_fill(ntg__vk_ctx *e, const ntg__vk_opnd *dst, float value);
/* dst[dst_extra + sum idx dst_st] = src[src_extra + sum idx src_st] over dims[rank]
 * (axes of extent 1 dropped, contiguous neighbours merged). */
ntg_status ntg__vk_copy(ntg__vk_ctx *e, const ntg__vk_opnd *src, int64_t src_extra,
                        const ntg__vk_opnd *dst, int64_t dst_extra, int rank, const int64_t *dims,
                        const int64_t *src_st, const int64_t *dst_st);
/* y = f(x) (fwd) or dx = dy f'(.) (bwd) with unary_fwd / unary_bwd's modes. */
ntg_status ntg__vk_unary(ntg__vk_ctx *e, int bwd, uint32_t mode, float factor,
                         const ntg__vk_opnd *x, const ntg__vk_opnd *y, const ntg__vk_opnd *dy,
                         const ntg__vk_opnd *dx, uint64_t n);
/* y[j] (and y2[j]) = sum over rows of x[r * ldx + j]. */
ntg_status ntg__vk_colsum(ntg__vk_ctx *e, const ntg__vk_opnd *x, uint64_t rows, uint64_t cols,
                          uint64_t ldx, const ntg__vk_opnd *y, const ntg__vk_opnd *y2);

typedef struct ntg__vk_mat {
    const ntg__vk_opnd *o;
    uint64_t extra; /* elements past the operand's start */
    uint64_t ld;    /* row stride of the stored matrix */
    int trans;      /* op(X) = X^T */
} ntg__vk_mat;

typedef struct ntg__vk_gemm_args {
    uint64_t m, n, k;
    ntg__vk_mat a, b, c; /* c.trans is ignored */
    int acc;             /* C += */
    float alpha;
    const ntg__vk_opnd *bias; /* per column, or NULL */
    int act;                  /* ntg_act */
    int qn, rn;
    uint64_t qdims[GEMM_MAXQ], qsa[GEMM_MAXQ], qsb[GEMM_MAXQ], qsc[GEMM_MAXQ];
    uint64_t rdims[GEMM_MAXQ], rsa[GEMM_MAXQ], rsb[GEMM_MAXQ];
} ntg__vk_gemm_args;

ntg_status ntg__vk_gemm(ntg__vk_ctx *e, const ntg__vk_gemm_args *g);

/* The step's factors of an Adam op into its words from the control tensor's values. */
void ntg__vk_adam_words(const ntg_attr *attr, const float *ctl, uint32_t *words);

/* ------------------------------------------------------------ backend (vk_backend.c) */

/* The last values uploaded to the control tensor at (storage, element offset): the
 * optimizer's learning rate and step, which Adam's factors are computed from on the host
 * (zeros before any upload, as the zeroed arena). */
const float *ntg__vk_ctl_shadow(const ntg_backend *b, uint32_t sto, uint32_t off);

extern const ntg__vk_emit_fn ntg__vk_emit_fwd[NTG_OP_COUNT];
extern const ntg__vk_emit_fn ntg__vk_emit_bwd[NTG_OP_COUNT];

/* Appends a dispatch record while planning (vk_backend.c owns the arrays). */
ntg_status ntg__vk_plan_push(ntg_backend *b, const ntg__vk_disp *d, ntg_error *err);
ntg_status ntg__vk_plan_range(ntg_backend *b, const ntg__vk_range *r, ntg_error *err);
/* The words sink while planning (at least `words` long, zeroed). */
uint32_t *ntg__vk_plan_sink(ntg_backend *b, uint32_t words, ntg_error *err);
/* When running: the words and group counts of dispatch `index`, and its record. */
const ntg__vk_disp *ntg__vk_disp_at(const ntg_backend *b, uint32_t index);
uint32_t *ntg__vk_words_at(ntg_backend *b, uint32_t index);
uint32_t *ntg__vk_groups_at(ntg_backend *b, uint32_t index);
/* The descriptor slot of storage `sto` whose window holds byte `at` (and the tensor there),
 * and the window's first byte (SHADERS.md §1: storages above maxStorageBufferRange). */
void ntg__vk_window(const ntg_backend *b, uint32_t sto, uint64_t at, uint32_t *slot,
                    uint64_t *start);
/* 1 when line reductions use their _serial builds (one line per invocation: CPU devices). */
int ntg__vk_serial(const ntg_backend *b);
/* Workgroups for `lines` lines of a line-reduction shader (a workgroup per line, or serial). */
uint32_t ntg__vk_line_groups(const ntg__vk_ctx *e, uint64_t lines);
/* 1 when GEMMs use gemm_direct (CPU devices), 0 for the tiled shared-memory gemm. */
int ntg__vk_direct_gemm(const ntg_backend *b);
/* The device's largest group counts. */
const uint32_t *ntg__vk_max_groups(const ntg_backend *b);

/* For tests: validation messages counted so far (NTG_VULKAN_VALIDATION=1) and the first one. */
long ntg__vk_validation_messages(const ntg_backend *b, char *first, size_t cap);
/* For tests: destroy, then report the validation messages of the whole life, teardown
 * included (destroy alone prints them to stderr). */
long ntg__vk_destroy_checked(ntg_backend *b, char *first, size_t cap);
/* For tests (before prepare): the tiled GEMM (0) or the direct one (1) whatever the device. */
void ntg__vk_set_direct_gemm(ntg_backend *b, int direct);
/* For tests: bytes uploaded and downloaded so far (through the vtable). */
void ntg__vk_transfer_bytes(const ntg_backend *b, uint64_t *up, uint64_t *down);
/* For tests: descriptor windows of a storage after prepare (1 unless it exceeds
 * maxStorageBufferRange). */
uint32_t ntg__vk_windows(const ntg_backend *b, int storage);
/* For tests: one invalid (and harmless) API call, to see the validation messenger count it. */
void ntg__vk_provoke_validation(ntg_backend *b);
/* For tests: move every transfer through the staging buffer, as on a discrete GPU whose
 * device-local memory is not host-visible.  Call before allocating buffers. */
void ntg__vk_force_staging(ntg_backend *b);
/* For tests: whether the subgroup builds are used; ntg__vk_disable_subgroups (before prepare)
 * takes the shared-memory builds on a device that has subgroup arithmetic. */
int ntg__vk_uses_subgroups(const ntg_backend *b);
void ntg__vk_disable_subgroups(ntg_backend *b);
/* Whether the _f64 builds are used (the device has shaderFloat64); for tests (before
 * prepare) ntg__vk_set_f64(b, 0) takes the float builds. */
int ntg__vk_f64(const ntg_backend *b);
void ntg__vk_set_f64(ntg_backend *b, int f64);
/* For tests (before prepare): line reductions serial (1) or a workgroup per line (0). */
void ntg__vk_set_serial(ntg_backend *b, int serial);
const char *ntg__vk_device_name(const ntg_backend *b);
/* For tests: dispatches and barriers recorded into program `program`. */
void ntg__vk_program_stats(const ntg_backend *b, uint32_t program, uint32_t *dispatches,
                           uint32_t *barriers);

#endif /* NTG_VK_INT_H */
