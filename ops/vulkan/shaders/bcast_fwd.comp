// bcast_fwd.comp — a + b, a - b, a * b with numpy broadcasting.
//
// y = a + b, a - b or a * b with numpy broadcasting (strides 0 on broadcast axes).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref a = R(BC_A), b = R(BC_B), y = R(BC_Y);
    uint n = P(BC_N), mode = P(BC_MODE), rank = P(BC_RANK);
    for (uint e = gid1(); e < n; e += gstride()) {
        uint rem = e, ia = 0u, ib = 0u;
        for (int k = int(rank) - 1; k >= 0; k--) {
            uint dim = P(BC_DIMS + uint(k)), i = rem % dim;
            rem /= dim;
            ia += i * P(BC_SA + uint(k));
            ib += i * P(BC_SB + uint(k));
        }
        float va = ld(a, ia), vb = ld(b, ib);
        sv(y, e, mode == BC_ADD ? va + vb : mode == BC_SUB ? va - vb : va * vb);
    }
}
