/* rng.c — Philox4x32-10 and the uniform/normal/integer draws built on it. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ntg__philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static void draw(uint64_t seed, uint64_t stream, uint64_t i, uint32_t out[4])
{
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    ntg__philox4x32(ctr, seed, out);
}

double ntg__rng_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t r[4];
    draw(seed, stream, i, r);
    uint64_t bits = ((uint64_t)r[0] << 21) ^ (uint64_t)(r[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

uint64_t ntg__rng_below(uint64_t seed, uint64_t stream, uint64_t i, uint64_t n)
{
    uint32_t r[4];
    draw(seed, stream, i, r);
    uint64_t x = ((uint64_t)r[2] << 32) | r[3];
    return n ? x % n : 0;
}

double ntg__rng_normal(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t r[4];
    draw(seed, stream, i, r);
    double u1 = ((double)r[0] + 1.0) / 4294967297.0; /* (0, 1]: log stays finite */
    double u2 = (double)r[1] / 4294967296.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t ntg__hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}
