/* test_runtime_safetensors.c — safetensors reader and writer (runtime/safetensors.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "testutil.h"

#define NAME "t.safetensors"

/* A file from header text and `dlen` data bytes (0, 1, 2, ...). */
static unsigned char *mk(const char *header, size_t dlen, size_t *size)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < dlen; i++) b[8 + h + i] = (unsigned char)i;
    *size = 8 + h + dlen;
    return b;
}

static void refused_bytes(const unsigned char *b, size_t size, const char *want)
{
    ntg_st_file *f = (ntg_st_file *)1;
    ntg_error err;
    ntg_status st = ntg__st_parse(b, size, NAME, &f, &err);
    cr_assert_eq(st, NTG_ERR_DATA, "accepted (status %d), wanted: %s", st, want);
    cr_assert_null(f);
    cr_assert_eq(err.status, NTG_ERR_DATA);
    cr_assert_str_eq(err.file, NAME);
    cr_assert_str_eq(err.message, want);
}

static void refused(const char *header, size_t dlen, const char *want)
{
    size_t size = 0;
    unsigned char *b = mk(header, dlen, &size);
    refused_bytes(b, size, want);
    free(b);
}

static ntg_st_file *accepted(const char *header, size_t dlen)
{
    size_t size = 0;
    unsigned char *b = mk(header, dlen, &size);
    ntg_st_file *f = NULL;
    ntg_error err;
    ntg_status st = ntg__st_parse(b, size, NAME, &f, &err);
    free(b);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    return f;
}

static double sum_f32(const ntg_st_tensor *t)
{
    double s = 0;
    for (uint64_t i = 0; i < t->nbytes / 4; i++) {
        float v;
        memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
        s += v;
    }
    return s;
}

Test(runtime, safetensors_reads_the_golden_file)
{
    ntg_st_file *f = NULL;
    ntg_error err;
    ntg_status st = ntg__st_load(tu_src("tests/data/nhits_h24_small.safetensors"), &f, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_count(f), 64);
    cr_assert_str_eq(ntg__st_meta(f, "config"), "nhits_h24_small");
    cr_assert_str_eq(ntg__st_meta(f, "torch_version"), "1.13.0a0");
    cr_assert_null(ntg__st_meta(f, "nope"));
    cr_assert_eq(ntg__st_meta_count(f), 11);
    const char *k, *v;
    cr_assert_eq(ntg__st_meta_at(f, 0, &k, &v), NTG_OK);
    cr_assert_str_eq(k, "config");
    cr_assert_eq(ntg__st_meta_at(f, 11, &k, &v), NTG_ERR_RANGE);

    /* data-offset order, as ../shared/peers/read_safetensors prints it */
    cr_assert_str_eq(ntg__st_get(f, 0)->name, "blocks.0.layers.0.weight");
    cr_assert_str_eq(ntg__st_get(f, 30)->name, "x");
    cr_assert_str_eq(ntg__st_get(f, 63)->name, "grad.blocks.2.layers.7.bias");
    cr_assert_null(ntg__st_get(f, 64));

    const ntg_st_tensor *x = ntg__st_find(f, "x");
    cr_assert_not_null(x);
    cr_assert_str_eq(x->dtype, "F32");
    cr_assert_eq(x->dtype_size, 4);
    cr_assert_eq(x->rank, 2);
    cr_assert(x->shape[0] == 4 && x->shape[1] == 96);
    cr_assert_eq(x->nbytes, 1536);
    const ntg_st_tensor *w = ntg__st_find(f, "blocks.0.layers.7.weight");
    cr_assert(w->rank == 2 && w->shape[0] == 102 && w->shape[1] == 64);
    const ntg_st_tensor *loss = ntg__st_find(f, "loss");
    cr_assert(loss->rank == 1 && loss->shape[0] == 1);
    cr_assert_null(ntg__st_find(f, "blocks"));
    cr_assert_null(ntg__st_find(f, "zzz"));

    /* Sums in float64, in storage order, as printed by
     * `cc -O2 ../shared/peers/read_safetensors.c && ./a.out nhits_h24_small.safetensors`
     * (an independent reader): bit-identical when we read the same floats. */
    cr_assert_eq(sum_f32(x), 19.552196866716258);
    cr_assert_eq(sum_f32(ntg__st_find(f, "y")), 11.393238225020468);
    cr_assert_eq(sum_f32(loss), 1.1591596603393555);
    cr_assert_eq(sum_f32(ntg__st_find(f, "blocks.0.layers.0.weight")), -1.7278694175911369);
    cr_assert_eq(sum_f32(ntg__st_find(f, "blocks.2.layers.7.weight")), -3.3827870339155197);
    cr_assert_eq(sum_f32(ntg__st_find(f, "grad.blocks.0.layers.7.weight")), 0.66619691945364701);
    float first;
    memcpy(&first, x->data, 4);
    cr_assert_eq(first, 1.92691529f);
    ntg__st_free(f);
    ntg__st_free(NULL);
}

