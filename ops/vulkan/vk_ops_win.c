/* vk_ops_win.c — param on the identity shader; avgpool1d, conv1d, unfold, dropout,
 * batchnorm and the distribution losses are refused at prepare
 * (no shader yet: the plan runs on the cpu or xnnpack backend, docs/vulkan.md). */
#include "vk_int.h"

/* param: the parameter copied to its output, its gradient copied back (identity's layout:
 * in = [weight], out = [y]; backward in = [weight, y, dy], out = [dweight]). */
ntg_status ntg__vk_fwd_param(ntg__vk_ctx *e)
{
    return ntg__vk_fwd_identity(e);
}
ntg_status ntg__vk_bwd_param(ntg__vk_ctx *e)
{
    return ntg__vk_bwd_identity(e);
}

static ntg_status no_shader(ntg__vk_ctx *e)
{
    return ntg__vk_fail(e, NTG_ERR_UNSUPPORTED,
                        "no shader for this op on the vulkan backend yet; run the plan on the cpu "
                        "or xnnpack backend (--backend cpu)");
}

ntg_status ntg__vk_fwd_avgpool1d(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_avgpool1d(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_conv1d(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_conv1d(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_unfold(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_unfold(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_dropout(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_dropout(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_batchnorm(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_batchnorm(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_batchnorm_stats(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_loss_normal(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_loss_normal(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_loss_studentt(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_loss_studentt(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_fwd_loss_xent(ntg__vk_ctx *e)
{
    return no_shader(e);
}
ntg_status ntg__vk_bwd_loss_xent(ntg__vk_ctx *e)
{
    return no_shader(e);
}
