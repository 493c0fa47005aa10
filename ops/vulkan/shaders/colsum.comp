// colsum.comp — column sums over rows, in row order (bias and layernorm parameter gradients).
//
// column sums over rows, in row order (bias and layernorm parameter gradients); the _f64 build sums
// in double and rounds once, as the reference does.
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

void main()
{
    Ref x = R(CS_X), y = R(CS_Y), y2 = R(CS_Y2);
    bool has_y2 = P(CS_HAS_Y2) != 0u;
    uint rows = P(CS_ROWS), cols = P(CS_COLS), ldx = P(CS_LDX);
    for (uint j = gid1(); j < cols; j += gstride()) {
        precise REAL s = REAL(0);
        for (uint r = 0u; r < rows; r++) s = s + REAL(ld(x, r * ldx + j));
        sv(y, j, float(s));
        if (has_y2) sv(y2, j, float(s));
    }
}
