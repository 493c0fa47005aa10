/* backend_hooks_xnnpack.c — the xnnpack backend's hooks: thread splits and kernel policies. */
#include <criterion/criterion.h>
#include <string.h>

#include "backend_hooks.h"
#include "xnnpack/xnn_int.h"

const bs_cfg bs_xnn_cfgs[] = {
    {"1 thread, read-only weights", 1, BS_WRAP_RO, {0}},
    {"2 threads, writable weights", 2, BS_WRAP, {0}},
    {"2 threads, parallel at any size", 2, BS_WRAP_RO, {XNN_POL_PAR_ALWAYS}},
    {"2 threads, XNNPACK operators, parallel",
     2,
     BS_WRAP_RO,
     {XNN_POL_FC_XNNPACK | XNN_POL_XNN_ELEM | XNN_POL_PAR_ALWAYS}},
    {"1 thread, XNNPACK operators", 1, BS_WRAP_RO, {XNN_POL_FC_XNNPACK | XNN_POL_XNN_ELEM}},
    {"1 thread, xgemm on packed weights, AVX2 kernels",
     1,
     BS_WRAP_RO,
     {XNN_POL_FC_XGEMM | XNN_POL_VK_AVX2}},
    {"2 threads, portable kernels, parallel",
     2,
     BS_WRAP,
     {XNN_POL_VK_PORTABLE | XNN_POL_PAR_ALWAYS}},
    {NULL, 0, 0, {0}},
};

int bs_xnn_configure(ntg_backend *be, const bs_cfg *g, uint32_t code)
{
    (void)code;
    ntg__xnn_set_policy(be, (unsigned)g->knob[0]);
    return 1;
}

/* The ops (and directions) whose xnnpack implementation is the reference kernel by design
 * (docs/cpu-backend.md); every other one must not fall back to it. */
static int uses_reference(const char *case_name, uint32_t code, int bwd)
{
    if (code == NTG_OP_reduce_sum || code == NTG_OP_reduce_mean || code == NTG_OP_reduce_max ||
        code == NTG_OP_posenc || code == NTG_OP_loss_pinball || code == NTG_OP_param ||
        code == NTG_OP_avgpool1d || code == NTG_OP_conv1d || code == NTG_OP_unfold ||
        code == NTG_OP_dropout || code == NTG_OP_batchnorm || code == NTG_OP_batchnorm_stats ||
        code == NTG_OP_loss_normal || code == NTG_OP_loss_studentt || code == NTG_OP_loss_xent ||
        code == NTG_OP_basis)
        return 1;
    /* loss backward with dt or dmask wanted */
    if (bwd && (code == NTG_OP_loss_mse || code == NTG_OP_loss_mae || code == NTG_OP_loss_huber))
        return strstr(case_name, "dy and dt") || strstr(case_name, "all masked");
    return 0;
}

void bs_xnn_prepared(ntg_backend *be, const char *case_name, uint32_t code, int bwd, int log)
{
    if (log)
        cr_log_info("%-52s fwd %-14s bwd %s", case_name, ntg__xnn_op_impl(be, 0),
                    bwd ? ntg__xnn_op_impl(be, 1) : "-");
    cr_assert(uses_reference(case_name, code, 0) || strcmp(ntg__xnn_op_impl(be, 0), "reference"),
              "%s: the forward fell back to the reference kernel", case_name);
    if (bwd)
        cr_assert(uses_reference(case_name, code, 1) ||
                      strcmp(ntg__xnn_op_impl(be, 1), "reference"),
                  "%s: the backward fell back to the reference kernel", case_name);
}
