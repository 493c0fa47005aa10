/* vmath.c — the vector kernels of vmath.h (bodies: vmath_impl.h) for AVX-512, AVX2, portable. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vmath.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIMD_X86 1
#endif

/* The tables' names (the template defines them): only this file and the picker use them. */
extern const ntg_simd_vk ntg__simd_vk__portable;
#ifdef SIMD_X86
extern const ntg_simd_vk ntg__simd_vk__avx2;
extern const ntg_simd_vk ntg__simd_vk__avx512;
#endif

/* Portable: 4 lanes (SSE2 on x86-64, NEON or generic code elsewhere). */
#define XV_W 4
#define XV_SFX _portable
#define XV_TARGET
#define XV_NAME "portable"
#define XV_RB 2
#define XV_RBT 4
#ifdef SIMD_X86
#define XV_SQRTD(v) ((xvd)_mm_sqrt_pd((__m128d)(v)))
#define XV_MIN(a, b) ((xvf)_mm_min_ps((__m128)(a), (__m128)(b)))
#define XV_MAX(a, b) ((xvf)_mm_max_ps((__m128)(a), (__m128)(b)))
#define XV_SELLT(a, b, x, y)                                                                       \
    ((xvf)_mm_or_ps(_mm_and_ps(_mm_cmplt_ps((__m128)(a), (__m128)(b)), (__m128)(x)),               \
                    _mm_andnot_ps(_mm_cmplt_ps((__m128)(a), (__m128)(b)), (__m128)(y))))
#else
#define XV_SQRTD(v) ((xvd){sqrt((v)[0]), sqrt((v)[1])})
#define XV_MIN(a, b) ((xvf)(((xvi)((a) < (b)) & (xvi)(a)) | (~(xvi)((a) < (b)) & (xvi)(b))))
#define XV_MAX(a, b) ((xvf)(((xvi)((a) > (b)) & (xvi)(a)) | (~(xvi)((a) > (b)) & (xvi)(b))))
#define XV_SELLT(a, b, x, y) ((xvf)(((xvi)((a) < (b)) & (xvi)(x)) | (~(xvi)((a) < (b)) & (xvi)(y))))
#endif
/* SSE2 has no fused multiply-add: two roundings, as plain C */
#define XV_FMA(a, b, c) ((a) * (b) + (c))
#define XV_HSUM(v) (((v)[0] + (v)[2]) + ((v)[1] + (v)[3]))
#define XV_HMAX(v) fmaxf(fmaxf((v)[0], (v)[2]), fmaxf((v)[1], (v)[3]))
#include "vmath_impl.h"
#undef XV_W
#undef XV_SFX
#undef XV_TARGET
#undef XV_NAME
#undef XV_SQRTD
#undef XV_MIN
#undef XV_MAX
#undef XV_SELLT
#undef XV_FMA
#undef XV_HSUM
#undef XV_HMAX
#undef XV_RB
#undef XV_RBT

#ifdef SIMD_X86
__attribute__((target("avx2,fma"))) static inline float xv_hsum8(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps(a, a, 1)));
}

__attribute__((target("avx2,fma"))) static inline float xv_hmax8(__m256 v)
{
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, 1)));
}

#define XV_W 8
#define XV_SFX _avx2
#define XV_TARGET __attribute__((target("avx2,fma")))
#define XV_NAME "AVX2"
#define XV_RB 2
#define XV_RBT 6
#define XV_SQRTD(v) ((xvd)_mm256_sqrt_pd((__m256d)(v)))
#define XV_MIN(a, b) ((xvf)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define XV_MAX(a, b) ((xvf)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define XV_SELLT(a, b, x, y)                                                                       \
    ((xvf)_mm256_blendv_ps((__m256)(y), (__m256)(x),                                               \
                           _mm256_cmp_ps((__m256)(a), (__m256)(b), _CMP_LT_OQ)))
#define XV_FMA(a, b, c) ((xvf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define XV_BCAST(p) ((xvf)_mm256_broadcast_ss(p))
/* halves folded down to one lane: a fixed order */
#define XV_HSUM(v) xv_hsum8((__m256)(v))
#define XV_HMAX(v) xv_hmax8((__m256)(v))
#include "vmath_impl.h"
#undef XV_W
#undef XV_SFX
#undef XV_TARGET
#undef XV_NAME
#undef XV_SQRTD
#undef XV_MIN
#undef XV_MAX
#undef XV_SELLT
#undef XV_FMA
#undef XV_BCAST
#undef XV_HSUM
#undef XV_HMAX
#undef XV_RB
#undef XV_RBT

#define XV_W 16
#define XV_SFX _avx512
#define XV_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))
#define XV_NAME "AVX-512"
#define XV_RB 4
#define XV_RBT 12
#define XV_SQRTD(v) ((xvd)_mm512_sqrt_pd((__m512d)(v)))
#define XV_MIN(a, b) ((xvf)_mm512_min_ps((__m512)(a), (__m512)(b)))
#define XV_MAX(a, b) ((xvf)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define XV_SELLT(a, b, x, y)                                                                       \
    ((xvf)_mm512_mask_blend_ps(_mm512_cmp_ps_mask((__m512)(a), (__m512)(b), _CMP_LT_OQ),           \
                               (__m512)(y), (__m512)(x)))
#define XV_FMA(a, b, c) ((xvf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define XV_BCAST(p) ((xvf)_mm512_set1_ps(*(p)))
#define XV_HSUM(v) _mm512_reduce_add_ps((__m512)(v))
#define XV_HMAX(v) _mm512_reduce_max_ps((__m512)(v))
#include "vmath_impl.h"
#endif

const ntg_simd_vk *ntg__simd_vk_pick(int max_isa)
{
#ifdef SIMD_X86
    /* libgcc's checks include the OS saving the wider registers (XCR0) */
    __builtin_cpu_init();
    if (max_isa >= NTG_ISA_AVX512 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return &ntg__simd_vk__avx512;
    if (max_isa >= NTG_ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &ntg__simd_vk__avx2;
#else
    (void)max_isa;
#endif
    return &ntg__simd_vk__portable;
}
