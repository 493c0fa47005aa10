// gemm.comp — tiled GEMM, 64x64 tiles in shared memory (GPUs).
//
// tiled GEMM (64x64 tiles in shared memory, 4x4 per invocation) with batched (Q) and summed (R)
// matrix axes, alpha, accumulate, and a bias + activation epilogue (SHADERS.md); the summation
// order of the reference GEMM (fewer than 8 rows of A B^T go to gemm_direct).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"

#define BK 16
shared float As[BK][GEMM_TILE];
shared float Bs[BK][GEMM_TILE];

void main()
{
    uint M = P(GEMM_M), N = P(GEMM_N), K = P(GEMM_K);
    Ref A = R(GEMM_A), B = R(GEMM_B), C = R(GEMM_C);
    uint lda = P(GEMM_LDA), ldb = P(GEMM_LDB), ldc = P(GEMM_LDC);
    bool ta = P(GEMM_TA) != 0u, tb = P(GEMM_TB) != 0u;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint i0 = gl_WorkGroupID.y * GEMM_TILE, j0 = gl_WorkGroupID.x * GEMM_TILE;

    // this workgroup's output matrix: the Q index, last axis fastest
    uint q = gl_WorkGroupID.z, qn = P(GEMM_QN);
    uint oa = A.off, ob = B.off, oc = C.off;
    for (int d = int(qn) - 1; d >= 0; d--) {
        uint dim = P(GEMM_QDIMS + uint(d)), i = q % dim;
        q /= dim;
        oa += i * P(GEMM_QSA + uint(d));
        ob += i * P(GEMM_QSB + uint(d));
        oc += i * P(GEMM_QSC + uint(d));
    }
    uint rn = P(GEMM_RN), rcount = 1u;
    for (uint d = 0u; d < rn; d++) rcount *= P(GEMM_RDIMS + d);

    // the reference's summation order (gemm_direct.comp): blocks of GEMM_KC, each summed from 0
    // and added to the output, multiply and add rounded apart
    precise float acc[4][4], c[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = c[i][j] = 0.0;
    bool first = true;

    for (uint r = 0u; r < rcount; r++) {
        uint ra = oa, rb = ob, rr = r;
        for (int d = int(rn) - 1; d >= 0; d--) {
            uint dim = P(GEMM_RDIMS + uint(d)), i = rr % dim;
            rr /= dim;
            ra += i * P(GEMM_RSA + uint(d));
            rb += i * P(GEMM_RSB + uint(d));
        }
        for (uint k0 = 0u; k0 < K; k0 += BK) {
            // tiles of op(A) [64 x 16] and op(B) [16 x 64]; consecutive invocations read
            // consecutive addresses of whichever way the operand is stored
            for (uint u = 0u; u < 4u; u++) {
                uint e = tid + 256u * u, row, kk;
                if (ta) {
                    kk = e / GEMM_TILE;
                    row = e % GEMM_TILE;
                } else {
                    row = e / BK;
                    kk = e % BK;
                }
                uint gi = i0 + row, gk = k0 + kk;
                float v = 0.0;
                if (gi < M && gk < K) v = st[A.sto].v[ra + (ta ? gk * lda + gi : gi * lda + gk)];
                As[kk][row] = v;
                uint col;
                if (tb) {
                    col = e / BK;
                    kk = e % BK;
                } else {
                    kk = e / GEMM_TILE;
                    col = e % GEMM_TILE;
                }
                uint gj = j0 + col;
                gk = k0 + kk;
                v = 0.0;
                if (gj < N && gk < K) v = st[B.sto].v[rb + (tb ? gj * ldb + gk : gk * ldb + gj)];
                Bs[kk][col] = v;
            }
            barrier();
            for (uint kk = 0u; kk < BK; kk++) {
                float a[4], b[4];
                for (uint i = 0u; i < 4u; i++) a[i] = As[kk][ty + 16u * i];
                for (uint j = 0u; j < 4u; j++) b[j] = Bs[kk][tx + 16u * j];
                for (uint i = 0u; i < 4u; i++)
                    for (uint j = 0u; j < 4u; j++) acc[i][j] = acc[i][j] + a[i] * b[j];
            }
            barrier();
            if (k0 + BK >= K || (k0 + BK) % GEMM_KC == 0u) {
                for (uint i = 0u; i < 4u; i++)
                    for (uint j = 0u; j < 4u; j++) {
                        c[i][j] = first ? acc[i][j] : c[i][j] + acc[i][j];
                        acc[i][j] = 0.0;
                    }
                first = false;
            }
        }
    }

    float alpha = PF(GEMM_ALPHA);
    bool accum = P(GEMM_ACC) != 0u;
    uint bias_mode = P(GEMM_BIAS_MODE), act = P(GEMM_ACT);
    Ref bias = R(GEMM_BIAS);
    for (uint i = 0u; i < 4u; i++) {
        uint gi = i0 + ty + 16u * i;
        if (gi >= M) continue;
        for (uint j = 0u; j < 4u; j++) {
            uint gj = j0 + tx + 16u * j;
            if (gj >= N) continue;
            precise float v = alpha * c[i][j];
            uint at = oc + gi * ldc + gj;
            if (accum) v = v + st[C.sto].v[at];
            if (bias_mode == GEMM_BIAS_COL) v = v + ld(bias, gj);
            st[C.sto].v[at] = ntg_act(act, v);
        }
    }
}
