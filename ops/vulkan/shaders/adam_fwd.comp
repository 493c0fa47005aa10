// adam_fwd.comp — Adam / AdamW step on one parameter, in place (torch.optim), float or double.
//
// torch.optim.Adam / AdamW with bias correction. The step's factors come from the host, computed
// as the reference computes them; the _f64 build computes each element's update in double and
// rounds once, as the reference (ops/ref/k_optim.c) does.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

#ifdef NTG_F64
#define REAL double
#define ATTR(k) PD(k##_D)
#else
#define REAL float
#define ATTR(k) PF(k)
#endif

void main()
{
    Ref p = R(AD_P), g = R(AD_G), m = R(AD_M), v = R(AD_V);
    uint n = P(AD_N);
    REAL beta1 = ATTR(AD_BETA1), beta2 = ATTR(AD_BETA2), eps = ATTR(AD_EPS), wd = ATTR(AD_WD);
    REAL step_size = ATTR(AD_STEP_SIZE), bc2_sqrt = ATTR(AD_BC2_SQRT), decay = ATTR(AD_DECAY);
    bool decoupled = P(AD_DECOUPLED) != 0u;
#ifdef NTG_F64
    REAL omb1 = 1.0LF - beta1, omb2 = 1.0LF - beta2;
#else
    REAL omb1 = PF(AD_OMB1), omb2 = PF(AD_OMB2);
#endif
    for (uint i = gid1(); i < n; i += gstride()) {
        precise REAL pi = REAL(ld(p, i)), gi = REAL(ld(g, i));
        if (decoupled)
            pi = pi * decay;
        else if (wd != REAL(0))
            gi = gi + wd * pi;
        precise REAL mi = REAL(ld(m, i)) * beta1 + gi * omb1;
        precise REAL vi = REAL(ld(v, i)) * beta2 + omb2 * gi * gi;
        precise REAL denom = sqrt(vi) / bc2_sqrt + eps;
        sv(m, i, float(mi));
        sv(v, i, float(vi));
        sv(p, i, float(pi - step_size * mi / denom));
    }
}
