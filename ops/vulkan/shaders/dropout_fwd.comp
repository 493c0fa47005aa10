// dropout_fwd.comp — inverted dropout's mask applied to x (forward) or to dy (backward: the same
// mask drawn again): out = in * keep / (1 - p).
//
// The mask is ops/op_attrs.h's counter-based draw, bit for bit: key = f(seed, step, stream)
// from the train.rng words on the device, element i (global window index times the elements
// per window, plus the offset) kept when the high word of mix64(key + (i + 1) golden) >= thr.
// 64-bit integers are emulated with uvec2 (low, high): no shaderInt64 needed.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"

#ifdef NTG_F64
#define REAL double
#else
#define REAL float
#endif

uvec2 add64(uvec2 a, uvec2 b)
{
    uint c;
    uint lo = uaddCarry(a.x, b.x, c);
    return uvec2(lo, a.y + b.y + c);
}

uvec2 mul64(uvec2 a, uvec2 b)
{
    uint hi, lo;
    umulExtended(a.x, b.x, hi, lo);
    return uvec2(lo, hi + a.x * b.y + a.y * b.x);
}

// a >> s, 0 < s < 32
uvec2 shr64(uvec2 a, uint s)
{
    return uvec2((a.x >> s) | (a.y << (32u - s)), a.y >> s);
}

// SplitMix64's finaliser (ntg__mix64)
uvec2 mix64(uvec2 z)
{
    z = mul64(z ^ shr64(z, 30u), uvec2(0x1ce4e5b9u, 0xbf58476du));
    z = mul64(z ^ shr64(z, 27u), uvec2(0x133111ebu, 0x94d049bbu));
    return z ^ shr64(z, 31u);
}

const uvec2 GOLDEN = uvec2(0x7f4a7c15u, 0x9e3779b9u);

// ntg__rng_word: what is not an integer in [0, 2^24) (negative, NaN, too large) reads as 0
uint rng_word(float v)
{
    return v >= 0.0 && v < 16777216.0 ? uint(v) : 0u;
}

void main()
{
    Ref x = R(DR_X), y = R(DR_Y), rng = R(DR_RNG);
    uint rows = P(DR_ROWS), inner = P(DR_INNER);
    uint w0 = rng_word(ld(rng, NTG_RNG_W_SEED0)), w1 = rng_word(ld(rng, NTG_RNG_W_SEED1));
    uint w2 = rng_word(ld(rng, NTG_RNG_W_SEED2));
    // seed = w0 | w1 << 22 | w2 << 44
    uvec2 seed = uvec2(w0 | (w1 << 22u), (w1 >> 10u) | (w2 << 12u));
    uvec2 step = uvec2(rng_word(ld(rng, NTG_RNG_W_STEP)), 0u);
    uint row0 = P(DR_BATCHED) != 0u ? rng_word(ld(rng, NTG_RNG_W_ROW0)) : 0u;
    uvec2 key = mix64(add64(seed, GOLDEN));
    key = mix64(key ^ add64(step, uvec2(0xd9b4e019u, 0x632be59bu)));
    key = mix64(key ^ add64(uvec2(P(DR_STREAM), P(DR_STREAM + 1u)), uvec2(0x85157af5u, 0u)));
    bool never = P(DR_THR + 1u) != 0u; // thr = 2^32 (p >= 1)
    uint thr = P(DR_THR);
#ifdef NTG_F64
    REAL scale = PD(DR_SCALE_D);
#else
    REAL scale = PF(DR_SCALE_F);
#endif
    for (uint q = gid1(); q < rows * inner; q += gstride()) {
        uint b = q / inner, el = q - b * inner;
        // i = (row0 + b) inner + el, in 64 bits
        uint hi, lo;
        umulExtended(row0 + b, inner, hi, lo);
        uvec2 i = add64(uvec2(lo, hi), uvec2(el + 1u, el == 0xffffffffu ? 1u : 0u));
        uint u = mix64(add64(key, mul64(i, GOLDEN))).y;
        bool keep = !never && u >= thr;
        sv(y, q, keep ? float(REAL(ld(x, q)) * scale) : 0.0);
    }
}
