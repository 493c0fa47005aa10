/* store_b3.c — BLAKE3 (hash mode, 32-byte output): the content hash of store format 2.
 *
 * BLAKE3 cuts its input into 1 KiB chunks whose chaining values are independent, so many chunks
 * are compressed at once, one per SIMD lane: 16 lanes with AVX-512, 8 with AVX2 (message words
 * gathered across the lanes), one at a time in portable C otherwise.  The width honours
 * NTG_CPU_ISA (docs/cpu-backend.md).  The tree is built over groups of 256 chunks (256 KiB, an
 * aligned complete subtree of BLAKE3's left-complete tree whenever the input is longer): inside
 * a group the parents are compressed level by level, 16 or 8 at a time; across groups a stack
 * of subtree values is merged as in the specification's incremental hasher, so the memory used
 * does not grow with the input.  Inputs of 4 MiB or more share their groups with a second
 * thread (each takes the next group from a counter; the values are merged in order after).
 *
 * Written from the BLAKE3 specification (Aumasson, Neves, O'Connor, Wilcox-O'Hearn, 2020);
 * tests/test_store_b3.c checks it against the reference implementation's output.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_isa.h"
#include "store_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define B3_X86 1
#include <immintrin.h>
#else
#define B3_X86 0
#endif

enum {
    CHUNK_START = 1,
    CHUNK_END = 2,
    PARENT = 4,
    ROOT = 8,
    CHUNK_LEN = 1024,
    BLOCK_LEN = 64,
    GROUP_CHUNKS = 256, /* a power of two: groups are aligned complete subtrees */
    MAX_DEPTH = 64
};

static const uint32_t IV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                               0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

/* Message word order of each of the 7 rounds (the permutation applied r times). */
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define G(a, b, c, d, mx, my)                                                                      \
    do {                                                                                           \
        a = a + b + (mx);                                                                          \
        d = ROTR(d ^ a, 16);                                                                       \
        c = c + d;                                                                                 \
        b = ROTR(b ^ c, 12);                                                                       \
        a = a + b + (my);                                                                          \
        d = ROTR(d ^ a, 8);                                                                        \
        c = c + d;                                                                                 \
        b = ROTR(b ^ c, 7);                                                                        \
    } while (0)
#define ROUND(v, m, s)                                                                             \
    do {                                                                                           \
        G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);                                              \
        G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);                                              \
        G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);                                             \
        G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);                                             \
        G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);                                             \
        G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);                                           \
        G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);                                            \
        G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);                                            \
    } while (0)

/* The compression function, truncated to the 8 words a chaining value (or a 32-byte root
 * output) uses. */
static void compress(const uint32_t cv[8], const uint8_t block[BLOCK_LEN], uint32_t block_len,
                     uint64_t counter, uint32_t flags, uint32_t out[8])
{
    uint32_t m[16], v[16];
    for (int i = 0; i < 16; i++) m[i] = load32(block + 4 * i);
    for (int i = 0; i < 8; i++) v[i] = cv[i];
    for (int i = 0; i < 4; i++) v[8 + i] = IV[i];
    v[12] = (uint32_t)counter;
    v[13] = (uint32_t)(counter >> 32);
    v[14] = block_len;
    v[15] = flags;
    for (int r = 0; r < 7; r++) ROUND(v, m, SCHEDULE[r]);
    for (int i = 0; i < 8; i++) out[i] = v[i] ^ v[i + 8];
}

/* The chaining value of one chunk of 1..1024 bytes (0 only for the empty input). */
static void chunk_cv(const uint8_t *p, size_t len, uint64_t counter, uint32_t flags_last,
                     uint32_t out[8])
{
    uint32_t cv[8];
    memcpy(cv, IV, sizeof cv);
    size_t blocks = len ? (len + BLOCK_LEN - 1) / BLOCK_LEN : 1;
    for (size_t b = 0; b < blocks; b++) {
        uint8_t block[BLOCK_LEN] = {0};
        size_t n = len - b * BLOCK_LEN < BLOCK_LEN ? len - b * BLOCK_LEN : BLOCK_LEN;
        if (len) memcpy(block, p + b * BLOCK_LEN, n);
        uint32_t flags =
            (b == 0 ? CHUNK_START : 0) | (b + 1 == blocks ? CHUNK_END | flags_last : 0);
        compress(cv, block, (uint32_t)n, counter, flags, cv);
    }
    memcpy(out, cv, sizeof cv);
}

