// avgpool1d_bwd.comp — avgpool1d's input gradient, gathered (no atomics).
//
// dx[r, i] = sum over taps t and the windows o whose tap t reads i of dy[r, o], over k; the
// order of the reference (ops/ref/k_window.c).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "win.glsl"

void main()
{
    Ref dy = R(AP_DY), dx = R(AP_DX);
    uint rows = P(AP_ROWS), nout = P(AP_NOUT);
    int len = PI(AP_LEN), k = PI(AP_K), s = PI(AP_S), pad = PI(AP_PAD);
    bool rep = P(AP_REP) != 0u;
    for (uint e = gid1(); e < rows * uint(len); e += gstride()) {
        uint r = e / uint(len);
        int i = int(e % uint(len));
        precise REAL acc = REAL(0);
        for (int t = 0; t < k; t++) {
            ivec2 w = win_taps(i, len, t, s, pad, rep, int(nout));
            for (int o = w.x; o <= w.y; o++) acc = acc + REAL(ld(dy, r * nout + uint(o)));
        }
        sv(dx, e, float(acc / REAL(k)));
    }
}
