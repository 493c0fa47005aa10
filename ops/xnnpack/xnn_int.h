/* xnn_int.h — private to the xnnpack backend: instance, prepared ops, kernel tables. */
#ifndef NTG_XNN_INT_H
#define NTG_XNN_INT_H

#include <stddef.h>
#include <stdint.h>
#ifdef NTG_HAVE_XNNPACK
#include <xnnpack.h>
typedef xnn_operator_t xnn_xop_t;
#else
/* Built without libXNNPACK (docs/cpu-backend.md): no XNNPACK operator exists, these fields
 * stay NULL and every op runs on our own kernels (ops/simd/) or the reference's. */
typedef void *xnn_xop_t;
#endif

#include "backend.h"
#include "host_buf.h"
#include "tpool.h"
#include "simd/vmath.h"
#include "simd/xgemm.h"

/* ------------------------------------------------------------- instance */

typedef struct xnn_op xnn_op;

/* Runs a prepared op at `batch` (its views already describe that batch).  Never allocates. */
typedef void (*xnn_run_fn)(ntg_backend *b, xnn_op *o, int batch);

/* A plan op with its implementation chosen and its arguments precomputed. */
struct xnn_op {
    uint32_t code;
    int dir;
    const ntg_attr *attr;
    uint32_t n_attr;
    int n_in, n_out;
    ntg_view *in, *out; /* operands, dims[0] of batched ones patched to each run's batch */
    uint32_t const_in;  /* bit i: input i lives in read-only weights, so it may be packed */
    int max_batch;
    xnn_run_fn run;
    const char *impl; /* which implementation, for reports */
    size_t scratch;   /* bytes of the shared scratch this op uses */
    xnn_xop_t xop;
    xnn_xop_t *xclone; /* copies of xop for tasks 1.. of a row split (XNNPACK fc) */
    int n_xclone;
    size_t xop_key;    /* what xop was last set up for (rows and threads); 0: not yet */
    void *own;         /* packed weights, tables: owned, freed with the instance */
    int own_shared;    /* own is the plan's shared copy (ntg__xnn_pack_shared): put, not free */
    int64_t i[8];      /* implementation parameters */
    void *fuse_out;    /* a fused chain's final output (see xnn_fuse.c) */
    double fuse_scale; /* its factor */
    /* a fusion that applies only in some programs (xnn_fuse.c): bit g set = in program g
     * this op does the fused work (or nothing); in the others it runs run_unfused */
    uint64_t fuse_progs;
    uint64_t fuse_keep; /* attention: programs (of fuse_progs) whose backward reads P: stored */
    xnn_run_fn run_unfused;
    xnn_op *fuse_next; /* attention: the P.V matmul whose output the fused kernel writes */
    /* attention: its output written inside a [B, T, ld] tensor instead of plainly as
     * [B, H, T, Dh] (xnn_fuse.c): head q's rows start at data + off + (q / h) T ld + (q % h) Dh,
     * ld apart; v NULL: plain */
    struct {
        const ntg_view *v;
        int64_t off, ld, h;
    } hl;
    float *zsave;    /* GELU dense, training: the pre-activations, kept for the backward */
    int zsave_owned; /* the forward op owns zsave (freed with the instance) */
    double prof_ns;  /* NTG_XNN_PROFILE: time spent in this op */
    uint64_t prof_runs;
    uint64_t prof_par; /* parallel calls it made (pool dispatches: one fork/join each) */
};