static void parent_cv(const uint32_t left[8], const uint32_t right[8], uint32_t flags,
                      uint32_t out[8])
{
    uint8_t block[BLOCK_LEN];
    for (int i = 0; i < 8; i++) {
        store32(block + 4 * i, left[i]);
        store32(block + 32 + 4 * i, right[i]);
    }
    compress(IV, block, BLOCK_LEN, 0, PARENT | flags, out);
}

/*
 * Many inputs at once: input i (< count) starts at base + i * stride and has `blocks` full
 * blocks, counter `counter + i * inc`; the first block adds `start` to `flags`, the last `end`.
 * Writes count chaining values (8 words each) to out.  Chunks: stride 1024, 16 blocks, inc 1,
 * CHUNK_START / CHUNK_END.  Parents: stride 64 (pairs of adjacent values), 1 block, inc 0,
 * PARENT.  Lanes past count read input 0 and are dropped.
 */
typedef void (*hash_many_fn)(const uint8_t *base, size_t stride, int count, size_t blocks,
                             uint64_t counter, uint64_t inc, uint32_t flags, uint32_t start,
                             uint32_t end, uint32_t *out);

static void hash_many_portable(const uint8_t *base, size_t stride, int count, size_t blocks,
                               uint64_t counter, uint64_t inc, uint32_t flags, uint32_t start,
                               uint32_t end, uint32_t *out)
{
    for (int i = 0; i < count; i++) {
        uint32_t cv[8];
        memcpy(cv, IV, sizeof cv);
        for (size_t b = 0; b < blocks; b++) {
            uint32_t f = flags | (b == 0 ? start : 0) | (b + 1 == blocks ? end : 0);
            compress(cv, base + (size_t)i * stride + b * BLOCK_LEN, BLOCK_LEN,
                     counter + (uint64_t)i * inc, f, cv);
        }
        memcpy(out + 8 * i, cv, sizeof cv);
    }
}

#if B3_X86
/* One function per width: the same body on GCC vector types, message words gathered. */
#define B3_LANES(NAME, TARGET, W, VT, GATHER)                                                      \
    __attribute__((target(TARGET))) static void NAME(                                              \
        const uint8_t *base, size_t stride, int count, size_t blocks, uint64_t counter,            \
        uint64_t inc, uint32_t flags, uint32_t start, uint32_t end, uint32_t *out)                 \
    {                                                                                              \
        int32_t idx_a[W];                                                                          \
        uint32_t lo_a[W], hi_a[W];                                                                 \
        for (int i = 0; i < W; i++) {                                                              \
            idx_a[i] = (int32_t)((size_t)(i < count ? i : 0) * stride);                            \
            uint64_t c = counter + (uint64_t)(i < count ? i : 0) * inc;                            \
            lo_a[i] = (uint32_t)c;                                                                 \
            hi_a[i] = (uint32_t)(c >> 32);                                                         \
        }                                                                                          \
        VT idx, lo, hi, h[8], m[16], v[16];                                                        \
        memcpy(&idx, idx_a, sizeof idx);                                                           \
        memcpy(&lo, lo_a, sizeof lo);                                                              \
        memcpy(&hi, hi_a, sizeof hi);                                                              \
        for (int i = 0; i < 8; i++) h[i] = (VT){0} + IV[i];                                        \
        for (size_t b = 0; b < blocks; b++) {                                                      \
            const uint8_t *p = base + b * BLOCK_LEN;                                               \
            for (int w = 0; w < 16; w++) m[w] = GATHER(idx, p + 4 * w);                            \
            uint32_t f = flags | (b == 0 ? start : 0) | (b + 1 == blocks ? end : 0);               \
            for (int i = 0; i < 8; i++) v[i] = h[i];                                               \
            for (int i = 0; i < 4; i++) v[8 + i] = (VT){0} + IV[i];                                \
            v[12] = lo;                                                                            \
            v[13] = hi;                                                                            \
            v[14] = (VT){0} + (uint32_t)BLOCK_LEN;                                                 \
            v[15] = (VT){0} + f;                                                                   \
            /* unrolled, the schedule's indexes are constants: the message words stay in           \
             * registers instead of being loaded by index (+8 % with AVX-512) */                   \
            _Pragma("GCC unroll 7") for (int r = 0; r < 7; r++) ROUND(v, m, SCHEDULE[r]);          \
            for (int i = 0; i < 8; i++) h[i] = v[i] ^ v[i + 8];                                    \
        }                                                                                          \
        uint32_t t[8][W];                                                                          \
        for (int i = 0; i < 8; i++) memcpy(t[i], &h[i], sizeof h[i]);                              \
        for (int l = 0; l < count; l++)                                                            \
            for (int i = 0; i < 8; i++) out[8 * l + i] = t[i][l];                                  \
    }

