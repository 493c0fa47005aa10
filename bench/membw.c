/* membw.c — read bandwidth of this host's caches and memory, at 1 and 2 threads.
 *
 * usage: membw [--reps N] [--min-ms MS] [--set BYTES]...
 *
 * For working sets of 16 KiB .. 256 MiB (powers of two, plus every --set), T threads (1, 2)
 * each read their own contiguous 1/T of the set, over and over, with vector loads XOR-folded
 * into 8 independent accumulators (nothing else per load).  A measurement runs at least
 * --min-ms (default 20) between two barriers; it is repeated --reps times (default 5) and the
 * median is printed, in GB/s (1e9 bytes/s) of bytes read by all threads together: by CPU time
 * (each thread's bytes over its own CPU seconds, summed; on a loaded machine the rate while it
 * runs) and by wall time (which counts the time the threads wait for a core).  Loads are
 * AVX-512 (64 B), AVX2 (32 B) and SSE2 (16 B), each only where the CPU has it and NTG_CPU_ISA
 * allows it (docs/cpu-backend.md).  Each thread's part is rounded down to a multiple of 512
 * bytes (the loop's stride); the bytes counted are those read.
 *
 * For every --set it also prints the time one pass over the set takes at the measured
 * bandwidth: N-HiTS at batch 1 streams its 14,727,456 weight bytes once per forecast, so
 * `--set 14727456` gives the bytes-limited floor of one forecast (docs/benchmarks.md).
 */
#define _DEFAULT_SOURCE /* getloadavg */
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu_isa.h"

enum { MAX_THREADS = 2, MAX_SETS = 64, STRIDE = 512 };

typedef uint64_t (*read_fn)(const uint8_t *p, size_t n);

__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    for (size_t i = 0; i < n; i += STRIDE) {
        a0 = _mm512_xor_si512(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512((const void *)(p + i + 192)));
        a4 = _mm512_xor_si512(a4, _mm512_load_si512((const void *)(p + i + 256)));
        a5 = _mm512_xor_si512(a5, _mm512_load_si512((const void *)(p + i + 320)));
        a6 = _mm512_xor_si512(a6, _mm512_load_si512((const void *)(p + i + 384)));
        a7 = _mm512_xor_si512(a7, _mm512_load_si512((const void *)(p + i + 448)));
    }
    a0 = _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)),
                          _mm512_xor_si512(_mm512_xor_si512(a4, a5), _mm512_xor_si512(a6, a7)));
    uint64_t out[8];
    _mm512_storeu_si512((void *)out, a0);
    return out[0] ^ out[7];
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    for (size_t i = 0; i < n; i += STRIDE) {
        for (size_t h = 0; h < STRIDE; h += 256) {
            const uint8_t *q = p + i + h;
            a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(const void *)q));
            a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(const void *)(q + 32)));
            a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(const void *)(q + 64)));
            a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(const void *)(q + 96)));
            a4 = _mm256_xor_si256(a4, _mm256_load_si256((const __m256i *)(const void *)(q + 128)));
            a5 = _mm256_xor_si256(a5, _mm256_load_si256((const __m256i *)(const void *)(q + 160)));
            a6 = _mm256_xor_si256(a6, _mm256_load_si256((const __m256i *)(const void *)(q + 192)));
            a7 = _mm256_xor_si256(a7, _mm256_load_si256((const __m256i *)(const void *)(q + 224)));
        }
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
                          _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7)));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)(void *)out, a0);
    return out[0] ^ out[3];
}

static uint64_t read_sse2(const uint8_t *p, size_t n)
{
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i < n; i += 128) {
        const uint8_t *q = p + i;
        a0 = _mm_xor_si128(a0, _mm_load_si128((const __m128i *)(const void *)q));
        a1 = _mm_xor_si128(a1, _mm_load_si128((const __m128i *)(const void *)(q + 16)));
        a2 = _mm_xor_si128(a2, _mm_load_si128((const __m128i *)(const void *)(q + 32)));
        a3 = _mm_xor_si128(a3, _mm_load_si128((const __m128i *)(const void *)(q + 48)));
        a4 = _mm_xor_si128(a4, _mm_load_si128((const __m128i *)(const void *)(q + 64)));
        a5 = _mm_xor_si128(a5, _mm_load_si128((const __m128i *)(const void *)(q + 80)));
        a6 = _mm_xor_si128(a6, _mm_load_si128((const __m128i *)(const void *)(q + 96)));
        a7 = _mm_xor_si128(a7, _mm_load_si128((const __m128i *)(const void *)(q + 112)));
    }
    a0 = _mm_xor_si128(_mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3)),
                       _mm_xor_si128(_mm_xor_si128(a4, a5), _mm_xor_si128(a6, a7)));
    uint64_t out[2];
    _mm_storeu_si128((__m128i *)(void *)out, a0);
    return out[0] ^ out[1];
}

