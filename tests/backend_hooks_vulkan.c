/* backend_hooks_vulkan.c — the Vulkan backend's hooks: reductions, GEMM tiling, validation. */
#include <criterion/criterion.h>
#include <string.h>

#include "backend_hooks.h"
#include "test_vk_util.h"

/* knob: serial (-1: the device's; 0: a workgroup per line), no_subgroups, staging, gemm (-1;
 * 0 tiled, 1 direct), f64 (-1; 0: the float builds of the shaders that have a double one) */
/* clang-format off */
const bs_cfg bs_vk_cfgs[] = {
    {"as the device comes", 0, BS_ALLOC, {-1, 0, 0, -1, -1}},
    {"workgroup reductions, subgroups", 0, BS_ALLOC, {0, 0, 0, -1, -1}},
    {"workgroup reductions, shared memory", 0, BS_ALLOC, {0, 1, 0, -1, -1}},
    {"staging transfers", 0, BS_ALLOC, {-1, 0, 1, -1, -1}},
    {"tiled GEMM", 0, BS_ALLOC, {-1, 0, 0, 0, -1}},
    {"direct GEMM", 0, BS_ALLOC, {-1, 0, 0, 1, -1}},
    {"float32 builds", 0, BS_ALLOC, {-1, 0, 0, -1, 0}},
    {NULL, 0, 0, {0}},
};
/* clang-format on */

/* Ops whose kernels reduce across a workgroup (reduce.glsl). */
static int reduces(uint32_t code)
{
    switch (code) {
    case NTG_OP_add:
    case NTG_OP_sub:
    case NTG_OP_mul:
    case NTG_OP_reduce_sum:
    case NTG_OP_reduce_mean:
    case NTG_OP_reduce_max:
    case NTG_OP_softmax:
    case NTG_OP_log_softmax:
    case NTG_OP_layernorm:
    case NTG_OP_loss_mse:
    case NTG_OP_loss_mae:
    case NTG_OP_loss_huber:
    case NTG_OP_loss_pinball:
    case NTG_OP_clip_grad_norm:
        return 1;
    default:
        return 0;
    }
}

/* Ops that dispatch a shader with a double build (colsum, loss_bwd, sgd, adam, the window,
 * dropout, batchnorm, distribution-loss and cross-entropy shaders). */
static int doubles(uint32_t code)
{
    switch (code) {
    case NTG_OP_dense:
    case NTG_OP_layernorm:
    case NTG_OP_lstm:
    case NTG_OP_loss_mse:
    case NTG_OP_loss_mae:
    case NTG_OP_loss_huber:
    case NTG_OP_loss_pinball:
    case NTG_OP_sgd:
    case NTG_OP_adam:
    case NTG_OP_avgpool1d:
    case NTG_OP_conv1d:
    case NTG_OP_unfold:
    case NTG_OP_dropout:
    case NTG_OP_batchnorm:
    case NTG_OP_batchnorm_stats:
    case NTG_OP_loss_normal:
    case NTG_OP_loss_studentt:
    case NTG_OP_loss_xent:
        return 1;
    default:
        return 0;
    }
}

/* Ops that dispatch GEMMs: they run with the other GEMM shader too. */
static int multiplies(uint32_t code)
{
    return code == NTG_OP_dense || code == NTG_OP_matmul || code == NTG_OP_lstm;
}

int bs_vk_configure(ntg_backend *be, const bs_cfg *g, uint32_t code)
{
    int serial = g->knob[0], no_sub = g->knob[1], staging = g->knob[2], gemm = g->knob[3];
    int f64 = g->knob[4];
    if ((no_sub || serial >= 0) && !reduces(code)) return 0;
    if (gemm >= 0 && !multiplies(code)) return 0;
    if (f64 >= 0 && !doubles(code)) return 0;
    if (no_sub) ntg__vk_disable_subgroups(be);
    if (serial >= 0) ntg__vk_set_serial(be, serial);
    if (f64 >= 0) {
        if (!ntg__vk_f64(be)) return 0; /* no double on the device: already the float builds */
        ntg__vk_set_f64(be, f64);
    }
    if (staging) ntg__vk_force_staging(be);
    if (gemm >= 0) {
        if (gemm == ntg__vk_direct_gemm(be)) return 0; /* the other GEMM is the one to test */
        ntg__vk_set_direct_gemm(be, gemm);
    }
    return 1;
}

long bs_vk_finish(const ntg_backend_class *cls, ntg_backend *be, char *first, size_t cap)
{
    (void)cls;
    return ntg__vk_destroy_checked(be, first, cap);
}

long bs_vk_session_messages(ntg_backend *be, char *first, size_t cap)
{
    return ntg__vk_validation_messages(be, first, cap);
}

/* The suites run on lavapipe wherever it is installed (test_vk_util.h). */
void bs_vk_setup(void)
{
    vkt_use_lavapipe();
}
