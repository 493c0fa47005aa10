// interp_linear_bwd.comp — gradient of linear resampling of the last axis.
//
// dx[i] = sum over outputs t of dy[t] times i's weight in t, t in order.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void interp_src(uint t, out uint i0, out uint i1, out float w1)
{
    uint in_len = P(IP_IN), size = P(IP_SIZE);
    if (in_len == size) {
        i0 = t;
        i1 = t;
        w1 = 0.0;
        return;
    }
    precise float scale = PF(IP_SCALE), src;
    if (P(IP_ALIGN) != 0u) {
        src = scale * float(t);
    } else {
        precise float tf = float(t) + 0.5;
        src = scale * tf - 0.5;
        if (src < 0.0) src = 0.0;
    }
    uint i = uint(floor(src));
    if (i > in_len - 1u) i = in_len - 1u;
    precise float w = src - float(i);
    w = clamp(w, 0.0, 1.0);
    i0 = i;
    i1 = i < in_len - 1u ? i + 1u : i;
    w1 = w;
}

void main()
{
    Ref dy = R(IP_DY), dx = R(IP_DX);
    uint rows = P(IP_ROWS), in_len = P(IP_IN), size = P(IP_SIZE);
    for (uint e = gid1(); e < rows * in_len; e += gstride()) {
        uint r = e / in_len, i = e % in_len;
        precise float acc = 0.0;
        // every output reads at most two neighbouring inputs: the loop finds those of i
        for (uint t = 0u; t < size; t++) {
            uint i0, i1;
            float w1;
            interp_src(t, i0, i1, w1);
            float g = ld(dy, r * size + t);
            if (i0 == i) acc += (1.0 - w1) * g;
            if (i1 == i) acc += w1 * g;
        }
        sv(dx, e, acc);
    }
}
