/* ir.h — the compiler's graph IR: tensors, op nodes and programs, before lowering to a plan. */
#ifndef NTG_IR_H
#define NTG_IR_H

#include "graph.h"
#include "ops.h"
#include "pool.h"
#include "rng.h"

typedef struct ntg_ir_tensor {
    const char *name;
    ntg_tdesc desc; /* batched tensors at the maximum batch */
    ntg_role role;
    ntg_storage storage;
    uint32_t link; /* GRAD / STATE: the parameter; else NTG_NONE */
    int producer;  /* node index, -1 for inputs, params, consts */
    float *data;   /* PARAM / CONST values (pool memory) */
    ntg_loc loc;
    uint64_t offset; /* in its storage, set by the memory planner / weight layout */
    uint64_t nbytes; /* at the maximum batch */
} ntg_ir_tensor;

typedef struct ntg_ir_node {
    uint16_t code;
    uint8_t dir;
    int n_in, n_out;
    uint32_t *in, *out; /* tensor ids (pool memory) */
    ntg_attr *attr;
    uint32_t n_attr;
    uint32_t saved; /* BWD: forward operands whose values the kernel reads */
    const char *scope;
    ntg_loc loc;
} ntg_ir_node;

typedef struct ntg_ir_program {
    const char *name;
    ntg_vec nodes;   /* uint32_t node ids in execution order */
    ntg_vec inputs;  /* uint32_t tensor ids */
    ntg_vec outputs; /* uint32_t tensor ids */
    uint64_t arena_peak;
} ntg_ir_program;

#define NTG_IR_MAX_PROGRAMS 5
/* The most bytes one tensor, the arena, the weights or the state may take: the plan
 * loader's storage limit (2^40, docs/plan-format.md). */
#define NTG_IR_MAX_BYTES ((uint64_t)1 << 40)

typedef struct ntg_ir_meta {
    const char *key, *value;
} ntg_ir_meta;

typedef struct ntg_ir {
    ntg_pool *pool;
    ntg_vec tensors; /* ntg_ir_tensor */
    ntg_vec nodes;   /* ntg_ir_node */
    ntg_ir_program programs[NTG_IR_MAX_PROGRAMS];
    int n_programs;
    ntg_vec meta; /* ntg_ir_meta */
    int max_batch;
    uint64_t arena_bytes, naive_arena_bytes, weights_bytes, state_bytes;
} ntg_ir;

static inline ntg_ir_tensor *ntg__ir_tensor(const ntg_ir *ir, uint32_t id)
{
    return (ntg_ir_tensor *)ntg__vec_at(&ir->tensors, id);
}
static inline ntg_ir_node *ntg__ir_node(const ntg_ir *ir, uint32_t id)
{
    return (ntg_ir_node *)ntg__vec_at(&ir->nodes, id);
}
static inline uint32_t ntg__ir_u32(const ntg_vec *v, size_t i)
{
    return *(const uint32_t *)ntg__vec_at(v, i);
}

void ntg__ir_init(ntg_ir *ir, ntg_pool *pool);
void ntg__ir_free(ntg_ir *ir);
/* New tensor; returns its id or NTG_NONE when out of memory. */
uint32_t ntg__ir_add_tensor(ntg_ir *ir, const char *name, const ntg_tdesc *desc, ntg_role role,
                            ntg_loc loc);
/* New node with room for n_in inputs and n_out outputs; returns its id or NTG_NONE. */
uint32_t ntg__ir_add_node(ntg_ir *ir, int code, int dir, int n_in, int n_out);
int ntg__ir_push_u32(ntg_vec *v, uint32_t x);
int ntg__ir_add_meta(ntg_ir *ir, const char *key, const char *value);
/* Bytes of a tensor description at its stated dims (callers have checked the size with
 * ntg__ir_check_size). */
uint64_t ntg__ir_desc_bytes(const ntg_tdesc *d);
/* NTG_ERR_RANGE naming the tensor, its shape and its bytes at `batch` when its element
 * count overflows or its bytes pass NTG_IR_MAX_BYTES; `what` is "tensor", "parameter"... */
ntg_status ntg__ir_check_size(const char *what, const char *name, const ntg_tdesc *d, int batch,
                              ntg_loc loc, ntg_error *err);
/* "1.5 GiB", "12.0 MiB", "512 bytes" into buf; returns buf. */
const char *ntg__ir_bytes_str(uint64_t bytes, char *buf, size_t cap);

/* rgraph -> IR: names resolved, nodes ordered topologically, parameters created and
 * initialised, shapes inferred, dead nodes removed, the `infer` program built. */
ntg_status ntg__ir_build(ntg_ir *ir, const ntg_rgraph *g, int max_batch, uint64_t seed,
                         ntg_error *err);
/* Run now the ops whose inputs are all constants (e.g. posenc): their outputs become
 * constants stored in the plan. */
ntg_status ntg__ir_fold_constants(ntg_ir *ir, ntg_error *err);
struct ntg_train_cfg;
/* Add the loss, the backward pass and the optimizer: programs eval, grad, train_step. */
ntg_status ntg__ir_add_training(ntg_ir *ir, const struct ntg_train_cfg *cfg, ntg_error *err);
/* Load parameter values from a safetensors file (see ntg_compile_options). */
ntg_status ntg__ir_load_weights(ntg_ir *ir, const char *path, int strict,
                                void (*warn)(void *, const char *), void *warn_user,
                                ntg_error *err);
/* Lay out ARENA tensors (liveness across every program) and WEIGHTS / STATE tensors. */
ntg_status ntg__ir_plan_memory(ntg_ir *ir, ntg_error *err);
/* Serialise to plan bytes (ntg__aligned_alloc'ed). */
ntg_status ntg__ir_emit(const ntg_ir *ir, void **bytes, size_t *size, ntg_error *err);

#endif /* NTG_IR_H */
