/* test_serve_req.c — the request decoder of `ntgraph serve`, and its fuzz seeds replayed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fuzz/fuzz_serve_req.c"
#include "testutil.h"

static ntg_status decode(const char *body, ntg_pool *pool, ntg__serve_req *q, char *msg)
{
    ntg__serve_limits lim = {4, 100};
    return ntg__serve_decode(body, strlen(body), &lim, pool, q, msg, 512);
}

Test(serve, decodes_series_and_timestamps)
{
    ntg_pool *pool = ntg__pool_create();
    ntg__serve_req q;
    char msg[512];
    cr_assert_eq(decode("{\"series\": {\"OT\": [1.5, -2e1], \"HUFL\": [3, 4]}, "
                        "\"timestamps\": [\"2018-01-01 00:00:00\", \"2018-01-01 01:00:00\"]}",
                        pool, &q, msg),
                 NTG_OK, "%s", msg);
    cr_assert_eq(q.n_series, 2);
    cr_assert_str_eq(q.names[0], "OT");
    cr_assert_str_eq(q.names[1], "HUFL");
    cr_assert_eq(q.n_values[0], 2);
    cr_assert_eq(q.values[0][0], 1.5);
    cr_assert_eq(q.values[0][1], -20.0);
    cr_assert_eq(q.n_timestamps, 2);
    cr_assert_str_eq(q.timestamps[1], "2018-01-01 01:00:00");
    cr_assert_null(q.model);
    ntg__pool_destroy(pool);
}

Test(serve, decodes_covariates)
{
    ntg_pool *pool = ntg__pool_create();
    ntg__serve_req q;
    char msg[512];
    cr_assert_eq(decode("{\"series\": {\"OT\": [1, 2]}, \"stat_exog\": {\"area\": 2.5}, "
                        "\"futr_exog\": {\"temp\": [1, 2, 3]}, \"hist_exog\": {\"HUFL\": [0.5, "
                        "-1]}}",
                        pool, &q, msg),
                 NTG_OK, "%s", msg);
    /* hist first, then futr, then stat, whatever the order in the body */
    cr_assert_eq(q.n_cov, 3);
    cr_assert_str_eq(q.cov_names[0], "HUFL");
    cr_assert_eq(q.cov_kind[0], NTG__SERVE_HIST);
    cr_assert_eq(q.cov_n[0], 2);
    cr_assert_eq(q.cov_values[0][1], -1.0);
    cr_assert_str_eq(q.cov_names[1], "temp");
    cr_assert_eq(q.cov_kind[1], NTG__SERVE_FUTR);
    cr_assert_eq(q.cov_n[1], 3);
    cr_assert_str_eq(q.cov_names[2], "area");
    cr_assert_eq(q.cov_kind[2], NTG__SERVE_STAT);
    cr_assert_eq(q.cov_n[2], 1);
    cr_assert_eq(q.cov_values[2][0], 2.5);
    ntg__pool_destroy(pool);
    pool = ntg__pool_create();
    cr_assert_eq(decode("{\"series\": {\"OT\": [1]}}", pool, &q, msg), NTG_OK, "%s", msg);
    cr_assert_eq(q.n_cov, 0);
    ntg__pool_destroy(pool);
}

