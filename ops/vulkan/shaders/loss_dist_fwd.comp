// loss_dist_fwd.comp — the masked mean NLL of loss_normal / loss_studentt, by one invocation:
// w = sum m (or the element count), loss = sum m l / w (0 when w is 0).  Sums in the
// reference's order, in double in the _f64 build (the elements themselves in float).
// DS_BWD: the backward's first pass, writing [w, loss] to scratch instead of the loss.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = 1) in;
#include "common.glsl"
#include "dist.glsl"

#ifdef NTG_F64
#define REAL double
#else
#define REAL float
#endif

void main()
{
    if (gl_GlobalInvocationID.x != 0u) return;
    Ref y = R(DS_Y), t = R(DS_T), m = R(DS_M), out_ = R(DS_OUT);
    bool has_m = P(DS_HAS_M) != 0u;
    uint np = P(DS_NP), outer = P(DS_OUTER), inner = P(DS_INNER);
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
                vec3 g;
                REAL l = REAL(ds_elem(y, np, inner, o, i, ld(t, it), false, g));
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
