// unfold_bwd.comp — unfold's input gradient, gathered: dx[r, i] sums, tap j by tap j, the
// patch elements that read i (the last element also those of the replicated end).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "win.glsl"

void main()
{
    Ref dy = R(UF_DY), dx = R(UF_DX);
    uint rows = P(UF_ROWS), np = P(UF_NP), size = P(UF_SIZE);
    int len = PI(UF_LEN), step = PI(UF_STEP);
    for (uint e = gid1(); e < rows * uint(len); e += gstride()) {
        uint r = e / uint(len);
        int i = int(e % uint(len));
        precise REAL acc = REAL(0);
        for (int j = 0; j < int(size); j++) {
            ivec2 w = win_taps(i, len, j, step, 0, true, int(np));
            for (int p = w.x; p <= w.y; p++)
                acc = acc + REAL(ld(dy, (r * np + uint(p)) * size + uint(j)));
        }
        sv(dx, e, float(acc));
    }
}
