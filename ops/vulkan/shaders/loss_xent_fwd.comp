// loss_xent_fwd.comp — the masked mean softmax cross-entropy of loss_xent, by one invocation:
// w = sum m (or the element count), loss = sum m l / w (0 when w is 0), in the reference's
// order, in double in the _f64 build.  DS_BWD: the backward's first pass, writing [w, loss]
// to scratch instead of the loss.  DS_NP holds the class count C.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = 1) in;
#include "common.glsl"

#ifdef NTG_F64
#define REAL double
#else
#define REAL float
#endif
#include "xent.glsl"

void main()
{
    if (gl_GlobalInvocationID.x != 0u) return;
    Ref y = R(DS_Y), t = R(DS_T), m = R(DS_M), out_ = R(DS_OUT);
    bool has_m = P(DS_HAS_M) != 0u;
    uint nc = P(DS_NP), outer = P(DS_OUTER), inner = P(DS_INNER);
    uint n = outer * inner;
    precise REAL w = REAL(0), s = REAL(0);
    if (has_m)
        for (uint k = 0u; k < n; k++) w = w + REAL(ld(m, k));
    else
        w = REAL(n);
    if (w != REAL(0))
        for (uint o = 0u; o < outer; o++)
            for (uint i = 0u; i < inner; i++) {
                uint it = o * inner + i;
                REAL l = REAL(xe_elem(y, nc, inner, o, i, ld(t, it), false));
                precise REAL ml = has_m ? REAL(ld(m, it)) * l : l;
                s = s + ml;
            }
    REAL loss = w != REAL(0) ? s / w : REAL(0);
    if (P(DS_BWD) != 0u) {
        sv(out_, 0u, float(w));
        sv(out_, 1u, float(loss));
    } else {
        sv(out_, 0u, float(loss));
    }
}