Test(runtime, safetensors_reads_the_shared_golden_files_when_present)
{
    const char *names[] = {"golden/nhits_h96.safetensors", "golden/lstm_attn_h24.safetensors",
                           "golden/transformer_h24.safetensors"};
    int found = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *p = tu_shared(names[i]);
        if (!p) continue;
        found++;
        ntg_st_file *f = NULL;
        ntg_error err;
        cr_assert_eq(ntg__st_load(p, &f, &err), NTG_OK, "%s", err.message);
        cr_assert_not_null(ntg__st_find(f, "y"));
        cr_assert_not_null(ntg__st_meta(f, "config"));
        ntg__st_free(f);
    }
    if (!found) cr_skip_test("../shared/golden is absent");
}

/* Temporary directory for the writer tests, removed by the caller. */
static char *tmpdir(void)
{
    char *d = strdup("/tmp/ntg_st_XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static char *join(const char *dir, const char *file)
{
    char *p = malloc(strlen(dir) + strlen(file) + 2);
    sprintf(p, "%s/%s", dir, file);
    return p;
}

Test(runtime, safetensors_write_read_round_trip_is_bit_exact)
{
    char *dir = tmpdir();
    char *path = join(dir, "rt.safetensors");
    float a[6] = {1.5f, -0.0f, 3.25e-39f, 1e30f, -7.0f, 0.1f};
    int64_t b[3] = {INT64_MIN, -1, INT64_MAX};
    unsigned char c[5] = {0, 1, 254, 255, 7};
    uint16_t bf[4] = {0x3F80, 0x7FC0, 0xFF80, 0x0001};
    double s = 2.718281828459045;
    int64_t sa[2] = {2, 3}, sb[1] = {3}, sc[3] = {5, 1, 1}, sbf[2] = {2, 2}, sz[2] = {0, 3};
    ntg_st_out t[] = {
        {"a.weight", "F32", 2, sa, a}, {"b", "I64", 1, sb, b},
        {"ü/名前", "U8", 3, sc, c},    {"bf", "BF16", 2, sbf, bf},
        {"empty", "F32", 2, sz, NULL}, {"scalar", "F64", 0, NULL, &s},
    };
    const char *meta[] = {
        "producer", "ntgraph test", "quote\"and\\slash", "line\nbreak \xE2\x82\xAC", "empty", ""};
    ntg_error err;
    cr_assert_eq(ntg__st_write(path, t, 6, meta, 3, &err), NTG_OK, "%s", err.message);

    size_t size = 0;
    unsigned char *bytes = (unsigned char *)tu_read_file(path, &size);
    cr_assert_not_null(bytes);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | bytes[i];
    cr_assert_eq(hlen % 8, 0, "header padded to a multiple of 8");
    cr_assert_eq(memcmp(bytes + 8, "{\"__metadata__\":{\"producer\":\"ntgraph test\"", 42), 0);
    cr_assert_eq(size, 8 + hlen + 24 + 24 + 5 + 8 + 0 + 8);
    /* the data buffer follows the given order */
    cr_assert_eq(memcmp(bytes + 8 + hlen, a, 24), 0);
    free(bytes);

    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_count(f), 6);
    const void *datas[] = {a, b, c, bf, NULL, &s};
    size_t sizes[] = {24, 24, 5, 8, 0, 8};
    for (size_t i = 0; i < 6; i++) {
        const ntg_st_tensor *r = ntg__st_find(f, t[i].name);
        cr_assert_not_null(r, "%s", t[i].name);
        cr_assert_str_eq(r->dtype, t[i].dtype);
        cr_assert_eq(r->rank, t[i].rank);
        for (int d = 0; d < r->rank; d++) cr_assert_eq(r->shape[d], t[i].shape[d]);
        cr_assert_eq(r->nbytes, sizes[i]);
        if (sizes[i]) cr_assert_eq(memcmp(r->data, datas[i], sizes[i]), 0, "%s", t[i].name);
    }
    cr_assert_str_eq(ntg__st_get(f, 0)->name, "a.weight");
    cr_assert_str_eq(ntg__st_get(f, 5)->name, "scalar");
    cr_assert_eq(ntg__st_meta_count(f), 3);
    cr_assert_str_eq(ntg__st_meta(f, "quote\"and\\slash"), "line\nbreak \xE2\x82\xAC");
    cr_assert_str_eq(ntg__st_meta(f, "empty"), "");
    ntg__st_free(f);

    /* no metadata at all: no __metadata__ key */
    cr_assert_eq(ntg__st_write(path, t, 1, NULL, 0, &err), NTG_OK, "%s", err.message);
    bytes = (unsigned char *)tu_read_file(path, &size);
    cr_assert_eq(memcmp(bytes + 8,
                        "{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                        "\"data_offsets\":[0,24]}}",
                        64),
                 0, "%.80s", bytes + 8);
    free(bytes);
    /* and no tensors */
    cr_assert_eq(ntg__st_write(path, NULL, 0, NULL, 0, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__st_count(f), 0);
    ntg__st_free(f);

    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

Test(runtime, safetensors_write_replaces_whole_files)
{
    char *dir = tmpdir();
    char *path = join(dir, "w.safetensors");
    float one[1] = {1}, two[2] = {2, 3};
    int64_t s1[1] = {1}, s2[1] = {2};
    ntg_st_out t1 = {"v", "F32", 1, s1, one}, t2 = {"v", "F32", 1, s2, two};
    ntg_error err;
    cr_assert_eq(ntg__st_write(path, &t1, 1, NULL, 0, &err), NTG_OK);
    cr_assert_eq(ntg__st_write(path, &t2, 1, NULL, 0, &err), NTG_OK);
    ntg_st_file *f = NULL;
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK);
    cr_assert_eq(ntg__st_find(f, "v")->shape[0], 2);
    ntg__st_free(f);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_neq(access(tmp, F_OK), 0, "no temporary file is left behind");

    /* a refused write leaves the old file as it was */
    ntg_st_out badt = {"v", "F31", 1, s1, one};
    cr_assert_eq(ntg__st_write(path, &badt, 1, NULL, 0, &err), NTG_ERR_INVALID_ARG);
    cr_assert_eq(ntg__st_load(path, &f, &err), NTG_OK);
    cr_assert_eq(ntg__st_find(f, "v")->shape[0], 2);
    ntg__st_free(f);

    /* a stale temporary file of ours is never written through */
    FILE *stale = fopen(tmp, "w");
    fclose(stale);
    cr_assert_eq(ntg__st_write(path, &t1, 1, NULL, 0, &err), NTG_ERR_IO);
    char want[700];
    snprintf(want, sizeof want, "%s: cannot create %s: File exists", path, tmp);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(access(tmp, F_OK), 0, "someone else's file is not removed");
    unlink(tmp);

    char *nodir = join(dir, "missing/x.safetensors");
    cr_assert_eq(ntg__st_write(nodir, &t1, 1, NULL, 0, &err), NTG_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create %s.tmp.%ld: No such file or directory", nodir,
             nodir, (long)getpid());
    cr_assert_str_eq(err.message, want);
    free(nodir);

    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void write_refused(const ntg_st_out *t, size_t n, const char *const *meta, size_t n_meta,
                          const char *want)
{
    ntg_error err;
    cr_assert_eq(ntg__st_write("/nonexistent/x.safetensors", t, n, meta, n_meta, &err),
                 NTG_ERR_INVALID_ARG, "wanted: %s", want);
    char full[900];
    snprintf(full, sizeof full, "/nonexistent/x.safetensors: %s", want);
    cr_assert_str_eq(err.message, full);
}

Test(runtime, safetensors_write_checks_its_arguments)
{
    float v[4] = {0};
    int64_t s[2] = {2, 2}, neg[2] = {2, -1}, huge[2] = {INT64_MAX, 4};
    ntg_st_out dup[2] = {{"a", "F32", 2, s, v}, {"a", "F32", 2, s, v}};
    write_refused(dup, 2, NULL, 0, "tensor name 'a' appears twice");
    ntg_st_out t = {"__metadata__", "F32", 2, s, v};
    write_refused(&t, 1, NULL, 0, "'__metadata__' is reserved and cannot name a tensor");
    t = (ntg_st_out){"a", "f32", 2, s, v};
    write_refused(&t, 1, NULL, 0, "tensor 'a': unknown dtype 'f32'");
    t = (ntg_st_out){"a", "F32", 2, neg, v};
    write_refused(&t, 1, NULL, 0, "tensor 'a': negative dimension in shape [2, -1]");
    t = (ntg_st_out){"a", "F32", 9, s, v};
    write_refused(&t, 1, NULL, 0, "tensor 'a': rank 9 is not in 0..8 or has no shape");
    t = (ntg_st_out){"a", "F32", 2, huge, v};
    write_refused(&t, 1, NULL, 0, "tensor 'a': shape [9223372036854775807, 4] of F32 is too large");
    t = (ntg_st_out){"a", "F32", 2, s, NULL};
    write_refused(&t, 1, NULL, 0, "tensor 'a': data is NULL");
    t = (ntg_st_out){"bad\xFF", "F32", 2, s, v};
    write_refused(&t, 1, NULL, 0, "tensor name 'bad\xFF' is not valid UTF-8");
    t = (ntg_st_out){NULL, "F32", 2, s, v};
    write_refused(&t, 1, NULL, 0, "tensor 0 has no name");
    t = (ntg_st_out){"a", "F32", 2, s, v};
    const char *m1[] = {"k", "1", "k", "2"};
    write_refused(&t, 1, m1, 2, "metadata key 'k' appears twice");
    const char *m2[] = {"k", "\xC3"};
    write_refused(&t, 1, m2, 1, "metadata value 0 is not valid UTF-8");
    const char *m3[] = {"k", NULL};
    write_refused(&t, 1, m3, 1, "metadata value 0 is NULL");
}

Test(runtime, safetensors_refuses_bad_lengths)
{
    unsigned char five[5] = {0};
    refused_bytes(five, 5, NAME ": file is 5 bytes, shorter than the 8-byte header length");
    refused_bytes(five, 0, NAME ": file is 0 bytes, shorter than the 8-byte header length");
    unsigned char big[16] = {0x01, 0xE1, 0xF5, 0x05, 0, 0, 0, 0}; /* 100,000,001 */
    refused_bytes(big, 16, NAME ": header length 100000001 is above the limit of 100000000 bytes");
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    refused_bytes(huge, 16,
                  NAME
                  ": header length 18446744073709551615 is above the limit of 100000000 bytes");
    size_t size = 0;
    unsigned char *b = mk("{}", 0, &size);
    b[0] = 64;
    refused_bytes(b, size, NAME ": header length 64 runs past the end of the file (10 bytes)");
    free(b);
}

Test(runtime, safetensors_refuses_bad_headers)
{
    refused("{\"\xFF\":1}", 0, NAME ": header is not valid UTF-8");
    refused("{\"a\":", 0,
            NAME
            ": header is not valid JSON: unexpected end of input, expected a value at byte 13");
    refused("{\"a\":1,}", 0,
            NAME ": header is not valid JSON: unexpected '}', expected a string key at byte 15");
    refused("[]", 0, NAME ": header is an array, not a JSON object");
    refused("5      ", 0, NAME ": header is 5, not a JSON object");
    refused("\"x\"", 0, NAME ": header is a string, not a JSON object");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
            "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
            2, NAME ": header is not valid JSON: duplicate key \"x\" at byte 61");
    refused("{\"__metadata__\":{\"k\":1}}", 0,
            NAME ": __metadata__: value of 'k' is 1, not a string");
    refused("{\"__metadata__\":{\"k\":[\"v\"]}}", 0,
            NAME ": __metadata__: value of 'k' is an array, not a string");
    refused("{\"__metadata__\":[1]}", 0,
            NAME ": __metadata__ is an array, not an object of strings");
    refused("{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0,
            NAME ": __metadata__: key 'k' contains U+0000");
    refused("{\"__metadata__\":{\"k\":\"v\\u0000w\"}}", 0,
            NAME ": __metadata__: value of 'k' contains U+0000");
}

Test(runtime, safetensors_refuses_bad_entries)
{
    refused("{\"x\":5}", 0, NAME ": tensor 'x': entry is 5, not an object");
    refused("{\"x\\u0000y\":{}}", 0, NAME ": tensor name 'x' contains U+0000");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': unknown key 'offsets' (an entry has exactly dtype, shape and "
                 "data_offsets)");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
            NAME ": tensor 'x': missing 'data_offsets'");
    refused("{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': missing 'dtype'");
    refused("{\"x\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': dtype is 4, not a string");
    refused("{\"x\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': unknown dtype 'F33' (known: BOOL, U8, I8, I16, U16, F16, BF16, "
                 "I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2)");
    refused("{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': unknown dtype 'f32' (known: BOOL, U8, I8, I16, U16, F16, BF16, "
                 "I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2)");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16,
            NAME ": tensor 'x': shape is 4, not an array");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': shape[0] is -1, not a non-negative integer");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': shape[1] is 2.5, not a non-negative integer");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': shape[0] is 1e0, not a non-negative integer");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}", 16,
            NAME ": tensor 'x': shape[0] is a string, not a non-negative integer");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': shape[0] is a null, not a non-negative integer");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
            NAME ": tensor 'x': rank 9 is above the supported 8");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
            NAME ": tensor 'x': data_offsets is not an array of two non-negative integers");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
            NAME ": tensor 'x': data_offsets is not an array of two non-negative integers");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
            NAME ": tensor 'x': data_offsets is not an array of two non-negative integers");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{\"a\":0}}}", 1,
            NAME ": tensor 'x': data_offsets is not an array of two non-negative integers");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
            NAME ": tensor 'x': data_offsets [8, 4] end before they begin");
}

