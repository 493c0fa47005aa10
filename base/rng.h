/* rng.h — counter-based random numbers (Philox4x32-10): stateless, reproducible, splittable. */
#ifndef NTG_RNG_H
#define NTG_RNG_H

#include <stdint.h>

/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
 * four 32-bit words from a 128-bit counter under a 64-bit key.  The same inputs always
 * give the same output, so initialisation, dropout and window sampling are
 * reproducible whatever the order or thread count. */
void ntg__philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4]);

/* Uniform double in [0, 1) (53 bits) for element `i` of stream `stream` under `seed`. */
double ntg__rng_uniform(uint64_t seed, uint64_t stream, uint64_t i);
/* Uniform integer in [0, n) for element `i` of stream `stream` under `seed` (n >= 1;
 * bias below 2^-32 for n < 2^32). */
uint64_t ntg__rng_below(uint64_t seed, uint64_t stream, uint64_t i, uint64_t n);
/* Standard normal for element `i` (Box-Muller on two uniforms). */
double ntg__rng_normal(uint64_t seed, uint64_t stream, uint64_t i);

/* 64-bit FNV-1a of a string: stable stream ids from names. */
uint64_t ntg__hash_str(const char *s);

#endif /* NTG_RNG_H */