/* One measurement's shared state: the threads meet at `start` and `stop`. */
typedef struct job {
    pthread_barrier_t start, stop;
    read_fn fn;
    const uint8_t *base;
    size_t part; /* bytes per thread (a multiple of STRIDE) */
    long passes; /* over its part, per thread */
    int quit;    /* the threads return at the next start */
} job;

typedef struct worker {
    job *j;
    int idx;
    double cpu; /* this thread's CPU seconds in the last round */
    volatile uint64_t sink;
} worker;

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *work(void *arg)
{
    worker *w = arg;
    job *j = w->j;
    for (;;) {
        pthread_barrier_wait(&j->start);
        if (j->quit) return NULL;
        const uint8_t *p = j->base + (size_t)w->idx * j->part;
        uint64_t acc = 0;
        double c0 = thread_cpu();
        for (long r = 0; r < j->passes; r++) acc ^= j->fn(p, j->part);
        w->cpu = thread_cpu() - c0;
        w->sink = acc;
        pthread_barrier_wait(&j->stop);
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double median(double *x, int n)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && x[k - 1] > x[k]; k--) {
            double t = x[k];
            x[k] = x[k - 1];
            x[k - 1] = t;
        }
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* A team of `nt` threads kept for all measurements at that count (the caller is thread 0). */
typedef struct team {
    job j;
    worker w[MAX_THREADS];
    pthread_t t[MAX_THREADS];
    int nt;
} team;

static int team_start(team *tm, int nt)
{
    memset(tm, 0, sizeof *tm);
    tm->nt = nt;
    if (pthread_barrier_init(&tm->j.start, NULL, (unsigned)nt) ||
        pthread_barrier_init(&tm->j.stop, NULL, (unsigned)nt))
        return -1;
    for (int i = 0; i < nt; i++) {
        tm->w[i].j = &tm->j;
        tm->w[i].idx = i;
        if (i && pthread_create(&tm->t[i], NULL, work, &tm->w[i])) return -1;
    }
    return 0;
}

static void team_stop(team *tm)
{
    tm->j.quit = 1;
    if (tm->nt > 1) pthread_barrier_wait(&tm->j.start);
    for (int i = 1; i < tm->nt; i++) pthread_join(tm->t[i], NULL);
    pthread_barrier_destroy(&tm->j.start);
    pthread_barrier_destroy(&tm->j.stop);
}

/* Seconds for thread 0's share of one round (all threads read `passes` times). */
static double team_round(team *tm)
{
    job *j = &tm->j;
    pthread_barrier_wait(&j->start);
    double t0 = now(), c0 = thread_cpu();
    const uint8_t *p = j->base;
    uint64_t acc = 0;
    for (long r = 0; r < j->passes; r++) acc ^= j->fn(p, j->part);
    tm->w[0].cpu = thread_cpu() - c0;
    tm->w[0].sink = acc;
    pthread_barrier_wait(&j->stop);
    return now() - t0;
}

/* Median GB/s of `reps` measurements of set `bytes` read by the team with `fn`: by wall time
 * (*wall) and by CPU time (returned: each thread's bytes over its own CPU seconds, summed). */
static double measure(team *tm, read_fn fn, const uint8_t *buf, size_t bytes, int reps,
                      double min_s, size_t *read_bytes, double *wall)
{
    job *j = &tm->j;
    j->fn = fn;
    j->base = buf;
    j->part = bytes / (size_t)tm->nt / STRIDE * STRIDE;
    *read_bytes = j->part * (size_t)tm->nt;
    *wall = 0;
    if (j->part == 0) return 0;
    /* calibrate: passes such that one measurement takes at least min_s */
    j->passes = 1;
    team_round(tm); /* warm: caches, TLB */
    for (;;) {
        team_round(tm);
        double t = tm->w[0].cpu;
        if (t >= min_s) break;
        long more = t > 0 ? (long)(min_s / t * 1.2) + 1 : 16;
        if (more < 2) more = 2;
        j->passes *= more;
    }
    double gbs[32], cpu[32];
    if (reps > 32) reps = 32;
    for (int r = 0; r < reps; r++) {
        double t = team_round(tm);
        gbs[r] = (double)*read_bytes * (double)j->passes / t / 1e9;
        cpu[r] = 0;
        for (int i = 0; i < tm->nt; i++)
            cpu[r] += (double)j->part * (double)j->passes / tm->w[i].cpu / 1e9;
    }
    *wall = median(gbs, reps);
    return median(cpu, reps);
}

static void usage(void)
{
    fprintf(stderr, "usage: membw [--reps N] [--min-ms MS] [--set BYTES]...\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void size_name(size_t b, char *out, size_t n)
{
    if (b % (1u << 20) == 0)
        snprintf(out, n, "%zu MiB", b >> 20);
    else if (b % 1024 == 0)
        snprintf(out, n, "%zu KiB", b >> 10);
    else
        snprintf(out, n, "%.1f MB", (double)b / 1e6);
}

int main(int argc, char **argv)
{
    long reps = 5, min_ms = 20;
    size_t extra[MAX_SETS];
    int n_extra = 0;
    for (int i = 1; i < argc; i++) {
        long v;
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc && !parse_long(argv[++i], 1, 32, &v)) {
            reps = v;
        } else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc &&
                   !parse_long(argv[++i], 1, 10000, &v)) {
            min_ms = v;
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && n_extra < MAX_SETS &&
                   !parse_long(argv[++i], 4096, 1l << 30, &v)) {
            extra[n_extra++] = (size_t)v;
        } else {
            fprintf(stderr, "membw: bad argument '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    ntg_error err;
    int cap;
    if (ntg__isa_cap_from_env(&cap, &err) != NTG_OK) {
        fprintf(stderr, "membw: %s\n", err.message);
        return 2;
    }
    __builtin_cpu_init();
    const char *isa_name[3] = {"AVX-512", "AVX2", "SSE2"};
    read_fn isa_fn[3] = {read_avx512, read_avx2, read_sse2};
    int isa_on[3] = {cap >= NTG_ISA_AVX512 && __builtin_cpu_supports("avx512f"),
                     cap >= NTG_ISA_AVX2 && __builtin_cpu_supports("avx2"), 1};

    size_t sets[MAX_SETS + 32];
    int n_sets = 0;
    for (size_t b = 16u << 10; b <= (256u << 20); b *= 2) sets[n_sets++] = b;
    for (int i = 0; i < n_extra; i++) sets[n_sets++] = extra[i];
    size_t biggest = 0;
    for (int i = 0; i < n_sets; i++)
        if (sets[i] > biggest) biggest = sets[i];
    uint8_t *buf = aligned_alloc(4096, (biggest + 4095) / 4096 * 4096);
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu bytes\n", biggest);
        return 1;
    }
    for (size_t i = 0; i < biggest; i++) buf[i] = (uint8_t)(i * 131u + 7u);

    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE),
         l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    printf("membw: read bandwidth, GB/s (1e9 B/s) of all threads together, median of %ld "
           "(each >= %ld ms)\n",
           reps, min_ms);
    printf("cap %s (NTG_CPU_ISA); caches L1d %ld KiB, L2 %ld KiB, L3 %ld KiB per sysconf; "
           "load average at start %.2f %.2f %.2f\n",
           ntg__isa_name(cap), l1 / 1024, l2 / 1024, l3 / 1024, load[0], load[1], load[2]);

    /* results[set][isa][threads-1] */
    static double res[MAX_SETS + 32][3][MAX_THREADS], wall[MAX_SETS + 32][3][MAX_THREADS];
    size_t rd[MAX_SETS + 32][MAX_THREADS];
    for (int nt = 1; nt <= MAX_THREADS; nt++) {
        team tm;
        if (team_start(&tm, nt)) {
            fprintf(stderr, "membw: cannot start %d threads\n", nt);
            return 1;
        }
        for (int s = 0; s < n_sets; s++)
            for (int k = 0; k < 3; k++)
                if (isa_on[k])
                    res[s][k][nt - 1] =
                        measure(&tm, isa_fn[k], buf, sets[s], (int)reps, (double)min_ms / 1000,
                                &rd[s][nt - 1], &wall[s][k][nt - 1]);
        team_stop(&tm);
    }

    for (int tab = 0; tab < 2; tab++) {
        printf(tab == 0 ? "\nby CPU time (each thread's bytes / its CPU seconds, summed: the rate "
                          "while running)\n"
                        : "\nby wall time (all threads' bytes / wall seconds: includes time "
                          "descheduled on a loaded machine)\n");
        printf("| working set |");
        for (int k = 0; k < 3; k++)
            if (isa_on[k]) printf(" %s 1 thr | %s 2 thr |", isa_name[k], isa_name[k]);
        printf("\n|---|");
        for (int k = 0; k < 3; k++)
            if (isa_on[k]) printf("---:|---:|");
        printf("\n");
        for (int s = 0; s < n_sets; s++) {
            char nm[32];
            size_name(sets[s], nm, sizeof nm);
            printf("| %s |", nm);
            for (int k = 0; k < 3; k++)
                if (isa_on[k])
                    printf(" %.1f | %.1f |", tab ? wall[s][k][0] : res[s][k][0],
                           tab ? wall[s][k][1] : res[s][k][1]);
            printf("\n");
        }
    }
    for (int s = n_sets - n_extra; s < n_sets; s++) {
        printf("\none pass over %zu bytes at the CPU-time rates:", sets[s]);
        for (int k = 0; k < 3; k++)
            if (isa_on[k])
                for (int nt = 1; nt <= MAX_THREADS; nt++)
                    printf(" %s %d thr %.1f us;", isa_name[k], nt,
                           (double)sets[s] / (res[s][k][nt - 1] * 1e9) * 1e6);
        printf("\n");
    }
    getloadavg(load, 3);
    printf("load average at end %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    free(buf);
    return 0;
}
