// conv1d_fwd.comp — torch.nn.Conv1d over [.., C, L]: stride, padding (zeros or replicate),
// dilation, groups, optional bias.
//
// y[n, co, o] = b[co] + sum_ci sum_t w[co, ci, t] x[n, c0 + ci, o s + t dil - pad], summed in
// the reference's order (ops/ref/k_window.c), one output element per invocation.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = NTG_VK_WG) in;
#include "common.glsl"
#include "win.glsl"

void main()
{
    Ref x = R(CV_X), w = R(CV_W), b = R(CV_B), y = R(CV_OUT);
    bool has_b = P(CV_HAS_B) != 0u, rep = P(CV_REP) != 0u;
    uint n = P(CV_N), cin = P(CV_CIN), co = P(CV_CO), lout = P(CV_LOUT), cg = P(CV_CG),
         cog = P(CV_COG);
    int len = PI(CV_LEN), k = PI(CV_K), s = PI(CV_S), pad = PI(CV_PAD), dil = PI(CV_DIL);
    for (uint e = gid1(); e < n * co * lout; e += gstride()) {
        uint o = e % lout, c = (e / lout) % co, bi = e / (lout * co);
        uint c0 = c / cog * cg;
        precise REAL acc = has_b ? REAL(ld(b, c)) : REAL(0);
        for (uint ci = 0u; ci < cg; ci++) {
            uint xr = (bi * cin + c0 + ci) * uint(len);
            for (int t = 0; t < k; t++) {
                precise REAL prod = REAL(ld(w, (c * cg + ci) * uint(k) + uint(t))) *
                                    win_padded(x, xr, len, int(o) * s + t * dil - pad, rep);
                acc = acc + prod;
            }
        }
        sv(y, e, float(acc));
    }
}
