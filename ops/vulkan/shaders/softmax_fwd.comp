// softmax_fwd.comp — softmax and log_softmax along one axis, stable.
//
// softmax or log_softmax along one axis, stable (the line's max is subtracted).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG_LINE) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref x = R(SM_X), y = R(SM_Y);
    uint outer = P(SM_OUTER), len = P(SM_LEN), inner = P(SM_INNER);
    bool log_form = P(SM_LOG) != 0u;
    uint l0 = LANE, nl = LANES;
    for (uint line = LINE0; line < outer * inner; line += LINE_STEP) {
        uint base = (line / inner) * len * inner + line % inner;
        float m = -uintBitsToFloat(0x7f800000u);
        for (uint l = l0; l < len; l += nl) m = max(m, ld(x, base + l * inner));
        m = wg_max(m);
        float s = 0.0;
        for (uint l = l0; l < len; l += nl) s += exp(ld(x, base + l * inner) - m);
        s = wg_sum(s);
        if (log_form) {
            float lse = m + log(s);
            for (uint l = l0; l < len; l += nl) sv(y, base + l * inner, ld(x, base + l * inner) - lse);
        } else {
            float inv = 1.0 / s;
            for (uint l = l0; l < len; l += nl)
                sv(y, base + l * inner, exp(ld(x, base + l * inner) - m) * inv);
        }
    }
}
