// conv1d_bwd.comp — conv1d's gradients, one part per dispatch (CV_PART): dx (gathered over the
// windows that read each input element, no atomics), dweight, dbias.
//
// The reference's order (ops/ref/k_window.c): dx sums output channels of the group, then taps,
// then windows; dw sums samples, then windows; db samples, then windows.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "win.glsl"

void main()
{
    Ref x = R(CV_X), w = R(CV_W), dy = R(CV_DY), out_ = R(CV_OUT);
    bool rep = P(CV_REP) != 0u;
    uint part = P(CV_PART);
    uint n = P(CV_N), cin = P(CV_CIN), co = P(CV_CO), lout = P(CV_LOUT), cg = P(CV_CG),
         cog = P(CV_COG);
    int len = PI(CV_LEN), k = PI(CV_K), s = PI(CV_S), pad = PI(CV_PAD), dil = PI(CV_DIL);
    if (part == CV_PART_DX) {
        for (uint e = gid1(); e < n * cin * uint(len); e += gstride()) {
            int i = int(e % uint(len));
            uint ci = (e / uint(len)) % cin, bi = e / (uint(len) * cin);
            uint grp = ci / cg, cl = ci - grp * cg;
            precise REAL acc = REAL(0);
            for (uint c = grp * cog; c < (grp + 1u) * cog; c++) {
                uint dyr = (bi * co + c) * lout;
                for (int t = 0; t < k; t++) {
                    ivec2 wo = win_taps(i, len, t * dil, s, pad, rep, int(lout));
                    REAL wv = REAL(ld(w, (c * cg + cl) * uint(k) + uint(t)));
                    for (int o = wo.x; o <= wo.y; o++) {
                        precise REAL prod = wv * REAL(ld(dy, dyr + uint(o)));
                        acc = acc + prod;
                    }
                }
            }
            sv(out_, e, float(acc));
        }
    } else if (part == CV_PART_DW) {
        for (uint e = gid1(); e < co * cg * uint(k); e += gstride()) {
            int t = int(e % uint(k));
            uint ci = (e / uint(k)) % cg, c = e / (uint(k) * cg);
            uint c0 = c / cog * cg;
            precise REAL acc = REAL(0);
            for (uint bi = 0u; bi < n; bi++) {
                uint xr = (bi * cin + c0 + ci) * uint(len), dyr = (bi * co + c) * lout;
                for (uint o = 0u; o < lout; o++) {
                    precise REAL prod = REAL(ld(dy, dyr + o)) *
                                        win_padded(x, xr, len, int(o) * s + t * dil - pad, rep);
                    acc = acc + prod;
                }
            }
            sv(out_, e, float(acc));
        }
    } else {
        for (uint c = gid1(); c < co; c += gstride()) {
            precise REAL acc = REAL(0);
            for (uint bi = 0u; bi < n; bi++)
                for (uint o = 0u; o < lout; o++) acc = acc + REAL(ld(dy, (bi * co + c) * lout + o));
            sv(out_, c, float(acc));
        }
    }
}
