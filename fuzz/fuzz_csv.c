/* fuzz_csv.c — libFuzzer target: the series CSV reader on arbitrary text (gzip-compressed
 * too), every option. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything a series hands out, checked against its promises: no NaN, names that
 * find their own column, dates and epochs for every row. */
static void exercise(const ntg_series *s)
{
    for (size_t i = 0; i < s->n_rows * s->n_cols; i++)
        if (s->values[i] != s->values[i]) __builtin_trap();
    for (size_t c = 0; c < s->n_cols; c++)
        if (ntg__series_find(s, s->names[c]) != (int)c) __builtin_trap();
    if (s->dates) {
        size_t total = 0;
        for (size_t r = 0; r < s->n_rows; r++) total += strlen(s->dates[r]);
        volatile size_t sink = total;
        (void)sink;
        if (!s->epoch) __builtin_trap();
    }
    /* a ragged panel: each series starts inside the table and has its own dates from there */
    for (size_t c = 0; s->first && c < s->n_cols; c++) {
        if (s->first[c] >= s->n_rows || ntg__series_first(s, c) != s->first[c]) __builtin_trap();
        for (size_t r = s->first[c]; s->col_dates && r < s->n_rows; r++)
            if (!s->col_dates[c * s->n_rows + r]) __builtin_trap();
        ntg_series v;
        ntg__series_column_view(s, c, &v);
        if (v.n_cols != 1 || v.n_rows != s->n_rows - s->first[c]) __builtin_trap();
    }
    /* long format: covariate columns, finite where usable, their problems placed */
    for (size_t x = 0; x < s->n_x; x++) {
        if (!s->xnames[x] || (s->xerr[x] && (!s->xfile || s->xline[x] < 1 || s->xcol[x] < 1)))
            __builtin_trap();
        for (size_t i = 0; !s->xerr[x] && i < s->n_cols * s->n_rows; i++)
            if (s->xvals[x * s->n_cols * s->n_rows + i] != s->xvals[x * s->n_cols * s->n_rows + i])
                __builtin_trap();
    }
    /* the rows before a cutoff (ntgraph cv) keep the layout */
    ntg_series *head = NULL;
    ntg_error herr;
    if (ntg__series_panel_head(s, s->n_rows / 2, &head, &herr) == NTG_OK) {
        if (head->n_rows != s->n_rows / 2 || head->n_x != s->n_x) __builtin_trap();
        for (size_t c = 0; head->first && c < head->n_cols; c++)
            if (head->first[c] > head->n_rows) __builtin_trap();
        ntg__series_free(head);
    }
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return;
    ntg__series_step(s);
    ntg__series_next_date(s, 1, pool);
    ntg__series_next_date(s, -7, pool);
    const char **v = ntg__series_next_dates(s, 1, 3, pool);
    if (v)
        for (int i = 0; i < 3; i++)
            if (strlen(v[i]) == 0) __builtin_trap();
    ntg__pool_destroy(pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fills[] = {NULL, "zero", "ffill", "interpolate"};
    if (size < 1) return 0;
    /* the first byte picks the options; the rest is the file */
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.format = data[0] % 3;
    o.fill = fills[(data[0] / 3) % 4];
    o.dates = (data[0] / 12) % 2 ? "loose" : NULL;
    /* gzip input (the data starting 1f 8b) decompresses under a small cap, so that a bomb
     * the fuzzer builds costs milliseconds; half the time under the default cap */
    if ((data[0] / 24) % 2) o.max_inflated = (size_t)1 << 20;
    /* long files under other column names (--id-col/--date-col/--target) */
    if ((data[0] / 48) % 2) {
        o.id_col = "id";
        o.date_col = "t";
        o.target = "v";
    }
    /* a file of future covariates: the long target column may be absent */
    o.target_optional = (data[0] / 96) % 2;
    ntg_series *s = NULL;
    ntg_error err;
    ntg_status st = ntg__csv_parse((const char *)data + 1, size - 1, "fuzz.csv", &o, &s, &err);
    if (st == NTG_OK)
        exercise(s);
    else if (s != NULL || err.message[0] == '\0')
        __builtin_trap();
    ntg__series_free(s);
    return 0;
}

#ifdef NTG_FUZZ_SEED_MAIN
/* Seed corpus: a few small files (option byte first) written into argv[1]. */
int main(int argc, char **argv)
{
    static const char *const seeds[] = {
        "\x00"
        "date,HUFL,OT\n2016-07-01 00:00:00,5.8,30.5\n2016-07-01 01:00:00,5.7,27.8\n",
        "\x03\xEF\xBB\xBF\"date\",\"a,\"\"b\"\"\",c\r\n2020-01-01,\"1\n2\",3\r\n2020-01-02,,x\r\n",
        "\x02unique_id,ds,y\nA,2020-01,1\nB,2020-01,\nA,2020-02,3\nB,2020-02,4\n",
        "\x09Month,Passengers\n1949-01,112\n1949-02,\n1949-03,132\n",
        /* ragged panels: integer ds (M4's layout), rows out of order; named columns */
        "\x00unique_id,ds,y\nB,7,5\nA,1,1\nA,2,2\nB,5,3\nB,6,4\nA,3,0.5\n",
        "\x30v,id,t\n1,x,2020-01-01 00:00:00\n2,x,2020-01-01 01:00:00\n3,y,2020-01-01 01:00:00\n",
        "\x06"
        "date,v\n1990/1/1 0:00,1\n1990/1/2 0:00,nan\n1990/1/3 0:00,3\n",
        /* long format with covariate columns: text, an empty cell, a bad cell; a future
         * file without the target (target optional: option byte 96) */
        "\x00unique_id,ds,y,temp,note\nA,1,1,0.5,x\nA,2,2,,y\nB,1,3,abc,z\nB,2,4,1e400,w\n",
        "\x66unique_id,ds,promo\nA,2020-01-01 00:00:00,1\nA,2020-01-01 01:00:00,0\n"
        "B,2020-01-01 01:00:00,1\n",
        /* a .csv.gz (gzip -9 of "date,a,b\n2020-01-01,1.5,2\n2020-01-02,-3,4.25\n") */
        "\x00"
        "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\x4b\x49\x2c\x49\xd5\x49\xd4\x49"
        "\xe2\x32\x32\x30\x32\xd0\x35\x30\x04\x22\x1d\x43\x3d\x53\x1d\x23\x84\x80"
        "\x91\x8e\xae\xb1\x8e\x89\x9e\x91\x29\x17\x00\xe6\x1d\x73\x06\x2d\x00\x00"
        "\x00",
    };
    static const size_t gz_len = 55; /* bytes of the gzip seed (it holds NUL bytes) */
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed%zu.csv", argv[1], i);
        FILE *f = argc == 2 ? fopen(path, "wb") : NULL;
        if (!f) {
            fprintf(stderr, "usage: %s CORPUS_DIR (cannot write %s)\n", argv[0], path);
            return 1;
        }
        size_t n = i == sizeof seeds / sizeof seeds[0] - 1 ? 1 + gz_len : 1 + strlen(seeds[i] + 1);
        fwrite(seeds[i], 1, n, f); /* the option byte may be 0 */
        fclose(f);
    }
    return 0;
}
#endif
