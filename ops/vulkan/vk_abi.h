/* vk_abi.h — parameter word layout of every Vulkan shader; included by the C side and the GLSL. */
#ifndef NTG_VK_ABI_H
#define NTG_VK_ABI_H

/*
 * Only #defines live here: the file is valid C and GLSL.  A dispatch's words start at the
 * push constant `base` (ops/vulkan/SHADERS.md).  An operand reference is two words, the
 * descriptor slot (the storage index, 0 scratch, 1 arena, 2 weights, 3 state, unless a storage
 * is larger than the device can bind at once) and the element offset in it; `*_X` below is
 * the first of the two.  Floats are stored as their bits, doubles (the _f64 builds) as two
 * words, low then high.  Signed values (strides) are
 * stored as two's complement and read with PI().
 */

#define REF_STO 0
#define REF_OFF 1

/* Storage descriptors: binding 0 is an array of this many (SHADERS.md §1). */
#define NTG_VK_SLOTS 16

/* Workgroup size of the 1-D shaders (grid-stride loops) and of line reductions. */
#define NTG_VK_WG 256
#define NTG_VK_WG_LINE 64

/* fill: dst[0..n) = value */
#define FILL_DST 0
#define FILL_N 2
#define FILL_VALUE 3
#define FILL_WORDS 4

/* copy: strided copy of an index space of rank <= 6 (row-major over dims):
 * dst[dst_off + sum idx_i dst_st_i] = src[src_off + sum idx_i src_st_i] */
#define COPY_SRC 0
#define COPY_DST 2
#define COPY_N 4
#define COPY_RANK 5
#define COPY_DIMS 6
#define COPY_SST 12
#define COPY_DST_ST 18
#define COPY_WORDS 24

/* unary_fwd / unary_bwd: y = f(x); dx = dy f'(.) from x (gelu, log, abs, softplus), from y
 * (relu, tanh, sigmoid, exp, sqrt) or from neither (scale, identity) */
#define UN_RELU 0
#define UN_GELU 1
#define UN_TANH 2
#define UN_SIGMOID 3
#define UN_SCALE 4
#define UN_EXP 5
#define UN_LOG 6
#define UN_ABS 7
#define UN_SQRT 8
#define UN_SOFTPLUS 9
#define UN_IDENTITY 10
#define UN_X 0
#define UN_Y 2
#define UN_DY 4
#define UN_DX 6
#define UN_N 8
#define UN_MODE 9
#define UN_FACTOR 10
#define UN_WORDS 11

/* bcast_fwd: y = a op b with per-operand strides (0 on broadcast axes) over y's dims */
#define BC_ADD 0
#define BC_SUB 1
#define BC_MUL 2
#define BC_A 0
#define BC_B 2
#define BC_Y 4
#define BC_N 6
#define BC_MODE 7
#define BC_RANK 8
#define BC_DIMS 9
#define BC_SA 15
#define BC_SB 21
#define BC_WORDS 27

/* bcast_bwd: g[e] = sign * sum_r dy[..] (* other[..]) over the axes the operand was
 * broadcast along.  Kept axes (the gradient's own, row-major) and reduced axes each have
 * strides into dy and into the other operand.  One workgroup per gradient element. */
#define BB_G 0
#define BB_DY 2
#define BB_O 4
#define BB_HAS_O 6
#define BB_SIGN 7
#define BB_NG 8
#define BB_KRANK 9
#define BB_KDIMS 10
#define BB_KDY 16
#define BB_KO 22
#define BB_RRANK 28
#define BB_RN 29
#define BB_RDIMS 30
#define BB_RDY 36
#define BB_RO 42
#define BB_WORDS 48

/* gemm: C[q] = act(alpha * sum_r op(A[q,r]) op(B[q,r]) (+ C[q] when acc) + bias), row-major,
 * op(X) = X or X^T.  Q axes (<= 4) index output matrices (strides into A, B and C), R axes
 * (<= 4) are summed over (strides into A and B).  Grid: x = ceil(N / 64), y = ceil(M / 64),
 * z = product of the Q extents. */
