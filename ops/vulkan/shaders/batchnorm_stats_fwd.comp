// batchnorm_stats_fwd.comp — the running statistics' update, in place: running = (1 - m)
// running + m batch, the variance unbiased (torch), from batchnorm's saved statistics.
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
    Ref rm = R(BS_RM), rv = R(BS_RV), saved = R(BS_SAVED);
    uint c = P(BS_C);
#ifdef NTG_F64
    REAL m = PD(BS_M_D);
#else
    REAL m = PF(BS_M_F);
#endif
    precise REAL keep = REAL(1) - m;
    for (uint k = gid1(); k < c; k += gstride()) {
        precise REAL a = keep * REAL(ld(rm, k)), b = m * REAL(ld(saved, k));
        sv(rm, k, float(a + b));
        precise REAL a2 = keep * REAL(ld(rv, k)), b2 = m * REAL(ld(saved, 2u * c + k));
        sv(rv, k, float(a2 + b2));
    }
}
