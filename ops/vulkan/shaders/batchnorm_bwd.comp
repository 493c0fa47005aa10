// batchnorm_bwd.comp — batchnorm's gradients, one channel per invocation.
//
// Training form (BN_TRAIN, statistics from saved): xh = (x - mean) inv, db = sum dy,
// dw = sum dy xh, dx = w inv / n (n dy - db - xh dw).  Forecast form (running statistics, then
// constants): dx = dy w inv.  The reference's order and (in the _f64 build) its double
// arithmetic (ops/ref/k_batchnorm.c).
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
    Ref x = R(BN_X), w = R(BN_W), rm = R(BN_RM), rv = R(BN_RV), saved = R(BN_SAVED);
    Ref dy = R(BN_DY), dx = R(BN_Y), dw = R(BN_DW), db = R(BN_DB);
    bool train = P(BN_TRAIN) != 0u;
    bool has_dx = P(BN_HAS_DX) != 0u, has_dw = P(BN_HAS_DW) != 0u, has_db = P(BN_HAS_DB) != 0u;
    uint nb = P(BN_NB), c = P(BN_C), l = P(BN_L);
#ifdef NTG_F64
    REAL eps = PD(BN_EPS_D);
#else
    REAL eps = PF(BN_EPS_F);
#endif
    REAL n = REAL(nb * l);
    for (uint ch = gid1(); ch < c; ch += gstride()) {
        REAL mean = train ? REAL(ld(saved, ch)) : REAL(ld(rm, ch));
        REAL var = train ? REAL(ld(saved, c + ch)) : REAL(ld(rv, ch));
        precise REAL inv = REAL(1) / sqrt(var + eps);
        precise REAL sdy = REAL(0), sdyxh = REAL(0);
        for (uint bi = 0u; bi < nb; bi++)
            for (uint li = 0u; li < l; li++) {
                uint q = (bi * c + ch) * l + li;
                REAL g = REAL(ld(dy, q));
                sdy = sdy + g;
                precise REAL t = g * (REAL(ld(x, q)) - mean);
                precise REAL ti = t * inv;
                sdyxh = sdyxh + ti;
            }
        if (has_dw) sv(dw, ch, float(sdyxh));
        if (has_db) sv(db, ch, float(sdy));
        if (!has_dx) continue;
        precise REAL a = REAL(ld(w, ch)) * inv;
        for (uint bi = 0u; bi < nb; bi++)
            for (uint li = 0u; li < l; li++) {
                uint q = (bi * c + ch) * l + li;
                REAL g = REAL(ld(dy, q));
                if (train) {
                    precise REAL xh = (REAL(ld(x, q)) - mean) * inv;
                    precise REAL an = a / n;
                    precise REAL ng = n * g;
                    precise REAL r1 = ng - sdy;
                    precise REAL xs = xh * sdyxh;
                    precise REAL r2 = r1 - xs;
                    sv(dx, q, float(an * r2));
                } else {
                    precise REAL ga = g * a;
                    sv(dx, q, float(ga));
                }
            }
    }
}