#define GEMM_TILE 64
#define GEMM_TILE_DIRECT 64 /* gemm_direct: GEMM_DIRECT_ROWS x 64 per workgroup */
#define GEMM_DIRECT_ROWS 8
#define GEMM_KC 128 /* k block of both GEMMs: the reference GEMM's (ops/ref/gemm.c) */
#define GEMM_MAXQ 4
#define GEMM_BIAS_NONE 0
#define GEMM_BIAS_COL 1
#define GEMM_M 0
#define GEMM_N 1
#define GEMM_K 2
#define GEMM_A 3
#define GEMM_LDA 5
#define GEMM_TA 6
#define GEMM_B 7
#define GEMM_LDB 9
#define GEMM_TB 10
#define GEMM_C 11
#define GEMM_LDC 13
#define GEMM_ACC 14
#define GEMM_ALPHA 15
#define GEMM_BIAS 16
#define GEMM_BIAS_MODE 18
#define GEMM_ACT 19
#define GEMM_QN 20
#define GEMM_QDIMS 21
#define GEMM_QSA 25
#define GEMM_QSB 29
#define GEMM_QSC 33
#define GEMM_RN 37
#define GEMM_RDIMS 38
#define GEMM_RSA 42
#define GEMM_RSB 46
#define GEMM_WORDS 50

/* colsum: y[j] (and y2[j]) = sum over rows r of x[r * ldx + j], rows in order */
#define CS_X 0
#define CS_Y 2
#define CS_Y2 4
#define CS_HAS_Y2 6
#define CS_ROWS 7
#define CS_COLS 8
#define CS_LDX 9
#define CS_WORDS 10

/* maxpool1d_fwd / _bwd: rows of len -> rows of nout (torch MaxPool1d) */
#define MP_X 0
#define MP_Y 2
#define MP_DY 4
#define MP_DX 6
#define MP_ROWS 8
#define MP_LEN 9
#define MP_NOUT 10
#define MP_K 11
#define MP_S 12
#define MP_PAD 13
#define MP_WORDS 14

/* interp_linear_fwd / _bwd: rows of `in` -> rows of `size`; scale as the CPU computes it */
#define IP_X 0
#define IP_Y 2
#define IP_DY 4
#define IP_DX 6
#define IP_ROWS 8
#define IP_IN 9
#define IP_SIZE 10
#define IP_ALIGN 11
#define IP_SCALE 12
#define IP_WORDS 13

/* reduce_fwd / _bwd over [outer, len, inner] lines */
#define RD_SUM 0
#define RD_MEAN 1
#define RD_MAX 2
#define RD_X 0
#define RD_Y 2
#define RD_DY 4
#define RD_DX 6
#define RD_OUTER 8
#define RD_LEN 9
#define RD_INNER 10
#define RD_MODE 11
#define RD_WORDS 12

/* softmax_fwd / _bwd over [outer, len, inner] lines; one workgroup per line */
#define SM_X 0
#define SM_Y 2
#define SM_DY 4
#define SM_DX 6
#define SM_OUTER 8
#define SM_LEN 9
#define SM_INNER 10
#define SM_LOG 11
#define SM_WORDS 12

/* layernorm_fwd / _bwd: rows of d; one workgroup per row.  The backward writes dx (when
 * wanted) and dy * xhat into XH (scratch, when dweight is wanted) for colsum. */
#define LN_X 0
#define LN_W 2
#define LN_B 4
#define LN_Y 6
#define LN_DY 8
#define LN_DX 10
#define LN_XH 12
#define LN_ROWS 14
#define LN_D 15
#define LN_AFFINE 16
#define LN_EPS 17
#define LN_HAS_DX 18
#define LN_HAS_XH 19
#define LN_WORDS 20

/* losses: y [outer, nq, inner], t and mask [outer, inner] (MSE, MAE, Huber: outer = nq = 1).
 * loss_partial: workgroup g sums elements [g * chunk, (g + 1) * chunk) of t into
 * part[2g] = sum m l, part[2g + 1] = sum m.  loss_final: one workgroup sums the parts in
 * order, writes the loss and stats = [L, sum m].  loss_bwd: dy, dt, dmask per element of t. */
#define LS_MSE 0
#define LS_MAE 1
#define LS_HUBER 2
#define LS_PINBALL 3
#define LS_CHUNK 4096
#define LS_Y 0
#define LS_T 2
#define LS_M 4
#define LS_HAS_M 6
#define LS_KIND 7
#define LS_OUTER 8
#define LS_NQ 9
#define LS_INNER 10
#define LS_DELTA 11
#define LS_PART 12
#define LS_NPART 14
#define LS_OUT 15
#define LS_HAS_OUT 17
#define LS_STATS 18
#define LS_DL 20
#define LS_DY 22
#define LS_HAS_DY 24
#define LS_DT 25
#define LS_HAS_DT 27
#define LS_DM 28
#define LS_HAS_DM 30
#define LS_DELTA_D 31 /* delta as a double (2 words: low, high) for the _f64 build */
#define LS_Q 33       /* pinball: nq quantile levels as floats, then as doubles (2 words each) */
#define LS_WORDS 33

