// maxpool1d_fwd.comp — max over windows of the last axis (torch.nn.MaxPool1d).
//
// max over windows of the last axis (torch MaxPool1d; -inf padding never wins).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

// Index of the first maximum of window o of the row at xr (NaN wins, as in torch).
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
    Ref x = R(MP_X), y = R(MP_Y);
    uint rows = P(MP_ROWS), len = P(MP_LEN), nout = P(MP_NOUT);
    for (uint e = gid1(); e < rows * nout; e += gstride()) {
        uint r = e / nout, o = e % nout;
        sv(y, e, ld(x, r * len + window_argmax(x, r * len, o)));
    }
}
