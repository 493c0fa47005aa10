// lstm_step_fwd.comp — one LSTM step of one layer: gates, cell and hidden state.
//
// one step of one LSTM layer, one invocation per (batch row, hidden unit): gates = P_t + b_ih +
// b_hh + h_{t-1} W_hh^T, i f o sigmoid, g tanh, c = f c + i g, h = o tanh c.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref p = R(LF_P), whh = R(LF_WHH), bih = R(LF_BIH), bhh = R(LF_BHH), y = R(LF_Y);
    Ref cell = R(LF_CELL), ws = R(LF_WS);
    bool has_ws = P(LF_HAS_WS) != 0u;
    uint nb = P(LF_B), nt = P(LF_T), h = P(LF_H), t = P(LF_STEP), k = P(LF_LAYER), nl = P(LF_L);
    for (uint e = gid1(); e < nb * h; e += gstride()) {
        uint b = e / h, j = e % h;
        uint prow = (b * nt + t) * 4u * h, hprev = (b * nt + t - 1u) * h;
        float gate[4];
        for (uint g = 0u; g < 4u; g++) {
            uint u = g * h + j;
            float z = ld(p, prow + u);
            if (t > 0u) {
                // h_{t-1} is row t - 1 of y, which this step does not write
                float r = 0.0;
                for (uint q = 0u; q < h; q++) r += ld(y, hprev + q) * ld(whh, u * h + q);
                z += r;
            }
            z += ld(bih, u) + ld(bhh, u);
            gate[g] = g == 2u ? ntg_tanh(z) : ntg_sigmoid(z);
        }
        float cprev = t > 0u ? ld(cell, e) : 0.0;
        float c = gate[1] * cprev + gate[0] * gate[2];
        float hv = gate[3] * ntg_tanh(c);
        sv(cell, e, c);
        sv(y, (b * nt + t) * h + j, hv);
        if (has_ws) {
            uint w = ((b * nl + k) * nt + t) * 6u * h;
            for (uint g = 0u; g < 4u; g++) sv(ws, w + g * h + j, gate[g]);
            sv(ws, w + 4u * h + j, c);
            sv(ws, w + 5u * h + j, hv);
        }
    }
}