Test(runtime, safetensors_refuses_sizes_that_do_not_match)
{
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[4,96],\"data_offsets\":[0,100]}}", 100,
            NAME ": tensor 'x': data_offsets [0, 100] hold 100 bytes, shape [4, 96] of F32 needs "
                 "1536");
    refused("{\"x\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': data_offsets [0, 4] hold 4 bytes, shape [] of F64 needs 8");
    refused("{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,1],\"data_offsets\":[0,4]}}",
            4,
            NAME ": tensor 'x': shape [4611686018427387904, 1] of F32 overflows 64-bit byte "
                 "counts");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
            4,
            NAME ": tensor 'x': shape [4294967296, 4294967296] of U8 overflows 64-bit byte counts");
    refused("{\"x\":{\"dtype\":\"U8\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}", 4,
            NAME ": tensor 'x': shape[0] is 9223372036854775808, not a non-negative integer");
}

Test(runtime, safetensors_refuses_offsets_that_do_not_tile)
{
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
            12,
            NAME
            ": tensor 'b': data_offsets [8, 12] leave a hole after tensor 'a', which ends at 4");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
            8, NAME ": tensor 'b': data_offsets [4, 8] overlap tensor 'a', which ends at 8");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
            4, NAME ": tensor 'b': data_offsets [0, 4] overlap tensor 'a', which ends at 4");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
            NAME ": tensor 'a': data_offsets [4, 8] leave a hole at the start of the data buffer");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 8,
            NAME ": tensors cover 4 bytes, but the data buffer holds 8");
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3,
            NAME ": tensors cover 4 bytes, but the data buffer holds 3");
    refused("{}", 1, NAME ": tensors cover 0 bytes, but the data buffer holds 1");
}

