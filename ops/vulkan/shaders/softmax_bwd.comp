// softmax_bwd.comp — softmax and log_softmax gradients from the saved output.
//
// from the saved y: softmax dx = y (dy - sum(dy y)); log_softmax dx = dy - exp(y) sum(dy).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG_LINE) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref y = R(SM_Y), dy = R(SM_DY), dx = R(SM_DX);
    uint outer = P(SM_OUTER), len = P(SM_LEN), inner = P(SM_INNER);
    bool log_form = P(SM_LOG) != 0u;
    uint l0 = LANE, nl = LANES;
    for (uint line = LINE0; line < outer * inner; line += LINE_STEP) {
        uint base = (line / inner) * len * inner + line % inner;
        float s = 0.0;
        for (uint l = l0; l < len; l += nl) {
            uint at = base + l * inner;
            s += log_form ? ld(dy, at) : ld(dy, at) * ld(y, at);
        }
        s = wg_sum(s);
        for (uint l = l0; l < len; l += nl) {
            uint at = base + l * inner;
            float g = ld(dy, at), v = ld(y, at);
            sv(dx, at, log_form ? g - exp(v) * s : v * (g - s));
        }
    }
}