/* Policy bits for tests and measurements (ntg__xnn_set_policy); 0 = the measured defaults. */
enum {
    XNN_POL_REFERENCE = 1u << 0,     /* every op through the reference kernels */
    XNN_POL_FC_XNNPACK = 1u << 1,    /* inference dense: XNNPACK fully connected */
    XNN_POL_FC_XGEMM = 1u << 2,      /* inference dense: ntg__xgemm on packed weights */
    XNN_POL_PAR_ALWAYS = 1u << 3,    /* every parallel kernel on all threads, whatever its size */
    XNN_POL_NO_XNNOPS = 1u << 4,     /* no XNNPACK operator anywhere: own kernels only */
    XNN_POL_XNN_ELEM = 1u << 5,      /* add/sub/mul/sigmoid/softmax/maxpool on XNNPACK operators */
    XNN_POL_VK_AVX2 = 1u << 6,       /* vector kernels: AVX2 at most (also under the ISA cap) */
    XNN_POL_VK_PORTABLE = 1u << 7,   /* the portable vector kernels */
    XNN_POL_NO_FUSION = 1u << 8,     /* run every op by itself */
    XNN_POL_NO_UNITS = 1u << 9,      /* LSTM under `threads` rows: one thread, units not split */
    XNN_POL_NO_ADAPT = 1u << 10,     /* never fall back to the calling thread alone (xnn_run) */
    XNN_POL_SOLO = 1u << 11,         /* every run on the calling thread alone, splits kept */
    XNN_POL_NO_ATTENTION = 1u << 12, /* no whole-attention fusion (matmul+softmax still fused) */
    XNN_POL_NO_EPI_ACT = 1u << 13,   /* dense: GELU/tanh/sigmoid as a pass after the GEMM */
    XNN_POL_NO_ADD_LN = 1u << 14,    /* residual add and layernorm as two passes */
    XNN_POL_NO_ATTN_BWD = 1u << 15,  /* the attention backward as its four ops */
    XNN_POL_NO_HEADS = 1u << 16,     /* the heads' split/merge chains op by op (copies) */
    XNN_POL_NO_ATTN_LAYOUT = 1u << 17, /* attention output as [B, H, T, Dh] (moves kept) */
};

/*
 * Whether a program's runs use the workers at all is measured (xnn_backend.c, xnn_run): on a
 * machine whose cores are busy with other processes, a worker descheduled in the middle of its
 * index makes the caller wait a scheduler slice, and for programs made of many short parallel
 * ops (a batch-1 training step) that costs more than the second thread brings.  Every
 * XNN_ADAPT_CYCLE runs of a program at a batch class (log2 of the batch), a warm-up run and
 * then XNN_ADAPT_PROBES runs each way, alternated, are timed; the rest of the cycle runs the
 * way with the lower mean.  Run "solo", every kernel keeps its split into indices and runs
 * them on the calling thread, so the bits do not change.  The workers have to win by 10 %
 * (XNN_ADAPT_MARGIN): a near tie goes to the calling thread alone.  After a probe the workers
 * won clearly (their runs under XNN_ADAPT_CLEAR of the solo ones), the next cycle probes with
 * one run each way instead of XNN_ADAPT_PROBES: the solo probes of a 2-thread training step
 * cost ~4 % of its throughput, and a machine turned busy still shows in one pair (a descheduled
 * worker costs milliseconds); any other outcome goes back to the full probe.
 */
enum { XNN_ADAPT_PROGRAMS = 8, XNN_ADAPT_CLASSES = 16, XNN_ADAPT_CYCLE = 64, XNN_ADAPT_PROBES = 4 };
/* the workers are kept only when their probe runs took less than this share of the solo ones */
#define XNN_ADAPT_MARGIN 0.9
/* ... and a win under this share makes the next probe a single pair */
#define XNN_ADAPT_CLEAR 0.75

typedef struct xnn_adapt {
    uint32_t runs;        /* runs so far */
    uint32_t probes;      /* probe runs each way in the current cycle (0: XNN_ADAPT_PROBES) */
    uint32_t next_probes; /* ... and in the next one, from the last probe's outcome */
    int solo;             /* the choice for the rest of the cycle */
    double t_par, t_solo; /* the current probe's sums, ns */
} xnn_adapt;

struct ntg_backend {
    ntg_backend_config cfg;
    int threads;
    unsigned policy;
    ntg_tpool *pool;       /* NULL with one thread */
    int isa;               /* the instruction-set cap (NTG_ISA_*, NTG_CPU_ISA read at create): every
                            * xgemm call and packing passes it on (ntg_xgemm_args.isa) */
    const ntg_simd_vk *vk; /* the vector kernels, within the cap */
    const ntg_plan_view *plan;
    const ntg_shared_cache *shared; /* the plan's, when weights are read-only; else NULL */
    uint8_t *base[NTG_STORE_COUNT];
    int weights_readonly;
    ntg_view *views; /* every op's operands, op k's at views[plan->ops[k].operands] */
    xnn_op *ops;     /* one per plan op */
    uint32_t n_ops;
    void *scratch;
    size_t scratch_bytes;
    int pool_used;        /* a parallel call since the run began */
    uint64_t dispatches;  /* parallel calls so far (NTG_XNN_PROFILE's count per op) */
    int solo;             /* this run uses no worker (the adaptive choice, xnn_adapt) */
    uint32_t cur_program; /* the program being run (per-program fusions, xnn_fuse.c) */
    /* a run cut into op ranges (xnn_run_range): its adaptive record, whether it is a probe,
     * and the time its ranges took so far (ns; not the caller's time between them) */
    xnn_adapt *run_ad;
    int run_probe;
    uint32_t run_pos; /* the run's place in its adaptive cycle */
    double run_ns;
    xnn_adapt adapt[XNN_ADAPT_PROGRAMS][XNN_ADAPT_CLASSES];
    int profile; /* NTG_XNN_PROFILE set at create: time every op, print at destroy; 2
                  * (NTG_XNN_PROFILE=ops): also one line per op */
};

