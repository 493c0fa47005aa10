// bcast_bwd.comp — gradient of a broadcast operand: dy summed over its broadcast axes.
//
// the gradient of a broadcast operand: dy (times the other operand) summed over the axes it was
// broadcast along; one workgroup per gradient element, a fixed summation order.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG_LINE) in;
#include "common.glsl"
#include "reduce.glsl"

void main()
{
    Ref g = R(BB_G), dy = R(BB_DY), o = R(BB_O);
    bool has_o = P(BB_HAS_O) != 0u;
    float sign = PF(BB_SIGN);
    uint ng = P(BB_NG), krank = P(BB_KRANK), rrank = P(BB_RRANK), rn = P(BB_RN);
    for (uint e = LINE0; e < ng; e += LINE_STEP) {
        uint rem = e, kd = 0u, ko = 0u;
        for (int k = int(krank) - 1; k >= 0; k--) {
            uint dim = P(BB_KDIMS + uint(k)), i = rem % dim;
            rem /= dim;
            kd += i * P(BB_KDY + uint(k));
            ko += i * P(BB_KO + uint(k));
        }
        float s = 0.0;
        for (uint r = LANE; r < rn; r += LANES) {
            uint rr = r, rd = kd, ro = ko;
            for (int k = int(rrank) - 1; k >= 0; k--) {
                uint dim = P(BB_RDIMS + uint(k)), i = rr % dim;
                rr /= dim;
                rd += i * P(BB_RDY + uint(k));
                ro += i * P(BB_RO + uint(k));
            }
            float v = ld(dy, rd);
            s += has_o ? v * ld(o, ro) : v;
        }
        s = wg_sum(s);
        if (LANE == 0u) sv(g, e, sign * s);
    }
}