Test(runtime, safetensors_accepts_what_the_crate_accepts)
{
    /* header order is free; tensors come back in data-offset order */
    ntg_st_file *f = accepted("  {\"b\":{\"data_offsets\":[4,8],\"shape\":[2],\"dtype\":\"I16\"},"
                              "\"z\":{\"dtype\":\"BOOL\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                              "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                              "\"__metadata__\":null}   ",
                              8);
    cr_assert_eq(ntg__st_count(f), 3);
    cr_assert_str_eq(ntg__st_get(f, 0)->name, "a");
    cr_assert_str_eq(ntg__st_get(f, 1)->name, "z");
    cr_assert_str_eq(ntg__st_get(f, 2)->name, "b");
    cr_assert_eq(ntg__st_get(f, 0)->rank, 0);
    cr_assert_eq(ntg__st_get(f, 1)->nbytes, 0);
    const ntg_st_tensor *b = ntg__st_find(f, "b");
    cr_assert_eq(b->dtype_size, 2);
    cr_assert_eq(((const unsigned char *)b->data)[0], 4);
    cr_assert_eq(ntg__st_meta_count(f), 0);
    ntg__st_free(f);

    f = accepted("{}", 0);
    cr_assert_eq(ntg__st_count(f), 0);
    cr_assert_null(ntg__st_find(f, "a"));
    ntg__st_free(f);

    static const char *const dtypes[] = {"BOOL", "U8",   "I8",  "I16",     "U16",
                                         "F16",  "BF16", "I32", "U32",     "F32",
                                         "F64",  "I64",  "U64", "F8_E4M3", "F8_E5M2"};
    static const int sizes[] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8, 1, 1};
    for (size_t i = 0; i < 15; i++) {
        char h[128];
        snprintf(h, sizeof h, "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%d]}}",
                 dtypes[i], 3 * sizes[i]);
        f = accepted(h, (size_t)(3 * sizes[i]));
        cr_assert_eq(ntg__st_get(f, 0)->dtype_size, sizes[i], "%s", dtypes[i]);
        cr_assert_eq(ntg__st_dtype_size(dtypes[i]), sizes[i]);
        ntg__st_free(f);
    }
    cr_assert_eq(ntg__st_dtype_size("C64"), 0);
}

