// sgd_fwd.comp — SGD step on one parameter, in place (torch.optim.SGD), float or double.
//
// torch.optim.SGD on one parameter, in place (weight decay, momentum, Nesterov); the _f64 build
// computes each element's update in double and rounds once, as the reference.
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
    Ref p = R(SG_P), g = R(SG_G), ctl = R(SG_CTL), buf = R(SG_BUF);
    bool has_buf = P(SG_HAS_BUF) != 0u, nesterov = P(SG_NESTEROV) != 0u;
    uint n = P(SG_N);
    REAL momentum = ATTR(SG_MOMENTUM), dampening = ATTR(SG_DAMPENING), wd = ATTR(SG_WD);
    REAL lr = REAL(ld(ctl, 0u));
    // torch creates the buffer as a copy of d_p on the first step; a step below 1 reads as 1
    bool first = ld(ctl, 1u) <= 1.0;
    for (uint i = gid1(); i < n; i += gstride()) {
        precise REAL pi = REAL(ld(p, i)), d = REAL(ld(g, i));
        if (wd != REAL(0)) d = d + wd * pi;
        if (momentum != REAL(0) && has_buf) {
            precise REAL b =
                first ? d : momentum * REAL(ld(buf, i)) + (REAL(1) - dampening) * d;
            sv(buf, i, float(b));
            d = nesterov ? d + momentum * b : b;
        }
        sv(p, i, float(pi - lr * d));
    }
}
