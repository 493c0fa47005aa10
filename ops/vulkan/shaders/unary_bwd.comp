// unary_bwd.comp — gradients of relu, gelu, tanh, sigmoid, scale, exp, log, abs, sqrt,
// softplus and identity.
//
// dx = dy f'(.): relu, tanh, sigmoid, exp, sqrt from the saved y; gelu, log, abs, softplus from
// x; scale and identity from nothing.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

void main()
{
    Ref x = R(UN_X), y = R(UN_Y), dy = R(UN_DY), dx = R(UN_DX);
    uint n = P(UN_N), mode = P(UN_MODE);
    float f = PF(UN_FACTOR);
    for (uint i = gid1(); i < n; i += gstride()) {
        float g = ld(dy, i), r;
        if (mode == UN_RELU) {
            r = ld(y, i) > 0.0 ? g : 0.0;
        } else if (mode == UN_GELU) {
            r = g * ntg_gelu_grad(ld(x, i));
        } else if (mode == UN_TANH) {
            float v = ld(y, i);
            r = g * (1.0 - v * v);
        } else if (mode == UN_SIGMOID) {
            float v = ld(y, i);
            r = g * v * (1.0 - v);
        } else if (mode == UN_EXP) {
            r = g * ld(y, i);
        } else if (mode == UN_LOG) {
            r = g / ld(x, i);
        } else if (mode == UN_ABS) {
            float v = ld(x, i);
            r = v > 0.0 ? g : v < 0.0 ? -g : 0.0;
        } else if (mode == UN_SQRT) {
            r = g / (2.0 * ld(y, i));
        } else if (mode == UN_SOFTPLUS) {
            float v = ld(x, i);
            r = v > 20.0 ? g : g * ntg_sigmoid(v);
        } else if (mode == UN_IDENTITY) {
            r = g;
        } else {
            r = g * f;
        }
        // gelu reads x where dense writes dZ in place: this invocation's element only
        sv(dx, i, r);
    }
}
