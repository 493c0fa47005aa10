// lstm_step_bwd.comp — dgates of one LSTM step of one layer (backward through time).
//
// dgates of one step of one LSTM layer, one invocation per (batch row, unit): dh = dh_in +
// dgates_{t+1} W_hh, dc = dh o (1 - tanh^2 c) + carry; carry = dc f (torch's LSTMCell).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref ws = R(LB_WS), whh = R(LB_WHH), dhin = R(LB_DHIN), d = R(LB_D), carry = R(LB_CARRY);
    uint nb = P(LB_B), nt = P(LB_T), h = P(LB_H), t = P(LB_STEP), k = P(LB_LAYER), nl = P(LB_L);
    bool top = t == nt - 1u;
    for (uint e = gid1(); e < nb * h; e += gstride()) {
        uint b = e / h, j = e % h;
        uint w = ((b * nl + k) * nt + t) * 6u * h;
        float gi = ld(ws, w + j), gf = ld(ws, w + h + j), gg = ld(ws, w + 2u * h + j);
        float go = ld(ws, w + 3u * h + j), tc = ntg_tanh(ld(ws, w + 4u * h + j));
        float dh = ld(dhin, (b * nt + t) * h + j);
        if (!top) {
            // the recurrent path: row t + 1 of dgates, written by the previous dispatch
            uint drow = (b * nt + t + 1u) * 4u * h;
            float r = 0.0;
            for (uint u = 0u; u < 4u * h; u++) r += ld(d, drow + u) * ld(whh, u * h + j);
            dh += r;
        }
        float dc = dh * go * (1.0 - tc * tc) + (top ? 0.0 : ld(carry, e));
        float cp = t > 0u ? ld(ws, w - 6u * h + 4u * h + j) : 0.0;
        uint drow = (b * nt + t) * 4u * h;
        sv(d, drow + j, dc * gg * gi * (1.0 - gi));
        sv(d, drow + h + j, dc * cp * gf * (1.0 - gf));
        sv(d, drow + 2u * h + j, dc * gi * (1.0 - gg * gg));
        sv(d, drow + 3u * h + j, dh * tc * go * (1.0 - go));
        sv(carry, e, dc * gf);
    }
}