typedef uint32_t v8u32 __attribute__((vector_size(32)));
typedef uint32_t v16u32 __attribute__((vector_size(64)));

__attribute__((target("avx2"))) static inline v8u32 gather8(v8u32 idx, const uint8_t *p)
{
    __m256i i;
    memcpy(&i, &idx, sizeof i);
    __m256i r = _mm256_i32gather_epi32((const int *)(const void *)p, i, 1);
    v8u32 out;
    memcpy(&out, &r, sizeof out);
    return out;
}

__attribute__((target("avx512f"))) static inline v16u32 gather16(v16u32 idx, const uint8_t *p)
{
    __m512i i;
    memcpy(&i, &idx, sizeof i);
    __m512i r = _mm512_i32gather_epi32(i, (const void *)p, 1);
    v16u32 out;
    memcpy(&out, &r, sizeof out);
    return out;
}

B3_LANES(hash_many_avx2, "avx2", 8, v8u32, gather8)
B3_LANES(hash_many_avx512, "avx512f", 16, v16u32, gather16)
#endif

typedef struct b3_impl {
    hash_many_fn many;
    int width;
} b3_impl;

static b3_impl pick(void)
{
    b3_impl im = {hash_many_portable, 1};
#if B3_X86
    int cap = NTG_ISA_AVX512;
    if (ntg__isa_cap_from_env(&cap, NULL) != NTG_OK) cap = NTG_ISA_PORTABLE;
    __builtin_cpu_init();
    if (cap >= NTG_ISA_AVX512 && __builtin_cpu_supports("avx512f")) {
        im.many = hash_many_avx512;
        im.width = 16;
    } else if (cap >= NTG_ISA_AVX2 && __builtin_cpu_supports("avx2")) {
        im.many = hash_many_avx2;
        im.width = 8;
    }
#endif
    return im;
}

/* Merge k >= 1 chaining values (adjacent pairs first, an odd last one moves up unchanged: the
 * left-complete tree) into cvs[0]; the last parent gets ROOT when `root`. */
static void reduce(const b3_impl *im, uint32_t *cvs, size_t k, int root)
{
    while (k > 1) {
        if (k == 2) {
            parent_cv(cvs, cvs + 8, root ? ROOT : 0, cvs);
            return;
        }
        size_t pairs = k / 2;
        /* in place: batch j reads values 2j.. and writes j..; later batches read past them */
        for (size_t j = 0; j < pairs; j += (size_t)im->width) {
            int n = (int)(pairs - j < (size_t)im->width ? pairs - j : (size_t)im->width);
            im->many((const uint8_t *)(cvs + 16 * j), 64, n, 1, 0, 0, PARENT, 0, 0, cvs + 8 * j);
        }
        if (k % 2) memmove(cvs + 8 * pairs, cvs + 8 * (k - 1), 32);
        k = pairs + k % 2;
    }
}

/* The chaining value of a group of chunks (1..GROUP_CHUNKS of them, all full but the last),
 * the first having chunk counter `counter`; the root output when `root`. */