/* sgd_fwd (in place) */
#define SG_P 0
#define SG_G 2
#define SG_CTL 4
#define SG_BUF 6
#define SG_HAS_BUF 8
#define SG_N 9
#define SG_MOMENTUM 10
#define SG_DAMPENING 11
#define SG_NESTEROV 12
#define SG_WD 13
#define SG_MOMENTUM_D 14 /* the attributes as doubles (2 words each) for the _f64 build */
#define SG_DAMPENING_D 16
#define SG_WD_D 18
#define SG_WORDS 20

/* adam_fwd (in place) */
#define AD_P 0
#define AD_G 2
#define AD_M 4
#define AD_V 6
#define AD_N 8
#define AD_BETA1 9
#define AD_BETA2 10
#define AD_EPS 11
#define AD_WD 12
#define AD_DECOUPLED 13
#define AD_OMB1 14
#define AD_OMB2 15
/* The step's factors, computed by the host before every run from the control tensor's last
 * upload as the reference computes them (libm pow): lr / (1 - beta1^t), sqrt(1 - beta2^t),
 * 1 - lr wd; as floats and (for the _f64 build) as doubles. */
#define AD_STEP_SIZE 16
#define AD_BC2_SQRT 17
#define AD_DECAY 18
#define AD_BETA1_D 19 /* the attributes as doubles (2 words each) for the _f64 build */
#define AD_BETA2_D 21
#define AD_EPS_D 23
#define AD_WD_D 25
#define AD_STEP_SIZE_D 27
#define AD_BC2_SQRT_D 29
#define AD_DECAY_D 31
#define AD_WORDS 33

/* clip_grad_norm: clip_partial (workgroup g: sum of squares of chunk g of the inputs),
 * clip_final (the norm, the factor), clip_scale (chunk g times the factor when < 1).
 * Inputs: a table of CL_NIN entries (storage, offset, count, first chunk). */
#define CL_CHUNK 4096
#define CL_PART 0
#define CL_NPART 2
#define CL_STATS 3
#define CL_OUT 5
#define CL_MAXNORM 7
#define CL_NIN 8
#define CL_TAB 9
#define CL_TAB_STO 0
#define CL_TAB_OFF 1
#define CL_TAB_N 2
#define CL_TAB_FIRST 3
#define CL_TAB_WORDS 4
#define CL_WORDS 9

/* lstm_step_fwd: one step t of one layer, one invocation per (b, j).  P holds x_t W_ih^T of
 * every step [B, T, 4H]; Y the layer's h sequence [B, T, H]; CELL [B, H]; WS the training
 * workspace [B, L, T, 6H] (ops/op_attrs.h). */
#define LF_P 0
#define LF_WHH 2
#define LF_BIH 4
#define LF_BHH 6
#define LF_Y 8
#define LF_CELL 10
#define LF_WS 12
#define LF_HAS_WS 14
#define LF_B 15
#define LF_T 16
#define LF_H 17
#define LF_STEP 18
#define LF_LAYER 19
#define LF_L 20
#define LF_WORDS 21

/* lstm_step_bwd: dgates of step t of one layer, one invocation per (b, j); DHIN [B, T, H] is
 * the gradient arriving at the layer's h sequence, D [B, T, 4H] the dgates, CARRY [B, H]
 * the dc carried to the step below. */
#define LB_WS 0
#define LB_WHH 2
#define LB_DHIN 4
#define LB_D 6
#define LB_CARRY 8
#define LB_B 10
#define LB_T 11
#define LB_H 12
#define LB_STEP 13
#define LB_LAYER 14
#define LB_L 15
#define LB_WORDS 16

/* posenc_fwd: pe [len, d] */
#define PE_Y 0
#define PE_LEN 2
#define PE_D 3
#define PE_WORDS 4

/* avgpool1d_fwd / _bwd: rows of len -> rows of nout, kernel k, stride s, padding pad (REP:
 * replicate, else zeros) */
#define AP_X 0
#define AP_Y 2
#define AP_DY 4
#define AP_DX 6
#define AP_ROWS 8
#define AP_LEN 9
#define AP_NOUT 10
#define AP_K 11
#define AP_S 12
#define AP_PAD 13
#define AP_REP 14
#define AP_WORDS 15

