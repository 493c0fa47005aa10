// avgpool1d_fwd.comp — mean over windows of the last axis, zero or replicate padding.
//
// y[r, o] = sum_t x[r, clamp or zero(o s + t - pad)] / k, summed in tap order (torch AvgPool1d
// with count_include_pad; replicate padding as DLinear's moving average).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "win.glsl"

void main()
{
    Ref x = R(AP_X), y = R(AP_Y);
    uint rows = P(AP_ROWS), nout = P(AP_NOUT);
    int len = PI(AP_LEN), k = PI(AP_K), s = PI(AP_S), pad = PI(AP_PAD);
    bool rep = P(AP_REP) != 0u;
    for (uint e = gid1(); e < rows * nout; e += gstride()) {
        uint r = e / nout;
        int o = int(e % nout);
        precise REAL acc = REAL(0);
        for (int t = 0; t < k; t++) acc = acc + win_padded(x, r * uint(len), len, o * s + t - pad, rep);
        sv(y, e, float(acc / REAL(k)));
    }
}
