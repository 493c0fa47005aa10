// unfold_fwd.comp — patches of the last axis (Tensor.unfold), the end padded by replicating the
// last element: y[r, p, j] = x[r, min(p step + j, len - 1)].
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref x = R(UF_X), y = R(UF_Y);
    uint rows = P(UF_ROWS), len = P(UF_LEN), np = P(UF_NP), size = P(UF_SIZE), step = P(UF_STEP);
    for (uint e = gid1(); e < rows * np * size; e += gstride()) {
        uint j = e % size, p = (e / size) % np, r = e / (size * np);
        sv(y, e, ld(x, r * len + min(p * step + j, len - 1u)));
    }
}