Test(runtime, safetensors_load_reports_io_errors)
{
    ntg_st_file *f = (ntg_st_file *)1;
    ntg_error err;
    cr_assert_eq(ntg__st_load("/nonexistent/w.safetensors", &f, &err), NTG_ERR_IO);
    cr_assert_null(f);
    cr_assert_str_eq(err.message,
                     "/nonexistent/w.safetensors: cannot open: No such file or directory");
    cr_assert_eq(ntg__st_load("/tmp", &f, &err), NTG_ERR_IO);
    cr_assert_str_eq(err.message, "/tmp: cannot read: Is a directory");
}

/* Every proper prefix of a valid file is refused, every one-byte change is either
 * refused or read consistently; ASan/UBSan watch the reads. */
Test(runtime, safetensors_refuses_every_truncation)
{
    char *dir = tmpdir();
    char *path = join(dir, "small.safetensors");
    float a[3] = {1, 2, 3};
    int64_t sa[1] = {3}, sb[2] = {1, 2};
    uint16_t h[2] = {1, 2};
    ntg_st_out t[] = {{"a", "F32", 1, sa, a}, {"b", "F16", 2, sb, h}};
    const char *meta[] = {"k", "v"};
    ntg_error err;
    cr_assert_eq(ntg__st_write(path, t, 2, meta, 1, &err), NTG_OK, "%s", err.message);
    size_t size = 0;
    unsigned char *bytes = (unsigned char *)tu_read_file(path, &size);
    cr_assert_not_null(bytes);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    for (size_t n = 0; n < size; n++) {
        /* an exact-size copy so ASan sees any read past the end */
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, bytes, n);
        ntg_st_file *f = NULL;
        cr_assert_eq(ntg__st_parse(cut, n, NAME, &f, &err), NTG_ERR_DATA, "prefix of %zu", n);
        cr_assert_null(f);
        free(cut);
    }
    unsigned char *copy = malloc(size);
    for (size_t i = 0; i < size; i++) {
        static const unsigned char flips[] = {0x00, 0xff, '"', '{', '[', '\\', '9', ' ', 0x80};
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(copy, bytes, size);
            copy[i] = flips[k];
            ntg_st_file *f = NULL;
            ntg_status st = ntg__st_parse(copy, size, NAME, &f, &err);
            cr_assert(st == NTG_OK || st == NTG_ERR_DATA);
            for (size_t j = 0; j < ntg__st_count(f); j++) {
                const ntg_st_tensor *x = ntg__st_get(f, j);
                volatile unsigned char sink = 0;
                for (uint64_t q = 0; q < x->nbytes; q++)
                    sink ^= ((const unsigned char *)x->data)[q];
                (void)sink;
            }
            ntg__st_free(f);
        }
    }
    free(copy);
    free(bytes);
}

Test(runtime, safetensors_parse_copies_the_bytes)
{
    size_t size = 0;
    unsigned char *b =
        mk("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, &size);
    ntg_st_file *f = NULL;
    ntg_error err;
    cr_assert_eq(ntg__st_parse(b, size, NULL, &f, &err), NTG_OK);
    memset(b, 0xAA, size);
    free(b);
    const ntg_st_tensor *t = ntg__st_find(f, "a");
    cr_assert_eq(((const unsigned char *)t->data)[1], 1);
    ntg__st_free(f);
    b = mk("[]", 0, &size);
    cr_assert_eq(ntg__st_parse(b, size, NULL, &f, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message, "<memory>: header is an array, not a JSON object");
    free(b);
}