Test(serve, refuses_bad_bodies_naming_the_problem)
{
    static const char *const cases[][2] = {
        {"", "empty body"},
        {"{\"series\": {\"OT\": [1, 2]", "invalid JSON at byte"},
        {"{\"series\": {\"OT\": [1, NaN]}}", "NaN and Infinity are not JSON"},
        {"{\"series\": {\"OT\": [1, -Infinity]}}", "NaN and Infinity are not JSON"},
        {"{\"series\": {\"OT\": [1, null]}}", "series 'OT' value 2 is null"},
        {"{\"series\": {\"OT\": [1e400]}}", "invalid JSON"},
        {"{\"series\": {\"OT\": [1, \"2\"]}}", "series 'OT' value 2 is not a number"},
        {"[1, 2]", "the body is a JSON array"},
        {"{}", "missing member \"series\""},
        {"{\"series\": {}}", "\"series\" is empty"},
        {"{\"series\": [1, 2]}", "\"series\" must be an object of arrays (got: array)"},
        {"{\"series\": {\"OT\": 3}}", "series 'OT' is not an array"},
        {"{\"series\": {\"OT\": []}}", "series 'OT' has no values"},
        {"{\"series\": {\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1]}}",
         "too many series: 5 (at most 4 per request)"},
        {"{\"series\": {\"OT\": [1]}, \"horizon\": 3}", "unknown member 'horizon'"},
        {"{\"series\": {\"OT\": [1], \"OT\": [2]}}", "duplicate"},
        {"{\"series\": {\"OT\": [1]}, \"timestamps\": [1]}",
         "\"timestamps\" entry 1 is not a string"},
        {"{\"series\": {\"OT\": [1]}, \"model\": 7}", "\"model\" must be a string"},
        {"{\"series\": {\"OT\": [1]}, \"futr_exog\": [1]}",
         "\"futr_exog\" must be an object {NAME: [numbers]} (got: array)"},
        {"{\"series\": {\"OT\": [1]}, \"hist_exog\": {\"t\": [1, \"2\"]}}",
         "\"hist_exog\" 't' value 2 is not a number: values must be finite numbers"},
        {"{\"series\": {\"OT\": [1]}, \"hist_exog\": {\"t\": [1, null]}}",
         "\"hist_exog\" 't' value 2 is null (NaN or infinite?)"},
        {"{\"series\": {\"OT\": [1]}, \"futr_exog\": {\"t\": []}}",
         "\"futr_exog\" 't' has no values"},
        {"{\"series\": {\"OT\": [1]}, \"stat_exog\": {\"area\": [2]}}",
         "\"stat_exog\" 'area' must be a finite number"},
        {"{\"series\": {\"OT\": [1]}, \"hist_exog\": {\"a\": [1]}, \"futr_exog\": {\"a\": [1]}}",
         "\"futr_exog\" 'a': a covariate of that name is given twice"},
        {"{\"series\": {\"OT\": [1]}, \"stat_exog\": {\"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1, "
         "\"e\": 1}}",
         "\"stat_exog\" has 5 members (at most 4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ntg_pool *pool = ntg__pool_create();
        ntg__serve_req q;
        char msg[512];
        cr_assert_eq(decode(cases[i][0], pool, &q, msg), NTG_ERR_PARSE, "case %zu accepted", i);
        cr_assert(strstr(msg, cases[i][1]), "case %zu: '%s' lacks '%s'", i, msg, cases[i][1]);
        ntg__pool_destroy(pool);
    }
    /* over the value limit */
    char big[2048] = "{\"series\": {\"OT\": [0";
    for (int i = 1; i < 101; i++) strcat(big, ",0");
    strcat(big, "]}}");
    ntg_pool *pool = ntg__pool_create();
    ntg__serve_req q;
    char msg[512];
    cr_assert_eq(decode(big, pool, &q, msg), NTG_ERR_PARSE);
    cr_assert(strstr(msg, "series 'OT' has 101 values (at most 100)"), "%s", msg);
    ntg__pool_destroy(pool);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

Test(serve, the_fuzz_seed_corpus_replays_and_survives_mutations)
{
    char dir[] = "/tmp/ntg-serve-seeds-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(ntg_fuzz_serve_seeds(dir), 12);
    DIR *d = opendir(dir);
    struct dirent *de;
    int replayed = 0;
    uint64_t x = 88172645463325252ull;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t n;
        unsigned char *b = read_all(path, &n);
        LLVMFuzzerTestOneInput(b, n);
        for (size_t k = 0; k < n; k++) LLVMFuzzerTestOneInput(b, k);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                b[i] ^= (unsigned char)(1u << bit);
                LLVMFuzzerTestOneInput(b, n);
                b[i] ^= (unsigned char)(1u << bit);
            }
        for (int r = 0; r < 2000; r++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            unsigned char save = b[x % n];
            b[x % n] = (unsigned char)(x >> 24);
            LLVMFuzzerTestOneInput(b, n);
            b[x % n] = save;
        }
        free(b);
        remove(path);
        replayed++;
    }
    closedir(d);
    rmdir(dir);
    cr_assert_eq(replayed, 12);
}
