// batchnorm_fwd.comp — torch BatchNorm1d over axis 1 of [B, C] or [B, C, L], one channel per
// invocation.
//
// Training form (BN_TRAIN): the batch's mean and biased variance over (B, L), written to saved =
// [mean; biased var; unbiased var]; forecast form: running_mean and running_var.  Then
// y = (x - mean) w / sqrt(var + eps) + b.  The reference's order and (in the _f64 build) its
// double arithmetic, each result rounded once (ops/ref/k_batchnorm.c).
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

void main()
{
    Ref x = R(BN_X), w = R(BN_W), bias = R(BN_BIAS), rm = R(BN_RM), rv = R(BN_RV);
    Ref y = R(BN_Y), saved = R(BN_SAVED);
    bool train = P(BN_TRAIN) != 0u;
    uint nb = P(BN_NB), c = P(BN_C), l = P(BN_L);
#ifdef NTG_F64
    REAL eps = PD(BN_EPS_D);
#else
    REAL eps = PF(BN_EPS_F);
#endif
    REAL n = REAL(nb * l);
    for (uint ch = gid1(); ch < c; ch += gstride()) {
        precise REAL mean, var;
        if (train) {
            precise REAL s = REAL(0), s2 = REAL(0);
            for (uint bi = 0u; bi < nb; bi++)
                for (uint li = 0u; li < l; li++) s = s + REAL(ld(x, (bi * c + ch) * l + li));
            mean = n > REAL(0) ? s / n : REAL(0);
            for (uint bi = 0u; bi < nb; bi++)
                for (uint li = 0u; li < l; li++) {
                    precise REAL d = REAL(ld(x, (bi * c + ch) * l + li)) - mean;
                    precise REAL dd = d * d;
                    s2 = s2 + dd;
                }
            var = n > REAL(0) ? s2 / n : REAL(0);
            sv(saved, ch, float(mean));
            sv(saved, c + ch, float(var));
            sv(saved, 2u * c + ch, float(n > REAL(1) ? s2 / (n - REAL(1)) : var));
        } else {
            mean = REAL(ld(rm, ch));
            var = REAL(ld(rv, ch));
        }
        precise REAL inv = REAL(1) / sqrt(var + eps);
        precise REAL a = REAL(ld(w, ch)) * inv;
        REAL b0 = REAL(ld(bias, ch));
        for (uint bi = 0u; bi < nb; bi++)
            for (uint li = 0u; li < l; li++) {
                uint q = (bi * c + ch) * l + li;
                precise REAL d = REAL(ld(x, q)) - mean;
                precise REAL da = d * a;
                sv(y, q, float(da + b0));
            }
    }
}
