/* cpu_isa.h — the instruction-set cap (NTG_CPU_ISA) that every CPU-feature dispatch honours. */
#ifndef NTG_CPU_ISA_H
#define NTG_CPU_ISA_H

#include "ntgraph.h"

/*
 * Kernels that pick an instruction set at run time (xgemm, the vector kernels, CRC32C) take
 * the widest one the CPU has, up to a cap.  NTG_CPU_ISA sets the cap: `avx512` (the default:
 * no cap), `avx2` (AVX2 + FMA at most: an AVX-512 machine runs as an AVX2-only one) or
 * `portable` (no instruction past the baseline of the target, SSE2 on x86-64: the portable C
 * kernels and the software CRC).  The cap only lowers: on a CPU without AVX2, `avx2` still
 * runs the portable kernels.  It does not reach inside XNNPACK (its 2022 snapshot picks its
 * own kernels from CPUID and has no switch) nor the Vulkan driver.
 *
 * There is no process-wide copy of the cap: the environment is read where it is used (a
 * backend instance reads it once, when it is created), so a program may change it between
 * instances.  What the CPU has is libgcc's CPUID table (__builtin_cpu_supports), filled
 * once before main and never written again.
 */
enum {
    NTG_ISA_PORTABLE = 1, /* the target's baseline (SSE2 on x86-64), any CPU */
    NTG_ISA_AVX2 = 2,     /* AVX2 + FMA (+ SSE4.2) */
    NTG_ISA_AVX512 = 3    /* AVX-512 (F; the vector kernels also need DQ and VL) */
};

#define NTG_CPU_ISA_ENV "NTG_CPU_ISA"

/* The cap a value of NTG_CPU_ISA names ("avx512", "avx2", "portable", any case); NULL or ""
 * is no cap (NTG_ISA_AVX512).  Anything else is NTG_ERR_INVALID_ARG, naming the value and
 * the accepted ones. */
ntg_status ntg__isa_cap_parse(const char *value, int *cap, ntg_error *err);
/* The cap NTG_CPU_ISA sets now (read at each call). */
ntg_status ntg__isa_cap_from_env(int *cap, ntg_error *err);
/* "avx512", "avx2", "portable" (the words NTG_CPU_ISA takes). */
const char *ntg__isa_name(int isa);

#endif /* NTG_CPU_ISA_H */
