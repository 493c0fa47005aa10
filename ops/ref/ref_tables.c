/* ref_tables.c — the reference kernel tables, generated from ops.def. */
#include "ref_kernels.h"

const ntg_kernel_fn ntg__cpu_fwd[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1) [NTG_OP_##name] = ntg__cpu_fwd_##name,
#include "ops.def"
#undef NTG_OP
};

/* A differentiable op without ntg__cpu_bwd_<name> fails to link; NODIFF ops get NULL. */
const ntg_kernel_fn ntg__cpu_bwd[NTG_OP_COUNT] = {
#define NTG_OP(name, ni0, ni1, no0, no1) [NTG_OP_##name] = ntg__cpu_bwd_##name,
#define NTG_OP_NODIFF(name, ni0, ni1, no0, no1) [NTG_OP_##name] = NULL,
#include "ops.def"
#undef NTG_OP
#undef NTG_OP_NODIFF
};