/* Force implementation choices before prepare (tests, benchmarks). */
void ntg__xnn_set_policy(ntg_backend *b, unsigned policy);
/* The implementation op `k` of the prepared plan runs ("xnnpack-fc", "xgemm-packed", ...). */
const char *ntg__xnn_op_impl(const ntg_backend *b, uint32_t k);

/* ------------------------------------------------------- shared helpers */

typedef void (*xnn_task_fn)(void *ctx, size_t i);

/* A spin-wait step (the pause instruction where there is one). */
static inline void ntg__xnn_spin_pause(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_ia32_pause();
#endif
}

/* Set a prepared op's batched operands to `batch` (xnn_run_range does it for each op as it
 * comes; a fused kernel doing a later op's work calls it for that op first). */
static inline void ntg__xnn_patch_batch(xnn_op *o, int batch)
{
    for (int i = 0; i < o->n_in + o->n_out; i++)
        if (o->in[i].d.batched) o->in[i].d.dims[0] = batch;
}

/* Run fn(ctx, 0..n-1) on up to `nthr` threads of the pool (inline when nthr <= 1). */
void ntg__xnn_parallel(ntg_backend *b, int nthr, xnn_task_fn fn, void *ctx, size_t n);
/* Threads worth using for work of `flops` operations touching `bytes` of memory. */
int ntg__xnn_threads_for(const ntg_backend *b, double flops, double bytes);
/* The pool to hand xgemm for `nthr` threads (NULL: run inline).  XNNPACK operators get no
 * pthreadpool: they run on the calling thread, or split by rows over this pool. */
ntg_tpool *ntg__xnn_pool(ntg_backend *b, int nthr);
/* ntg__xgemm with this instance's pool and a thread count chosen from the product's size. */
void ntg__xnn_gemm(ntg_backend *b, const ntg_xgemm_args *g);
/* Scratch bound of ntg__xnn_gemm for `g` at any m up to g->m. */
size_t ntg__xnn_gemm_scratch(const ntg_backend *b, const ntg_xgemm_args *g);
/* d1[j] = d2[j] = sum_r z[r, j] in double, row order (either may be NULL): the reference's
 * bias-gradient order, so bitwise its result whatever the threads. */
void ntg__xnn_colsum(ntg_backend *b, const float *z, int64_t rows, int64_t cols, float *d1,
                     float *d2);
/*
 * Chunks for an elementwise kernel split over nthr threads: up to XNN_CHUNKS_PER_THREAD per
 * thread, each at least min_per_chunk elements, never fewer than nthr.  Chunks are claimed
 * from the pool's counter, so with more chunks than threads a worker that starts late (woken
 * from its sleep, or descheduled) leaves its share to the caller instead of making it wait
 * for a whole half; an elementwise result does not depend on the split.
 */
enum { XNN_CHUNKS_PER_THREAD = 4 };
size_t ntg__xnn_chunks(int nthr, int64_t n, int64_t min_per_chunk);
/* dst [cols, rows] = src [rows, cols]^T with the GEMM's packing transposes (ISA within the cap),
 * columns split across threads. */
void ntg__xnn_transpose(ntg_backend *b, const float *src, int64_t rows, int64_t cols, float *dst);
/* Elements of a view at its current dims. */
int64_t ntg__xnn_numel(const ntg_view *v);
/* Zero a view's data when it has any. */
void ntg__xnn_zero(const ntg_view *v);
/* The reference kernel of the op (fallback). */
void ntg__xnn_run_ref(ntg_backend *b, xnn_op *o, int batch);
/* Set o->own to `bytes` of packed read-only weights made by fill(ctx, mem, err): the plan's
 * copy shared by every session of the plan on this backend and instruction set (made by the
 * first, refcounted; `what` names the packing in the key), or the instance's own when the
 * plan shares nothing. */
ntg_status ntg__xnn_pack_shared(ntg_backend *b, xnn_op *o, const char *what, size_t bytes,
                                ntg_shared_fill_fn fill, void *ctx, ntg_error *err);
