/* testutil.h — helpers shared by the Criterion suites: paths, random data, comparisons. */
#ifndef NTG_TESTUTIL_H
#define NTG_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of `rel` under the source tree (NTG_SOURCE_ROOT, set by meson test). */
static inline const char *tu_src(const char *rel)
{
    static _Thread_local char buf[4096];
    const char *root = getenv("NTG_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

/* Path of `rel` under the build tree (NTG_BUILD_ROOT). */
static inline const char *tu_build(const char *rel)
{
    static _Thread_local char buf[4096];
    const char *root = getenv("NTG_BUILD_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

/* Path of the shared golden folder (../shared/golden next to the source tree), or
 * NULL when it is absent: tests that need it skip with a message. */
static inline const char *tu_shared(const char *rel)
{
    static _Thread_local char buf[4096];
    const char *root = getenv("NTG_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/../shared/%s", root ? root : ".", rel);
    FILE *f = fopen(buf, "rb");
    if (!f) return NULL;
    fclose(f);
    return buf;
}

/* Deterministic test randomness (splitmix64). */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;

static inline uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline double tu_uniform(tu_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline void tu_fill(tu_rng *r, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)tu_uniform(r, lo, hi);
}

/* max |a - b| / max |b| (the golden README's max-abs-relative); 0 when both are 0. */
static inline double tu_max_abs_rel(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || d != d) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

static inline double tu_max_abs_rel_d(const float *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > num || d != d) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0 ? num / den : num;
}

/* Whole file into malloc'ed memory (NUL-terminated); NULL on failure. */
static inline char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (size) *size = (size_t)n;
    }
    return buf;
}

#endif /* NTG_TESTUTIL_H */
