// maxpool1d_bwd.comp — max-pool gradient: each window's dy to its first maximum.
//
// dx[i] = sum of dy over the windows whose first maximum is i, windows in order.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

uint window_argmax(Ref x, uint xr, uint o)
{
    int len = int(P(MP_LEN)), k = int(P(MP_K)), s = int(P(MP_S)), pad = int(P(MP_PAD));
    int lo = int(o) * s - pad, hi = lo + k;
    lo = max(lo, 0);
    hi = min(hi, len);
    int best = lo;
    float m = ld(x, xr + uint(lo));
    for (int i = lo + 1; i < hi; i++) {
        float v = ld(x, xr + uint(i));
        if (v > m || isnan(v)) {
            m = v;
            best = i;
        }
    }
    return uint(best);
}

void main()
{
    Ref x = R(MP_X), dy = R(MP_DY), dx = R(MP_DX);
    uint rows = P(MP_ROWS), len = P(MP_LEN), nout = P(MP_NOUT);
    int k = int(P(MP_K)), s = int(P(MP_S)), pad = int(P(MP_PAD));
    for (uint e = gid1(); e < rows * len; e += gstride()) {
        uint r = e / len;
        int i = int(e % len);
        // windows o with o*s - pad <= i < o*s - pad + k
        int lo = i + pad - k + 1, hi = i + pad;
        int o0 = lo <= 0 ? 0 : (lo + s - 1) / s, o1 = min(hi / s, int(nout) - 1);
        float acc = 0.0;
        for (int o = o0; o <= o1; o++)
            if (window_argmax(x, r * len, uint(o)) == uint(i)) acc += ld(dy, r * nout + uint(o));
        sv(dx, e, acc);
    }
}