/* Scratch of the reference kernel at the maximum batch. */
size_t ntg__xnn_ref_scratch(const ntg_backend *b, const xnn_op *o);

/* -------------------------------------- op preparation (xnn_*.c kernel files) */

/* Choose the implementation of `o` and precompute its arguments: sets o->run, o->impl and
 * o->scratch, may create XNNPACK operators and pack weights.  Views describe the maximum
 * batch.  NTG_OK (having left o->run NULL means: use the reference kernel). */
typedef ntg_status (*xnn_prep_fn)(ntg_backend *b, xnn_op *o, ntg_error *err);

ntg_status ntg__xnn_prep_dense(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_dense_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_matmul(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_matmul_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_lstm(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_lstm_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_unary(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_unary_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_bcast(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_bcast_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_softmax(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_softmax_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_layernorm(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_layernorm_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_layout(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_layout_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_maxpool(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_maxpool_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_interp(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_interp_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_loss(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_loss_bwd(ntg_backend *b, xnn_op *o, ntg_error *err);
ntg_status ntg__xnn_prep_optim(ntg_backend *b, xnn_op *o, ntg_error *err);

/* Link GELU dense forward and backward pairs of a prepared trainable plan so that the
 * backward reads the forward's pre-activations instead of recomputing them (xnn_dense.c). */
ntg_status ntg__xnn_link_gelu(ntg_backend *b, const ntg_plan_view *plan, ntg_error *err);

/* ------------------------------------------------------------- fusion */

/* Find chains of ops that can run as one over the prepared plan (xnn_fuse.c) and rewire
 * them; *scratch grows to what fused kernels need. */
ntg_status ntg__xnn_fuse(ntg_backend *b, const ntg_plan_view *plan, size_t *scratch,
                         ntg_error *err);
/* matmul -> scale -> softmax (last axis) as one kernel, writing only the softmax output:
 * prepares `o` (the matmul) for it; 0, or -1 when the geometry does not qualify. */
int ntg__xnn_prep_mm_softmax(ntg_backend *b, xnn_op *o, void *out, double factor);
/* The whole attention block: `o` already prepared by ntg__xnn_prep_mm_softmax, `pv` the
 * matmul P.V reading its softmax output; in the programs of o->fuse_progs, o computes
 * softmax(factor QK^T) V per head straight into pv's output and pv does nothing; P is never
 * stored, except in the programs of `keep` (their backward reads it), where each head's P is
 * written and read back by P.V while in cache.  0, or -1 when the geometry does not qualify
 * (nothing changed). */
int ntg__xnn_prep_attention(ntg_backend *b, xnn_op *o, xnn_op *pv, uint64_t progs, uint64_t keep);
/* add (same shapes, our kernel) -> layernorm of the sum, the layernorm running right after:
 * `add` computes both, block by block (xnn_norm.c); the caller makes `ln` do nothing.  0, or
 * -1 when they do not qualify (nothing changed). */
int ntg__xnn_prep_add_layernorm(ntg_backend *b, xnn_op *add, xnn_op *ln);
/* The attention backward: `pv` (the P.V matmul's backward, run_matmul_bwd), then the
 * softmax's and the scale's (factor `factor`), then `qk` (Q.K^T's), consecutive, the two
 * gradients between them read by nothing else: `pv` computes dV, dQ and dK per head with dP
 * and dS kept in its scratch (xnn_dense.c); the caller makes the three others do nothing.
 * 0, or -1 when the geometry does not qualify (nothing changed). */
int ntg__xnn_prep_attention_bwd(ntg_backend *b, xnn_op *pv, xnn_op *qk, double factor);

/* The whole view of the heads move `o` prepared by ntg__xnn_prep_heads (NULL: `o` is none),
 * with its row length and the column offset of the piece whose data is `piece` (-1: none). */
const ntg_view *ntg__xnn_heads_whole(const xnn_op *o, const void *piece, int64_t *ld, int64_t *off);

/* The heads' layout in one move: with to_heads, piece j ([B, H, T, Dh]) gets columns off[j] ..
 * off[j] + H Dh of every row of whole ([B, T, C]); without, the reverse.  `o` (an op of the
 * chain it replaces, running last) does it; the views are read at run time.  0, or -1 when
 * the arguments do not qualify (nothing changed). */
int ntg__xnn_prep_heads(xnn_op *o, int to_heads, int np, int64_t t, int64_t h, int64_t dh,
                        int64_t c, const int64_t *off, const ntg_view *whole,
                        const ntg_view *const *piece);

#endif /* NTG_XNN_INT_H */
