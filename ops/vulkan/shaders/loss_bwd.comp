// loss_bwd.comp — gradients of the masked losses (y, t, mask), float or double.
//
// dy = dloss m rho'(y - t) / (nq sum m), dt = -sum_k dy_k, dmask = dloss (l / nq - L) / sum m;
// zeros when the whole mask is 0. The _f64 build evaluates each element in double and rounds once,
// with the attributes' double values, as the reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "loss.glsl"

#ifdef NTG_F64
#define REAL double
REAL delta_r()
{
    return PD(LS_DELTA_D);
}
REAL quantile_r(uint k)
{
    return PD(LS_Q + P(LS_NQ) + 2u * k);
}
#else
#define REAL float
REAL delta_r()
{
    return PF(LS_DELTA);
}
REAL quantile_r(uint k)
{
    return PF(LS_Q + k);
}
#endif

REAL elem_grad_r(uint kind, uint k, REAL e)
{
    REAL delta = delta_r();
    if (kind == LS_MSE) return REAL(2) * e;
    if (kind == LS_MAE) return e > REAL(0) ? REAL(1) : e < REAL(0) ? REAL(-1) : REAL(0);
    if (kind == LS_HUBER) return abs(e) < delta ? e : e > REAL(0) ? delta : -delta;
    REAL q = quantile_r(k);
    return e < REAL(0) ? -q : e > REAL(0) ? REAL(1) - q : REAL(0.5) - q;
}

void main()
{
    Ref y = R(LS_Y), t = R(LS_T), m = R(LS_M), stats = R(LS_STATS), dl = R(LS_DL);
    Ref dy = R(LS_DY), dt = R(LS_DT), dm = R(LS_DM);
    bool has_m = P(LS_HAS_M) != 0u, has_dy = P(LS_HAS_DY) != 0u, has_dt = P(LS_HAS_DT) != 0u;
    bool has_dm = P(LS_HAS_DM) != 0u;
    uint kind = P(LS_KIND), nq = P(LS_NQ), inner = P(LS_INNER);
    uint n = P(LS_OUTER) * inner;
    float lval = ld(stats, 0u), w = ld(stats, 1u);
    precise REAL scale = w == 0.0 ? REAL(0) : REAL(ld(dl, 0u)) / REAL(w);
    precise REAL per_q = scale / REAL(nq);
    for (uint it = gid1(); it < n; it += gstride()) {
        uint o = it / inner, i = it % inner;
        REAL tv = REAL(ld(t, it)), mi = has_m ? REAL(ld(m, it)) : REAL(1);
        precise REAL sdt = REAL(0);
        for (uint k = 0u; k < nq; k++) {
            uint iy = (o * nq + k) * inner + i;
            precise REAL e = REAL(ld(y, iy)) - tv;
            precise REAL d = w == 0.0 ? REAL(0) : per_q * mi * elem_grad_r(kind, k, e);
            if (has_dy) sv(dy, iy, float(d));
            sdt = sdt - d;
        }
        if (has_dt) sv(dt, it, float(sdt));
        if (has_dm)
            sv(dm, it,
               w == 0.0 ? 0.0
                        : float(scale * (REAL(elem_sum(y, t, kind, it)) / REAL(nq) - REAL(lval))));
    }
}
