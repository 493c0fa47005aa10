// reduce_fwd.comp — sum, mean or max along one axis, a line per workgroup (or invocation).
//
// sum, mean or max along one axis: one workgroup per output line, workgroup reductions.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG_LINE) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref x = R(RD_X), y = R(RD_Y);
    uint outer = P(RD_OUTER), len = P(RD_LEN), inner = P(RD_INNER), mode = P(RD_MODE);
    uint l0 = LANE, nl = LANES;
    for (uint line = LINE0; line < outer * inner; line += LINE_STEP) {
        uint o = line / inner, i = line % inner, base = o * len * inner + i;
        if (mode == RD_MAX) {
            // NaN wins (torch.max): counted apart, since max() of a NaN is unspecified
            float m = -uintBitsToFloat(0x7f800000u), nans = 0.0;
            for (uint l = l0; l < len; l += nl) {
                float v = ld(x, base + l * inner);
                if (isnan(v))
                    nans += 1.0;
                else
                    m = max(m, v);
            }
            m = wg_max(m);
            nans = wg_sum(nans);
            if (l0 == 0u) sv(y, line, nans > 0.0 ? uintBitsToFloat(0x7fc00000u) : m);
        } else {
            float s = 0.0;
            for (uint l = l0; l < len; l += nl) s += ld(x, base + l * inner);
            s = wg_sum(s);
            if (l0 == 0u) sv(y, line, mode == RD_MEAN ? s / float(len) : s);
        }
    }
}