static void group_cv(const b3_impl *im, const uint8_t *p, size_t len, uint64_t counter, int root,
                     uint32_t out[8])
{
    uint32_t cvs[GROUP_CHUNKS * 8];
    /* the chunks but the last are full and go through the lanes; the last one is done apart */
    size_t chunks = len ? (len + CHUNK_LEN - 1) / CHUNK_LEN : 1, full = chunks - 1, k;
    if (chunks == 1) {
        chunk_cv(p, len, counter, root ? ROOT : 0, out);
        return;
    }
    for (size_t i = 0; i < full; i += (size_t)im->width) {
        int n = (int)(full - i < (size_t)im->width ? full - i : (size_t)im->width);
        im->many(p + i * CHUNK_LEN, CHUNK_LEN, n, CHUNK_LEN / BLOCK_LEN, counter + i, 1, 0,
                 CHUNK_START, CHUNK_END, cvs + 8 * i);
    }
    k = full;
    chunk_cv(p + full * CHUNK_LEN, len - full * CHUNK_LEN, counter + full, 0, cvs + 8 * k);
    k++;
    reduce(im, cvs, k, root);
    memcpy(out, cvs, 32);
}

/* Groups of at least this many bytes in all are shared with a second thread: two cores halve
 * the hash's wall time on a checkpoint (its CPU time stays the same). */
#define B3_PAR_MIN ((size_t)4 << 20)

typedef struct b3_job {
    b3_impl im;
    const uint8_t *p;
    size_t n, groups; /* groups but the last, all full */
    uint32_t (*cvs)[8];
    atomic_size_t next; /* the next group to take */
} b3_job;

/* Take groups until none is left: each is a complete subtree whose value goes to its slot. */
static void *b3_work(void *arg)
{
    b3_job *j = arg;
    const size_t group = (size_t)GROUP_CHUNKS * CHUNK_LEN;
    for (size_t g; (g = atomic_fetch_add(&j->next, 1)) < j->groups;)
        group_cv(&j->im, j->p + g * group, group, (uint64_t)g * GROUP_CHUNKS, 0, j->cvs[g]);
    return NULL;
}

void ntg__blake3_threads(const void *data, size_t n, int threads, uint8_t out[32])
{
    const uint8_t *p = data;
    b3_impl im = {hash_many_portable, 1};
    if (n > 4 * CHUNK_LEN) im = pick();
    const size_t group = (size_t)GROUP_CHUNKS * CHUNK_LEN;
    uint32_t res[8];
    if (n <= group) {
        group_cv(&im, p, n, 0, 1, res);
    } else {
        /* the groups but the last are complete subtrees, hashed in any order (by two threads
         * when asked and the input is large) into their slots, then pushed in order, merging
         * pairs as the group count's low bits say (the specification's incremental hasher) */
        b3_job j = {im, p, n, (n - 1) / group, NULL, 0};
        atomic_init(&j.next, 0);
        uint32_t one[8];
        int par = threads > 1 && n >= B3_PAR_MIN;
        j.cvs = par ? malloc(j.groups * sizeof *j.cvs) : NULL;
        pthread_t th;
        if (j.cvs && pthread_create(&th, NULL, b3_work, &j) == 0) {
            b3_work(&j);
            pthread_join(th, NULL);
        } else {
            free(j.cvs); /* no memory or no thread: one group at a time, on this one */
            j.cvs = NULL;
        }
        uint32_t stack[MAX_DEPTH][8];
        int depth = 0;
        for (uint64_t done = 0; done < j.groups;) {
            uint32_t *cv = j.cvs ? j.cvs[done] : one;
            if (!j.cvs) group_cv(&im, p + done * group, group, done * GROUP_CHUNKS, 0, cv);
            uint64_t total = ++done;
            while ((total & 1) == 0) {
                parent_cv(stack[--depth], cv, 0, cv);
                total >>= 1;
            }
            memcpy(stack[depth++], cv, 32);
        }
        free(j.cvs);
        size_t at = j.groups * group;
        group_cv(&im, p + at, n - at, (uint64_t)j.groups * GROUP_CHUNKS, 0, res);
        while (depth > 0) {
            depth--;
            parent_cv(stack[depth], res, depth == 0 ? ROOT : 0, res);
        }
    }
    for (int i = 0; i < 8; i++) store32(out + 4 * i, res[i]);
}

void ntg__blake3(const void *data, size_t n, uint8_t out[32])
{
    ntg__blake3_threads(data, n, 2, out);
}