/* conv1d_fwd / _bwd: x [N, CIN, LEN], w [CO, CG, K], b [CO] -> y [N, CO, LOUT]; CG input and
 * COG output channels per group.  OUT is y (fwd) or the part's gradient (bwd: dx, dw or db). */
#define CV_PART_DX 0
#define CV_PART_DW 1
#define CV_PART_DB 2
#define CV_X 0
#define CV_W 2
#define CV_B 4
#define CV_DY 6
#define CV_OUT 8
#define CV_HAS_B 10
#define CV_N 11
#define CV_CIN 12
#define CV_LEN 13
#define CV_CO 14
#define CV_LOUT 15
#define CV_K 16
#define CV_S 17
#define CV_PAD 18
#define CV_DIL 19
#define CV_CG 20
#define CV_COG 21
#define CV_REP 22
#define CV_PART 23
#define CV_WORDS 24

/* unfold_fwd / _bwd: rows of len -> [rows, np, size] patches at step */
#define UF_X 0
#define UF_Y 2
#define UF_DY 4
#define UF_DX 6
#define UF_ROWS 8
#define UF_LEN 9
#define UF_NP 10
#define UF_SIZE 11
#define UF_STEP 12
#define UF_WORDS 13

/* dropout_fwd: Y = X * mask / (1 - p) over ROWS windows of INNER elements (X is dy and Y dx in
 * the backward); RNG the train.rng tensor, whose words are NTG_RNG_W_* (op_attrs.h's
 * NTG_RNG_*); STREAM (64 bits) and THR (thr = round(p 2^32), 64 bits) two words each, low
 * first; SCALE_F the float, SCALE_D the double 1 / (1 - p). */
#define NTG_RNG_W_SEED0 0
#define NTG_RNG_W_SEED1 1
#define NTG_RNG_W_SEED2 2
#define NTG_RNG_W_STEP 3
#define NTG_RNG_W_ROW0 4
#define DR_X 0
#define DR_Y 2
#define DR_RNG 4
#define DR_ROWS 6
#define DR_INNER 7
#define DR_BATCHED 8
#define DR_STREAM 9
#define DR_THR 11
#define DR_SCALE_F 13
#define DR_SCALE_D 14
#define DR_WORDS 16

/* batchnorm_fwd / _bwd: x [NB, C, L] (L = 1 for [NB, C]); Y is y (fwd) or dx (bwd); SAVED
 * [3, C] the training form's statistics; EPS as a float and as a double. */
#define BN_X 0
#define BN_W 2
#define BN_BIAS 4
#define BN_RM 6
#define BN_RV 8
#define BN_Y 10
#define BN_SAVED 12
#define BN_DY 14
#define BN_DW 16
#define BN_DB 18
#define BN_TRAIN 20
#define BN_NB 21
#define BN_C 22
#define BN_L 23
#define BN_EPS_F 24
#define BN_EPS_D 25
#define BN_HAS_DX 27
#define BN_HAS_DW 28
#define BN_HAS_DB 29
#define BN_WORDS 30

/* batchnorm_stats_fwd: running mean RM and variance RV [C], in place, from SAVED [3, C];
 * momentum as a float and as a double */
#define BS_RM 0
#define BS_RV 2
#define BS_SAVED 4
#define BS_C 6
#define BS_M_F 7
#define BS_M_D 8
#define BS_WORDS 10

/* loss_dist_fwd / _bwd: loss_normal (NP 2) and loss_studentt (NP 3); y [OUTER, NP, INNER], t and
 * the mask [OUTER, INNER].  OUT is the loss, or (DS_BWD) the scratch [w, loss] the backward's
 * loss_dist_bwd reads as STATS; DL the loss gradient. */
#define DS_Y 0
#define DS_T 2
#define DS_M 4
#define DS_OUT 6
#define DS_STATS 8
#define DS_DL 10
#define DS_DY 12
#define DS_DT 14
#define DS_DM 16
#define DS_HAS_M 18
#define DS_NP 19
#define DS_OUTER 20
#define DS_INNER 21
#define DS_HAS_DY 22
#define DS_HAS_DT 23
#define DS_HAS_DM 24
#define DS_BWD 25
#define DS_WORDS 26
/* loss_xent_fwd / _bwd take the same words, NP being the class count C (at most this many: the
 * shape rule's NTG_XENT_MAX_CLASSES). */
#define NTG_VK_XENT_MAX_CLASSES 64

#endif /* NTG_VK_ABI_H */
