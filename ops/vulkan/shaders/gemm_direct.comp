// gemm_direct.comp — GEMM without shared memory or barriers (CPU devices, few-row products).
//
// the GEMM of gemm.comp without shared memory or barriers, read straight from the storages: for CPU
// devices (lavapipe), where a barrier costs more than the memory traffic it saves, and for every
// device when op(A) has fewer than 8 rows of A B^T. Same words.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "vk_abi.h"
layout(local_size_x = 32) in;
#include "common.glsl"

// A workgroup computes GEMM_DIRECT_ROWS rows x 64 columns; each invocation 2 columns (tx and
// tx + 32) of all the rows.  The rows depend on the workgroup only, so op(A)'s loads are
// uniform (one load for all lanes), and neighbouring invocations read neighbouring columns.
//
// The summation order is the reference GEMM's (ops/ref/gemm.c), multiply and add rounded
// apart ('precise'): k in blocks of GEMM_KC, each block summed in order from 0 and then added
// to the output (the first block sets it); an R axis index is a further run of blocks, as the
// reference's per-matrix calls accumulating with beta = 1; and for fewer than 8 rows of
// A B^T, the reference's eight interleaved partial sums.  Same operands, same bits.
#define NR GEMM_DIRECT_ROWS
void main()
{
    uint M = P(GEMM_M), N = P(GEMM_N), K = P(GEMM_K);
    Ref A = R(GEMM_A), B = R(GEMM_B), C = R(GEMM_C);
    uint lda = P(GEMM_LDA), ldb = P(GEMM_LDB), ldc = P(GEMM_LDC);
    bool ta = P(GEMM_TA) != 0u, tb = P(GEMM_TB) != 0u;
    uint i0 = gl_WorkGroupID.y * NR;
    uint j0 = gl_WorkGroupID.x * GEMM_TILE_DIRECT + gl_LocalInvocationID.x;
    if (j0 >= N) return;

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

    // out-of-range rows and columns are clamped for the loads and not stored
    uint row[NR], col[2];
    for (uint u = 0u; u < NR; u++) row[u] = min(i0 + u, M - 1u);
    col[0] = j0;
    col[1] = min(j0 + 32u, N - 1u);
    uint ak = ta ? lda : 1u, ai = ta ? 1u : lda, bk = tb ? 1u : ldb, bj = tb ? ldb : 1u;
    bool small = M < 8u && !ta && tb;
    precise float c[NR][2];
    for (uint i = 0u; i < NR; i++) c[i][0] = c[i][1] = 0.0;
    bool first = true;
    for (uint r = 0u; r < rcount; r++) {
        uint ra = oa, rb = ob, rr = r;
        for (int d = int(rn) - 1; d >= 0; d--) {
            uint dim = P(GEMM_RDIMS + uint(d)), i = rr % dim;
            rr /= dim;
            ra += i * P(GEMM_RSA + uint(d));
            rb += i * P(GEMM_RSB + uint(d));
        }
        if (small) {
            // dot products with eight partial sums, then the tail (small_m_abt)
            for (uint i = 0u; i < NR; i++)
                for (uint j = 0u; j < 2u; j++) {
                    uint pa = ra + row[i] * ai, pb = rb + col[j] * bj;
                    precise float s[8];
                    for (uint l = 0u; l < 8u; l++) s[l] = 0.0;
                    uint k = 0u;
                    for (; k + 8u <= K; k += 8u)
                        for (uint l = 0u; l < 8u; l++)
                            s[l] = s[l] + st[A.sto].v[pa + k + l] * st[B.sto].v[pb + k + l];
                    precise float sum = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
                    for (; k < K; k++) sum = sum + st[A.sto].v[pa + k] * st[B.sto].v[pb + k];
                    c[i][j] = first ? sum : c[i][j] + sum;
                }
            first = false;
            continue;
        }
        for (uint k0 = 0u; k0 < K; k0 += GEMM_KC) {
            uint k1 = min(k0 + GEMM_KC, K);
            precise float acc[NR][2];
            for (uint i = 0u; i < NR; i++) acc[i][0] = acc[i][1] = 0.0;
            for (uint k = k0; k < k1; k++) {
                float b0 = st[B.sto].v[rb + col[0] * bj + k * bk];
                float b1 = st[B.sto].v[rb + col[1] * bj + k * bk];
                for (uint i = 0u; i < NR; i++) {
                    float a = st[A.sto].v[ra + row[i] * ai + k * ak];
                    acc[i][0] = acc[i][0] + a * b0;
                    acc[i][1] = acc[i][1] + a * b1;
                }
            }
            for (uint i = 0u; i < NR; i++)
                for (uint j = 0u; j < 2u; j++) c[i][j] = first ? acc[i][j] : c[i][j] + acc[i][j];
            first = false;
        }
    }

    float alpha = PF(GEMM_ALPHA);
    bool accum = P(GEMM_ACC) != 0u;
    uint bias_mode = P(GEMM_BIAS_MODE), act = P(GEMM_ACT);
    Ref bias = R(GEMM_BIAS);
    for (uint i = 0u; i < NR; i++) {
        uint gi = i0 + i;
        if (gi >= M) continue;
        for (uint j = 0u; j < 2u; j++) {
            uint gj = j0 + 32u * j;
            if (gj >= N) continue;
            uint at = oc + gi * ldc + gj;
            precise float v = alpha * c[i][j];
            if (accum) v = v + st[C.sto].v[at];
            if (bias_mode == GEMM_BIAS_COL) v = v + ld(bias, gj);
            st[C.sto].v[at] = ntg_act(act, v);
        }
    }
}
