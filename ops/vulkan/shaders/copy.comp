// copy.comp — strided copy over an index space of rank <= 6: every layout op.
//
// strided copy over an index space of rank <= 6: the layout ops' one kernel.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref s = R(COPY_SRC), d = R(COPY_DST);
    uint n = P(COPY_N), rank = P(COPY_RANK);
    for (uint e = gid1(); e < n; e += gstride()) {
        // unravel e row-major; strides may be negative (flip), offsets stay in range
        uint rem = e;
        int so = 0, dof = 0;
        for (int a = int(rank) - 1; a >= 0; a--) {
            uint dim = P(COPY_DIMS + uint(a));
            int i = int(rem % dim);
            rem /= dim;
            so += i * PI(COPY_SST + uint(a));
            dof += i * PI(COPY_DST_ST + uint(a));
        }
        sv(d, uint(dof), ld(s, uint(so)));
    }
}
