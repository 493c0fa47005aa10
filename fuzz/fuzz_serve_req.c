/* fuzz_serve_req.c — libFuzzer target: the request decoder of `ntgraph serve`. */
/* NTG_FUZZ_EXTRA_SOURCES: serve/serve_req.c */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../serve/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whatever the decoder accepts must hold what its contract promises: names that are C
 * strings, finite values within the limits, and an error message whenever it refuses. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return 0;
    ntg__serve_limits lim = {16, 512};
    ntg__serve_req q;
    char msg[512];
    ntg_status st = ntg__serve_decode((const char *)data, size, &lim, pool, &q, msg, sizeof msg);
    if (st == NTG_OK) {
        if (q.n_series < 1 || q.n_series > lim.max_series) __builtin_trap();
        for (size_t i = 0; i < q.n_series; i++) {
            if (!q.names[i] || !q.names[i][0]) __builtin_trap();
            if (q.n_values[i] < 1 || q.n_values[i] > lim.max_values) __builtin_trap();
            for (size_t j = 0; j < q.n_values[i]; j++)
                if (!isfinite(q.values[i][j])) __builtin_trap();
        }
        for (size_t j = 0; j < q.n_timestamps; j++)
            if (!q.timestamps[j]) __builtin_trap();
        if (q.n_cov > 3 * lim.max_series) __builtin_trap();
        for (size_t i = 0; i < q.n_cov; i++) {
            if (!q.cov_names[i] || !q.cov_names[i][0]) __builtin_trap();
            if (q.cov_kind[i] < NTG__SERVE_HIST || q.cov_kind[i] > NTG__SERVE_STAT)
                __builtin_trap();
            if (q.cov_n[i] < 1 || q.cov_n[i] > lim.max_values) __builtin_trap();
            if (q.cov_kind[i] == NTG__SERVE_STAT && q.cov_n[i] != 1) __builtin_trap();
            for (size_t j = 0; j < q.cov_n[i]; j++)
                if (!isfinite(q.cov_values[i][j])) __builtin_trap();
            for (size_t j = 0; j < i; j++)
                if (strcmp(q.cov_names[i], q.cov_names[j]) == 0) __builtin_trap();
        }
    } else if (st == NTG_ERR_PARSE && msg[0] == 0) {
        __builtin_trap();
    }
    ntg__pool_destroy(pool);
    return 0;
}

/* Seeds: requests the service takes, and near misses of each kind it refuses. */
static const char *const serve_seeds[][2] = {
    {"forecast", "{\"series\": {\"OT\": [1.5, 2, -3e2, 4.25]}}"},
    {"two_series", "{\"series\": {\"OT\": [1, 2, 3], \"HUFL\": [0.5, 0.25, 0.125]}}"},
    {"timestamps", "{\"series\": {\"OT\": [1, 2]}, \"timestamps\": [\"2018-06-26 18:00:00\", "
                   "\"2018-06-26 19:00:00\"]}"},
    {"observe", "{\"model\": \"nh@champion\", \"series\": {\"OT\": [9.5]}}"},
    {"nan", "{\"series\": {\"OT\": [1, NaN, 3]}}"},
    {"null", "{\"series\": {\"OT\": [1, null, 3]}}"},
    {"overflow", "{\"series\": {\"OT\": [1e400]}}"},
    {"duplicate", "{\"series\": {\"OT\": [1], \"OT\": [2]}}"},
    {"unknown_member", "{\"series\": {\"OT\": [1]}, \"horizon\": 3}"},
    {"escaped_name", "{\"series\": {\"O\\u0000T\": [1], \"\\u00e9t\\u00e9\": [2]}}"},
    {"covariates", "{\"series\": {\"OT\": [1, 2]}, \"hist_exog\": {\"HUFL\": [0.5, 1]}, "
                   "\"futr_exog\": {\"temp\": [1, 2, 3], \"load\": [4, 5, 6]}, "
                   "\"stat_exog\": {\"area\": 2.5}}"},
    {"covariate_twice", "{\"series\": {\"OT\": [1]}, \"hist_exog\": {\"a\": [1]}, "
                        "\"stat_exog\": {\"a\": [1]}}"},
};

int ntg_fuzz_serve_seeds(const char *dir);
int ntg_fuzz_serve_seeds(const char *dir)
{
    int n = 0;
    for (size_t i = 0; i < sizeof serve_seeds / sizeof serve_seeds[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.json", dir, serve_seeds[i][0]);
        FILE *f = fopen(path, "wb");
        if (!f) return -1;
        size_t len = strlen(serve_seeds[i][1]);
        int bad = fwrite(serve_seeds[i][1], 1, len, f) != len;
        if (fclose(f) != 0 || bad) return -1;
        n++;
    }
    return n;
}

#ifdef NTG_FUZZ_SEED_MAIN
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    return ntg_fuzz_serve_seeds(argv[1]) < 0 ? 1 : 0;
}
#endif
