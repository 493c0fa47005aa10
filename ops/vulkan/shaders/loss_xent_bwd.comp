// loss_xent_bwd.comp — the gradients of loss_xent, one element (o, i) per item:
// dy[o, k, i] = dloss m (softmax_k - [k == t]) / w (NaN where the label is not a class),
// dt = 0 (class indices are not differentiable), dmask = dloss (l - loss) / w; zeros when w
// is 0.  w and the loss come from loss_xent_fwd's backward pass (STATS).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

#ifdef NTG_F64
#define REAL double
#else
#define REAL float
#endif
#include "xent.glsl"

void main()
{
    Ref y = R(DS_Y), t = R(DS_T), m = R(DS_M), stats = R(DS_STATS), dl = R(DS_DL);
    Ref dy = R(DS_DY), dt = R(DS_DT), dm = R(DS_DM);
    bool has_m = P(DS_HAS_M) != 0u, has_dy = P(DS_HAS_DY) != 0u, has_dt = P(DS_HAS_DT) != 0u;
    bool has_dm = P(DS_HAS_DM) != 0u;
    uint nc = P(DS_NP), outer = P(DS_OUTER), inner = P(DS_INNER);
    REAL w = REAL(ld(stats, 0u)), lval = REAL(ld(stats, 1u));
    REAL scale = w != REAL(0) ? REAL(ld(dl, 0u)) / w : REAL(0);
    for (uint it = gid1(); it < outer * inner; it += gstride()) {
        uint o = it / inner, i = it - o * inner;
        if (w == REAL(0)) {
            for (uint k = 0u; k < nc; k++)
                if (has_dy) sv(dy, (o * nc + k) * inner + i, 0.0);
            if (has_dt) sv(dt, it, 0.0);
            if (has_dm) sv(dm, it, 0.0);
            continue;
        }
        REAL mi = has_m ? REAL(ld(m, it)) : REAL(1);
        float tv = ld(t, it);
        float l = xe_elem(y, nc, inner, o, i, tv, true);
        precise REAL sm = scale * mi;
        if (has_dy)
            for (uint k = 0u; k < nc; k++) {
                REAL gk = REAL(xe_p[k]) - (float(k) == tv ? REAL(1) : REAL(0));
                sv(dy, (o * nc + k) * inner + i, isnan(l) ? l : float(sm * gk));
            }
        if (has_dt) sv(dt, it, 0.0);
        if (has_dm) {
            precise REAL d = REAL(l) - lval;
            sv(dm, it, float(scale * d));
        }
    }
}
