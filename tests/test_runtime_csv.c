/* test_runtime_csv.c — series CSV reader, fills and dates (runtime/csv.c, runtime/dates.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "testutil.h"

#define NAME "t.csv"

static ntg_series *parse_opts(const char *text, int format, const char *fill)
{
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.format = format;
    o.fill = fill;
    ntg_series *s = NULL;
    ntg_error err;
    ntg_status st = ntg__csv_parse(text, strlen(text), NAME, &o, &s, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_not_null(s);
    return s;
}

static ntg_series *parse(const char *text)
{
    return parse_opts(text, 0, NULL);
}

/* With --dates loose: the date column as written (the parser's and next_date's own
 * answers for dates a strict read refuses). */
static ntg_series *parse_loose(const char *text)
{
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.dates = "loose";
    ntg_series *s = NULL;
    ntg_error err;
    ntg_status st = ntg__csv_parse(text, strlen(text), NAME, &o, &s, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_not_null(s);
    return s;
}

/* Refused with `status`, the exact message, and the place in err. */
static void refused_opts(const char *text, int format, const char *fill, ntg_status status,
                         int line, int col, const char *want)
{
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.format = format;
    o.fill = fill;
    ntg_series *s = (ntg_series *)1;
    ntg_error err;
    ntg_status st = ntg__csv_parse(text, strlen(text), NAME, &o, &s, &err);
    cr_assert_eq(st, status, "status %d (%s), wanted: %s", st, st ? err.message : "ok", want);
    cr_assert_null(s);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(err.line, line, "line %d for %s", err.line, want);
    cr_assert_eq(err.column, col, "column %d for %s", err.column, want);
    cr_assert_str_eq(err.file, NAME);
}

static void refused(const char *text, ntg_status status, int line, int col, const char *want)
{
    refused_opts(text, 0, NULL, status, line, col, want);
}

static double at(const ntg_series *s, size_t c, size_t r)
{
    cr_assert(c < s->n_cols && r < s->n_rows);
    return s->values[c * s->n_rows + r];
}

Test(runtime, csv_reads_etth1)
{
    ntg_series *s = NULL;
    ntg_error err;
    ntg_status st = ntg__csv_read(tu_src("data/ETTh1.csv"), NULL, &s, &err);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_eq(s->n_rows, 17420);
    cr_assert_eq(s->n_cols, 7);
    const char *names[] = {"HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"};
    for (size_t c = 0; c < 7; c++) cr_assert_str_eq(s->names[c], names[c]);
    cr_assert_str_eq(s->date_name, "date");
    cr_assert_str_eq(s->dates[0], "2016-07-01 00:00:00");
    cr_assert_str_eq(s->dates[17419], "2018-06-26 19:00:00");
    /* cells as strtod reads the text of the file */
    cr_assert_eq(at(s, 0, 0), 5.827000141143799);
    cr_assert_eq(at(s, 1, 0), 2.009000062942505);
    cr_assert_eq(at(s, 6, 0), 30.5310001373291);
    cr_assert_eq(at(s, 2, 1), 1.4919999837875366);
    cr_assert_eq(at(s, 0, 17419), 10.11400032043457);
    cr_assert_eq(at(s, 6, 17419), 9.56700038909912);
    cr_assert_eq(s->epoch[0], 1467331200);
    cr_assert_eq(s->epoch[17419] - s->epoch[0], 17419 * 3600);
    cr_assert_eq(ntg__series_step(s), 3600);
    cr_assert_eq(ntg__series_find(s, "OT"), 6);
    cr_assert_eq(ntg__series_find(s, "date"), -1);
    cr_assert_eq(ntg__series_find(s, "ot"), -1);
    cr_assert_str_eq(ntg__series_next_date(s, 1, s->pool), "2018-06-26 20:00:00");
    cr_assert_str_eq(ntg__series_next_date(s, 96, s->pool), "2018-06-30 19:00:00");
    cr_assert_str_eq(ntg__series_next_date(s, 0, s->pool), "2018-06-26 19:00:00");
    cr_assert_str_eq(ntg__series_next_date(s, -17419, s->pool), "2016-07-01 00:00:00");
    const char **v = ntg__series_next_dates(s, 1, 48, s->pool);
    cr_assert_not_null(v);
    for (int i = 0; i < 48; i++) cr_assert_str_eq(v[i], ntg__series_next_date(s, i + 1, s->pool));
    ntg__series_free(s);
    ntg__series_free(NULL);
}

Test(runtime, csv_reads_weather_when_present)
{
    const char *gz = tu_shared("data/weather.csv.gz");
    if (!gz) cr_skip_test("../shared/data/weather.csv.gz is absent");
    char tmp[] = "/tmp/ntg_weather_XXXXXX";
    int fd = mkstemp(tmp);
    cr_assert_geq(fd, 0);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", gz);
    FILE *in = popen(cmd, "r");
    FILE *out = fdopen(fd, "wb");
    cr_assert(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    int rc = pclose(in);
    fclose(out);
    if (rc != 0) {
        unlink(tmp);
        cr_skip_test("gzip could not unpack weather.csv.gz");
    }
    ntg_series *s = NULL;
    ntg_error err;
    /* the benchmark file lists 2020-05-12 06:00:00 twice (lines 19045 and 19046): a strict
     * read says so, a loose one takes the file as the literature does (by rows) */
    ntg_status st = ntg__csv_read(tmp, NULL, &s, &err);
    cr_assert_eq(st, NTG_ERR_DATA);
    cr_assert_eq(err.line, 19046, "%s", err.message);
    cr_assert(strstr(err.message, "'2020-05-12 06:00:00' repeats the date '2020-05-12 06:00:00' "
                                  "on line 19045"),
              "%s", err.message);
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.dates = "loose";
    st = ntg__csv_read(tmp, &o, &s, &err);
    unlink(tmp);
    cr_assert_eq(st, NTG_OK, "%s", err.message);
    cr_assert_eq(s->n_rows, 52696);
    cr_assert_eq(s->n_cols, 21);
    cr_assert_str_eq(s->names[0], "p (mbar)");
    cr_assert_str_eq(s->names[16], "SWDR (W/m\xEF\xBF\xBD)");
    cr_assert_str_eq(s->names[17], "PAR (\xEF\xBF\xBDmol/m\xEF\xBF\xBD/s)");
    cr_assert_str_eq(s->names[20], "OT", "CRLF is not part of the last name");
    cr_assert_str_eq(s->dates[0], "2020-01-01 00:10:00");
    cr_assert_eq(s->epoch[0], 1577837400);
    cr_assert_eq(at(s, 0, 0), 1008.89);
    cr_assert_eq(at(s, 20, 0), 428.1);
    cr_assert_eq(at(s, 0, 52695), 978.24);
    cr_assert_eq(at(s, 20, 52695), 436.5);
    cr_assert_eq(ntg__series_step(s), 600);
    cr_assert_str_eq(ntg__series_next_date(s, 1, s->pool), "2021-01-01 00:10:00");
    ntg__series_free(s);
}

Test(runtime, csv_reads_fixture_files)
{
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_read(tu_src("tests/data/series_small.csv"), NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(s->n_rows, 3);
    cr_assert_str_eq(s->names[0], "load, MW");
    cr_assert_str_eq(s->names[1], "temp \"C\"");
    cr_assert_eq(at(s, 0, 2), 12.25);
    cr_assert_eq(at(s, 1, 0), -1.25);
    cr_assert_eq(at(s, 1, 2), -2.0);
    ntg__series_free(s);

    cr_assert_eq(ntg__csv_read(tu_src("tests/data/series_long.csv"), NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(s->n_cols, 2);
    cr_assert_eq(s->n_rows, 3);
    cr_assert_str_eq(s->names[1], "H2");
    cr_assert_eq(at(s, 1, 2), 30.0);
    cr_assert_str_eq(ntg__series_next_date(s, 1, s->pool), "2021-03-04");
    ntg__series_free(s);

    s = (ntg_series *)1;
    cr_assert_eq(ntg__csv_read("/nonexistent/x.csv", NULL, &s, &err), NTG_ERR_IO);
    cr_assert_null(s);
    cr_assert_str_eq(err.message, "/nonexistent/x.csv: cannot open: No such file or directory");
}

Test(runtime, csv_quoted_fields_follow_rfc4180)
{
    ntg_series *s = parse("\"date\",\"a,b\",\"q\"\"x\"\n2020-01-01,\"1.5\",\" 2 \"\n"
                          "\"2020-01-02\",3,\"4\"\n");
    cr_assert_eq(s->n_cols, 2);
    cr_assert_str_eq(s->date_name, "date");
    cr_assert_str_eq(s->names[0], "a,b");
    cr_assert_str_eq(s->names[1], "q\"x");
    cr_assert_str_eq(s->dates[1], "2020-01-02");
    cr_assert(at(s, 0, 0) == 1.5 && at(s, 1, 0) == 2 && at(s, 0, 1) == 3 && at(s, 1, 1) == 4);
    ntg__series_free(s);

    /* a line break inside quotes: later lines are numbered physically */
    refused("date,\"multi\nline\"\n2020-01-01,1\n2020-01-02,x\n", NTG_ERR_DATA, 4, 2,
            NAME ":4:2: column 'multi\nline': 'x' is not a number");
    s = parse_opts("date,v\n2020-01-01,\"\"\n2020-01-02,\"7\"\n", 0, "zero");
    cr_assert(at(s, 0, 0) == 0 && at(s, 0, 1) == 7, "a quoted empty cell is empty");
    ntg__series_free(s);
}

Test(runtime, csv_line_ends_bom_and_blank_lines)
{
    ntg_series *s = parse("\xEF\xBB\xBF"
                          "date,v\r\n\r\n2020-01-01,1\r\n2020-01-02,2\r\n\r\n");
    cr_assert_eq(s->n_rows, 2);
    cr_assert_str_eq(s->date_name, "date", "the BOM is not part of the first name");
    cr_assert_str_eq(s->names[0], "v");
    cr_assert_str_eq(s->dates[1], "2020-01-02");
    cr_assert_eq(at(s, 0, 1), 2.0);
    ntg__series_free(s);

    s = parse("x,y\n1,2");
    cr_assert_eq(s->n_rows, 1, "the last line needs no line end");
    cr_assert_null(s->dates);
    cr_assert_null(s->epoch);
    cr_assert_null(s->date_name);
    cr_assert_eq(at(s, 1, 0), 2.0);
    ntg__series_free(s);

    /* lone CRs end lines too; blank lines count */
    refused("date,v\r2020-01-01,1\r\r2020-01-02,x\r", NTG_ERR_DATA, 4, 2,
            NAME ":4:2: column 'v': 'x' is not a number");
    refused("date,v\r\n2020-01-01,1\r\n\r\n2020-01-02,\r\n", NTG_ERR_DATA, 4, 2,
            NAME ":4:2: column 'v': empty cell (use --fill zero|ffill|interpolate)");
}

Test(runtime, csv_cells_are_numbers_or_missing)
{
    ntg_series *s = parse("date,v\n2020-01-01, 1.5 \n2020-01-02,+2\n2020-01-03,-.5\n"
                          "2020-01-04,5.\n2020-01-05,1e3\n2020-01-06,\t1E-3\t\n"
                          "2020-01-07,-0\n");
    double want[] = {1.5, 2, -0.5, 5, 1000, 1e-3, 0};
    for (size_t r = 0; r < 7; r++) cr_assert_eq(at(s, 0, r), want[r], "row %zu", r);
    ntg__series_free(s);

    const char *junk[] = {"abc", "nan", "NaN", "inf", "-inf", "Infinity", "0x10",    "1.5.2",
                          "1e",  "e5",  ".",   "-",   "1 2",  "1_000",    "\xC3\xA9"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char text[64], want_msg[128];
        snprintf(text, sizeof text, "date,a\n2020-01-01,%s\n", junk[i]);
        snprintf(want_msg, sizeof want_msg, NAME ":2:2: column 'a': '%s' is not a number", junk[i]);
        refused(text, NTG_ERR_DATA, 2, 2, want_msg);
    }
    refused("date,a\n2020-01-01, inf \n", NTG_ERR_DATA, 2, 2,
            NAME ":2:2: column 'a': 'inf' is not a number");
    refused("date,a\n2020-01-01,1e999\n", NTG_ERR_DATA, 2, 2,
            NAME ":2:2: column 'a': '1e999' is out of the range of a double");
    refused("date,a\n2020-01-01,   \n", NTG_ERR_DATA, 2, 2,
            NAME ":2:2: column 'a': empty cell (use --fill zero|ffill|interpolate)");
    refused_opts("date,a\n2020-01-01,\"\"\n", 0, "error", NTG_ERR_DATA, 2, 2,
                 NAME ":2:2: column 'a': empty cell (use --fill zero|ffill|interpolate)");
}

static const char *const gappy = "date,a,b\n"
                                 "2020-01-01,1,\n"
                                 "2020-01-02,,5\n"
                                 "2020-01-03,nan,\n"
                                 "2020-01-04,4,x\n"
                                 "2020-01-05, inf ,7\n";

Test(runtime, csv_fill_modes)
{
    refused(gappy, NTG_ERR_DATA, 2, 3,
            NAME ":2:3: column 'b': empty cell (use --fill zero|ffill|interpolate)");

    ntg_series *s = parse_opts(gappy, 0, "zero");
    double za[] = {1, 0, 0, 4, 0}, zb[] = {0, 5, 0, 0, 7};
    for (size_t r = 0; r < 5; r++) cr_assert(at(s, 0, r) == za[r] && at(s, 1, r) == zb[r]);
    ntg__series_free(s);

    s = parse_opts(gappy, 0, "interpolate");
    double ia[] = {1, 2, 3, 4, 4};
    double ib[] = {5, 5, 5 + 2 * (1.0 / 3.0), 5 + 2 * (2.0 / 3.0), 7};
    for (size_t r = 0; r < 5; r++) {
        cr_assert_eq(at(s, 0, r), ia[r], "a[%zu] = %g", r, at(s, 0, r));
        cr_assert_eq(at(s, 1, r), ib[r], "b[%zu] = %.17g", r, at(s, 1, r));
    }
    ntg__series_free(s);

    refused_opts(gappy, 0, "ffill", NTG_ERR_DATA, 2, 3,
                 NAME ":2:3: column 'b': the column starts with a missing cell and ffill has no "
                      "earlier value");
    s = parse_opts("date,a\n2020-01-01,1\n2020-01-02,\n2020-01-03,x\n2020-01-04,4\n"
                   "2020-01-05,\n",
                   0, "ffill");
    double fa[] = {1, 1, 1, 4, 4};
    for (size_t r = 0; r < 5; r++) cr_assert_eq(at(s, 0, r), fa[r]);
    ntg__series_free(s);

    const char *empty = "date,a\n2020-01-01,\n2020-01-02,\n";
    refused_opts(empty, 0, "interpolate", NTG_ERR_DATA, 2, 2,
                 NAME ":2:2: column 'a': no numeric cell to interpolate from");
    refused_opts(empty, 0, "ffill", NTG_ERR_DATA, 2, 2,
                 NAME ":2:2: column 'a': no numeric cell to carry forward from");
    s = parse_opts(empty, 0, "zero");
    cr_assert(at(s, 0, 0) == 0 && at(s, 0, 1) == 0);
    ntg__series_free(s);

    refused_opts(gappy, 0, "mean", NTG_ERR_INVALID_ARG, 0, 0,
                 NAME ": unknown fill 'mean' (expected error, zero, ffill or interpolate)");
    refused_opts(gappy, 3, NULL, NTG_ERR_INVALID_ARG, 0, 0,
                 NAME ": unknown CSV format 3 (0 auto, 1 wide, 2 long)");
}

Test(runtime, csv_long_format_groups_series)
{
    const char *text = "unique_id,ds,y\n"
                       "A,2020-01-01,1\n"
                       "B,2020-01-01,10\n"
                       "A,2020-01-02,2\n"
                       "B,2020-01-02,20\n"
                       "C,2020-01-01,100\n"
                       "C,2020-01-02,200\n";
    ntg_series *s = parse(text);
    cr_assert_eq(s->n_cols, 3);
    cr_assert_eq(s->n_rows, 2);
    cr_assert_str_eq(s->names[0], "A");
    cr_assert_str_eq(s->names[1], "B");
    cr_assert_str_eq(s->names[2], "C");
    cr_assert_str_eq(s->date_name, "ds");
    cr_assert_str_eq(s->dates[1], "2020-01-02");
    cr_assert(at(s, 0, 1) == 2 && at(s, 1, 0) == 10 && at(s, 2, 1) == 200);
    cr_assert_eq(ntg__series_step(s), 86400);
    cr_assert_eq(ntg__series_find(s, "C"), 2);
    ntg__series_free(s);

    s = parse_opts("extra,y,ds,unique_id\nq,1,1,x\nq,2,2,x\n", 2, NULL);
    cr_assert_eq(s->n_cols, 1);
    cr_assert_str_eq(s->names[0], "x");
    cr_assert_eq(at(s, 0, 1), 2);
    cr_assert_str_eq(s->dates[1], "2");
    cr_assert_eq(s->epoch[1], INT64_MIN, "integer ds are kept as text, not dates");
    ntg__series_free(s);

    /* forced wide: unique_id holds text, so it is the date column */
    refused_opts(text, 1, NULL, NTG_ERR_DATA, 2, 2,
                 NAME ":2:2: column 'ds': '2020-01-01' is not a number");
    refused_opts("date,y\n", 2, NULL, NTG_ERR_PARSE, 1, 0,
                 NAME ":1: long format needs columns unique_id, ds and y; the header lacks "
                      "'unique_id'");
    /* integer ds: sorted per series; a gap is refused at its row */
    refused("unique_id,ds,y\nA,1,1\nA,2,2\nB,1,3\nB,3,4\n", NTG_ERR_DATA, 5, 2,
            NAME ":5:2: series 'B': ds '3' follows '1' (line 4) by 2, but the panel's step is 1: "
                 "a gap or an irregular step (missing rows are not filled: add them)");
    /* labels (not integers, not time stamps) still need the same ds in the same order */
    refused("unique_id,ds,y\nA,a,1\nA,b,2\nB,a,3\nB,c,4\n", NTG_ERR_DATA, 5, 2,
            NAME ":5:2: series 'B': ds 'c' where series 'A' has 'b' (line 3); every series needs "
                 "the same ds values in the same order");
    refused("unique_id,ds,y\nA,a,1\nA,b,2\nB,a,3\n", NTG_ERR_DATA, 4, 0,
            NAME ":4: series 'B' ends after 1 row; series 'A' has 2 (next ds 'b')");
    refused("unique_id,ds,y\nA,a,1\nB,a,3\nB,b,4\n", NTG_ERR_DATA, 4, 2,
            NAME ":4:2: series 'B' has more rows than series 'A' (1): ds 'b' is extra");
    refused("unique_id,ds,y\n,1,1\n", NTG_ERR_DATA, 2, 1,
            NAME ":2:1: unique_id must be non-empty UTF-8 text without NUL bytes");
    refused("unique_id,ds,y\nA,1,\n", NTG_ERR_DATA, 2, 3,
            NAME ":2:3: column 'y' (series 'A'): empty cell (use --fill zero|ffill|interpolate)");

    const char *gaps = "unique_id,ds,y\nA,1,1\nB,1,\nA,2,\nB,2,4\nA,3,3\nB,3,\n";
    s = parse_opts(gaps, 0, "interpolate");
    cr_assert(at(s, 0, 0) == 1 && at(s, 0, 1) == 2 && at(s, 0, 2) == 3);
    cr_assert(at(s, 1, 0) == 4 && at(s, 1, 1) == 4 && at(s, 1, 2) == 4);
    ntg__series_free(s);
    refused_opts(gaps, 0, "ffill", NTG_ERR_DATA, 3, 3,
                 NAME ":3:3: column 'y' (series 'B'): the column starts with a missing cell and "
                      "ffill has no earlier value");
}

Test(runtime, csv_refuses_malformed_files)
{
    refused("", NTG_ERR_PARSE, 0, 0, NAME ": no header line (the file is empty)");
    refused("\n\r\n", NTG_ERR_PARSE, 0, 0, NAME ": no header line (the file is empty)");
    refused("\xEF\xBB\xBF", NTG_ERR_PARSE, 0, 0, NAME ": no header line (the file is empty)");
    refused("date,a\n2020-01-01,1\n2020-01-02\n", NTG_ERR_PARSE, 3, 0,
            NAME ":3: row has 1 field, the header has 2");
    refused("date,a\n2020-01-01,1,2\n", NTG_ERR_PARSE, 2, 0,
            NAME ":2: row has 3 fields, the header has 2");
    refused("date,a\n2020-01-01,1,\n", NTG_ERR_PARSE, 2, 0,
            NAME ":2: row has 3 fields, the header has 2");
    refused("date,a\n2020-01-01,\"1\n", NTG_ERR_PARSE, 2, 2,
            NAME ":2:2: quoted field has no closing quote");
    refused("date,a\n2020-01-01,\"1\"x\n", NTG_ERR_PARSE, 2, 2,
            NAME ":2:2: 'x' after the closing quote (expected ',' or the end of the line)");
    refused("date,a\n2020-01-01,\"1\" \n", NTG_ERR_PARSE, 2, 2,
            NAME ":2:2: ' ' after the closing quote (expected ',' or the end of the line)");
    refused("date,a\n2020-01-01,1\"2\n", NTG_ERR_PARSE, 2, 2,
            NAME ":2:2: quote inside an unquoted field (quote the whole field and double the "
                 "quotes in it)");
    refused("date,a\xFF\n", NTG_ERR_PARSE, 1, 2,
            NAME ":1:2: the name of column 2 is not valid UTF-8 text");
    refused("date,a,a\n", NTG_ERR_PARSE, 1, 3, NAME ":1:3: column name 'a' repeats column 2");
    refused("date,b,a,c,b,a\n", NTG_ERR_PARSE, 1, 5, NAME ":1:5: column name 'b' repeats column 2");
    {
        /* many columns: the sorted check names the earliest repeat too */
        char text[8192];
        size_t k = (size_t)snprintf(text, sizeof text, "date");
        for (int i = 0; i < 500; i++) k += (size_t)snprintf(text + k, sizeof text - k, ",c%d", i);
        k += (size_t)snprintf(text + k, sizeof text - k, ",c7,c3\n");
        refused(text, NTG_ERR_PARSE, 1, 502, NAME ":1:502: column name 'c7' repeats column 9");
    }
    refused("date,,b\n", NTG_ERR_PARSE, 1, 2, NAME ":1:2: column 2 has an empty name");
    refused("date\n2020-01-01\n", NTG_ERR_PARSE, 1, 1,
            NAME ":1:1: no value columns: the only column, 'date', holds dates");
    refused("\n\ndate\n", NTG_ERR_PARSE, 3, 1,
            NAME ":3:1: no value columns: the only column, 'date', holds dates");
}

Test(runtime, csv_finds_the_date_column)
{
    ntg_series *s = parse("\"Month\",\"Passengers\"\n\"1949-01\",112\n\"1949-02\",118\n");
    cr_assert_str_eq(s->date_name, "Month");
    cr_assert_eq(s->n_cols, 1);
    cr_assert_eq(s->epoch[0], -662688000);
    ntg__series_free(s);

    s = parse("a,b\n1,2\n3,4\n");
    cr_assert_null(s->dates);
    cr_assert_eq(s->n_cols, 2);
    cr_assert_eq(ntg__series_step(s), 0);
    cr_assert_null(ntg__series_next_date(s, 1, s->pool));
    ntg__series_free(s);

    s = parse("id,v\nx,1\ny,2\n");
    cr_assert_str_eq(s->date_name, "id", "a text first column is a date column");
    cr_assert_eq(s->epoch[0], INT64_MIN);
    cr_assert_eq(ntg__series_step(s), 0);
    cr_assert_null(ntg__series_next_date(s, 1, s->pool));
    ntg__series_free(s);

    s = parse("DATE,x\n1,2\n");
    cr_assert_str_eq(s->date_name, "DATE", "by its name even when its cells look numeric");
    ntg__series_free(s);
    s = parse("TimeStamp,x\n2020-01-01,2\n");
    cr_assert_str_eq(s->date_name, "TimeStamp");
    ntg__series_free(s);

    /* the first non-empty cell decides */
    refused("k,v\n,1\n5,2\n", NTG_ERR_DATA, 2, 1,
            NAME ":2:1: column 'k': empty cell (use --fill zero|ffill|interpolate)");
    s = parse("k,v\n,1\nz,2\n");
    cr_assert_str_eq(s->date_name, "k");
    ntg__series_free(s);

    s = parse("v\n1\n2\n");
    cr_assert_eq(s->n_cols, 1);
    cr_assert_null(s->dates);
    ntg__series_free(s);

    s = parse("date,a\n");
    cr_assert_eq(s->n_rows, 0);
    cr_assert_eq(s->n_cols, 1);
    cr_assert_null(ntg__series_next_date(s, 1, s->pool));
    ntg__series_free(s);
}

/* next_date(steps) of a one-column series with these dates. */
static void next_is(const char *dates_csv, int64_t steps, const char *want)
{
    char text[1024];
    size_t k = (size_t)snprintf(text, sizeof text, "date,v\n");
    const char *p = dates_csv;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        k += (size_t)snprintf(text + k, sizeof text - k, "%.*s,1\n", (int)n, p);
        p += n + (e ? 1 : 0);
    }
    ntg_series *s = parse(text);
    const char *got = ntg__series_next_date(s, steps, s->pool);
    cr_assert_not_null(got, "%s + %lld", dates_csv, (long long)steps);
    cr_assert_str_eq(got, want, "%s + %lld", dates_csv, (long long)steps);
    ntg__series_free(s);
}

Test(runtime, csv_next_date_follows_the_calendar)
{
    next_is("2016-07-01;2016-07-02;2016-07-03", 1, "2016-07-04");
    next_is("2016-07-01;2016-07-02;2016-07-03", 30, "2016-08-02");
    next_is("2020-12-31 22:00:00;2020-12-31 23:00:00", 1, "2021-01-01 00:00:00");
    next_is("2016-07-01T00:00;2016-07-01T00:15", 1, "2016-07-01T00:30");
    next_is("1990/1/1 0:00;1990/1/2 0:00", 1, "1990/1/3 0:00");
    next_is("1990/1/1 0:00;1990/1/2 0:00", 31, "1990/2/2 0:00");
    next_is("1990/12/30 10:00;1990/12/31 10:00;1991/1/1 10:00", 1, "1991/1/2 10:00");
    /* nothing shows a one-digit field: taken as zero-padded */
    next_is("1990/12/30 10:00;1990/12/31 10:00", 1, "1991/01/01 10:00");
    next_is("2002-01-01 00:00:00;2002-01-08 00:00:00", 1, "2002-01-15 00:00:00");
    /* monthly, written as months */
    next_is("1960-11;1960-12", 1, "1961-01");
    next_is("1960-11;1960-12", 12, "1961-12");
    next_is("1960-11;1960-12", 13, "1962-01");
    next_is("1960-11;1960-12", -11, "1960-01");
    next_is("1960-01;1960-04;1960-07", 1, "1960-10");
    /* monthly dates: month ends stay at month ends, other days are kept */
    next_is("2020-01-31;2020-02-29;2020-03-31", 1, "2020-04-30");
    next_is("2020-01-31;2020-02-29;2020-03-31", 2, "2020-05-31");
    next_is("2020-01-15;2020-02-15;2020-03-15", 1, "2020-04-15");
    next_is("2019-11-30;2019-12-30;2020-01-30", 1, "2020-02-29");
    /* quarters and years */
    next_is("2020-01-01;2020-04-01;2020-07-01", 1, "2020-10-01");
    next_is("2018-01-01;2019-01-01;2020-01-01", 1, "2021-01-01");
    next_is("2019-03-01;2020-03-01", 2, "2022-03-01");
    /* the median spacing wins over a gap */
    next_is("2020-01-01 00:00:00;2020-01-01 00:10:00;2020-01-01 00:20:00;2020-01-01 01:00:00", 1,
            "2020-01-01 01:10:00");
    next_is("2016-07-01;2016-07-02", 0, "2016-07-02");
    next_is("2016-07-01;2016-07-02", -1, "2016-07-01");
}

Test(runtime, csv_next_date_refuses_what_it_cannot_know)
{
    ntg_series *s = parse("date,v\n2020-01-01,1\n");
    cr_assert_eq(ntg__series_step(s), 0, "one row has no spacing");
    cr_assert_null(ntg__series_next_date(s, 1, s->pool));
    cr_assert_null(ntg__series_next_dates(s, 1, 3, s->pool));
    ntg__series_free(s);
    s = parse_loose("date,v\n2020-01-02,1\n2020-01-01,2\n");
    cr_assert_eq(ntg__series_step(s), -86400);
    cr_assert_null(ntg__series_next_date(s, 1, s->pool), "dates that go back in time");
    ntg__series_free(s);
    s = parse_loose("date,v\n2020-01-01,1\n2020-01-02,2\n2020-02-30,3\n");
    cr_assert_eq(s->epoch[2], INT64_MIN, "February has no 30th");
    cr_assert_null(ntg__series_next_date(s, 1, s->pool));
    ntg__series_free(s);
    s = parse("date,v\n2020-01-01,1\n2020-01-02,2\n");
    cr_assert_null(ntg__series_next_date(s, INT64_MAX, s->pool), "overflow");
    cr_assert_null(ntg__series_next_date(s, 1, NULL));
    ntg__series_free(s);
    cr_assert_null(ntg__series_next_date(NULL, 1, NULL));
    cr_assert_eq(ntg__series_step(NULL), 0);
    cr_assert_eq(ntg__series_find(NULL, "a"), -1);
}

Test(runtime, csv_parses_dates_strictly)
{
    const char *bad[] = {"2020-13-01",          "2020-00",          "2020-01-32",
                         "2021-02-29",          "2020-1-1x",        "20-01-01",
                         "2020-01-01 24:00",    "2020-01-01 10:60", "2020-01-01 10:5",
                         "2020-01-01 10:00:60", "2020-01/01",       "2020-01-01  10:00",
                         "2020.01.01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "date,v\n%s,1\n", bad[i]);
        ntg_series *s = parse_loose(text);
        cr_assert_eq(s->epoch[0], INT64_MIN, "%s", bad[i]);
        ntg__series_free(s);
    }
    ntg_series *s = parse_loose("date,v\n2020-02-29 23:59:59,1\n1969-12-31,2\n2000/2/29,3\n"
                                "2016-07-01T01:02,4\n");
    cr_assert_eq(s->epoch[0], 1583020799);
    cr_assert_eq(s->epoch[1], -86400);
    cr_assert_eq(s->epoch[2], 951782400);
    cr_assert_eq(s->epoch[3], 1467331200 + 3720);
    ntg__series_free(s);
}

/* A date column that starts with a time stamp is a time axis: a date that repeats, goes
 * back or is not a valid time stamp is an error naming its line (forecast dates and the
 * median spacing would otherwise be computed from it); --dates loose reads it as it is. */
Test(runtime, csv_dates_must_increase_unless_loose)
{
    const char *hint = " (dates must increase; --dates loose reads the column as it is)";
    char want[512];
    snprintf(want, sizeof want,
             "t.csv:4:1: date column 'date': '2016-07-01 01:00' repeats the date '2016-07-01 "
             "01:00' on line 3%s",
             hint);
    const char *repeat = "date,v\n2016-07-01 00:00,1\n2016-07-01 01:00,2\n2016-07-01 01:00,3\n";
    refused(repeat, NTG_ERR_DATA, 4, 1, want);
    /* blank lines count in line numbers; a step back by a day */
    snprintf(want, sizeof want,
             "t.csv:5:1: date column 'date': '2016-07-02' goes back in time from '2016-07-03' on "
             "line 4%s",
             hint);
    refused("date,v\n2016-07-01,1\n\n2016-07-03,2\n2016-07-02,3\n", NTG_ERR_DATA, 5, 1, want);
    /* mixed forms are compared as times: 1990/1/10 comes after 1990/1/9 */
    ntg_series *s = parse("date,v\n1990/1/9 0:00,1\n1990/1/10 0:00,2\n1990-01-11,3\n");
    cr_assert_eq(s->n_rows, 3);
    ntg__series_free(s);
    /* a time axis holds only time stamps */
    refused("date,v\n2016-07-01,1\n2016-07-02,2\nsoon,3\n", NTG_ERR_DATA, 4, 1,
            "t.csv:4:1: date column 'date': 'soon' is not a valid time stamp like line 2's "
            "'2016-07-01' (--dates loose reads the column as it is)");
    /* shaped like a date but not one: an error even where the column is not a time axis */
    refused("date,v\n2016-02-30,1\n2016-03-01,2\n", NTG_ERR_DATA, 2, 1,
            "t.csv:2:1: date column 'date': '2016-02-30' is not a valid date (--dates loose "
            "reads the column as it is)");
    refused("date,v\nweek 1,1\n2016-13-01,2\n", NTG_ERR_DATA, 3, 1,
            "t.csv:3:1: date column 'date': '2016-13-01' is not a valid date (--dates loose "
            "reads the column as it is)");
    /* labels are not a time axis: kept as written, in any order */
    s = parse("date,v\nweek 2,1\nweek 1,2\nweek 1,3\n");
    cr_assert_str_eq(s->dates[2], "week 1");
    ntg__series_free(s);
    /* long format: each series sorted by its time stamps */
    s = parse("unique_id,ds,y\nA,2016-07-02,1\nB,2016-07-02,2\nA,2016-07-01,3\nB,2016-07-01,4\n");
    cr_assert_null(s->first, "the same ds in every series: a rectangular series");
    cr_assert_str_eq(s->dates[0], "2016-07-01");
    cr_assert(at(s, 0, 0) == 3 && at(s, 0, 1) == 1 && at(s, 1, 0) == 4 && at(s, 1, 1) == 2);
    ntg__series_free(s);
    refused("unique_id,ds,y\nA,2016-07-02,1\nA,2016-07-01,3\nA,2016-07-02,4\n", NTG_ERR_DATA, 4, 2,
            "t.csv:4:2: series 'A': ds '2016-07-02' repeats line 2's '2016-07-02' (each series "
            "needs one row per ds)");
    /* loose: as before, dates kept and spacing taken from what parses */
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.dates = "loose";
    s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse(repeat, strlen(repeat), NAME, &o, &s, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(s->n_rows, 3);
    cr_assert_str_eq(s->dates[2], "2016-07-01 01:00");
    ntg__series_free(s);
    o.dates = "sloppy";
    cr_assert_eq(ntg__csv_parse(repeat, strlen(repeat), NAME, &o, &s, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "unknown dates mode 'sloppy' (expected strict or loose)"), "%s",
              err.message);
}

/* Every prefix of a tricky file in every fill mode: parsed or refused, never a
 * sanitizer report. */
Test(runtime, csv_survives_every_truncation)
{
    const char *texts[] = {
        "\xEF\xBB\xBF\"date\",\"a,\"\"b\"\"\",c\r\n2020-01-01,\"1\n2\",3\r\n2020-01-02,,x\r\n"
        "2020-01-03, 4 ,\"5\"\r\n",
        "unique_id,ds,y\nA,2020-01,1\nB,2020-01,\nA,2020-02,3\nB,2020-02,4\n",
        "Month,v\n1949-01,1\n1949-02,\n1949-03,3\n"};
    const char *fills[] = {NULL, "zero", "ffill", "interpolate"};
    for (size_t t = 0; t < 3; t++) {
        size_t len = strlen(texts[t]);
        for (size_t n = 0; n <= len; n++) {
            char *cut = malloc(n ? n : 1);
            memcpy(cut, texts[t], n);
            for (size_t f = 0; f < 4; f++) {
                ntg_csv_options o;
                ntg__csv_options_init(&o);
                o.fill = fills[f];
                ntg_series *s = NULL;
                ntg_error err;
                ntg_status st = ntg__csv_parse(cut, n, NAME, &o, &s, &err);
                cr_assert(st == NTG_OK || st == NTG_ERR_PARSE || st == NTG_ERR_DATA);
                if (s) {
                    for (size_t i = 0; i < s->n_rows * s->n_cols; i++)
                        cr_assert(s->values[i] == s->values[i], "never a NaN");
                    ntg__series_next_date(s, 3, s->pool);
                }
                ntg__series_free(s);
            }
            free(cut);
        }
    }
}

/* ------------------------------------------------------------ .csv.gz input */

/* An error's whole text, file and status. */
static void gz_refused(const void *data, size_t n, const ntg_csv_options *o, ntg_status status,
                       const char *want)
{
    ntg_series *s = (ntg_series *)1;
    ntg_error err;
    memset(&err, 0, sizeof err);
    ntg_status st = ntg__csv_parse(data, n, "t.csv.gz", o, &s, &err);
    cr_assert_eq(st, status, "status %d (%s), wanted: %s", st, st ? err.message : "ok", want);
    cr_assert_null(s);
    cr_assert_str_eq(err.message, want);
    cr_assert_str_eq(err.file, "t.csv.gz");
}

#ifdef NTG_HAVE_ZLIB
#include <zlib.h>

static const char small_csv[] = "date,a,b\n"
                                "2020-01-01,1.5,2\n"
                                "2020-01-02,-3,4.25\n"
                                "2020-01-03,7,8\n";

/* `text` as one gzip member, appended to *buf (malloc'd, *n bytes). */
static void gz_append(const char *text, size_t len, unsigned char **buf, size_t *n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    *buf = realloc(*buf, *n + cap);
    cr_assert(*buf);
    z.next_in = (unsigned char *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = *buf + *n;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *n += cap - z.avail_out;
    deflateEnd(&z);
}

static void same_series(const ntg_series *a, const ntg_series *b)
{
    cr_assert_eq(a->n_rows, b->n_rows);
    cr_assert_eq(a->n_cols, b->n_cols);
    for (size_t c = 0; c < a->n_cols; c++) cr_assert_str_eq(a->names[c], b->names[c]);
    for (size_t r = 0; r < a->n_rows; r++) cr_assert_str_eq(a->dates[r], b->dates[r]);
    cr_assert_eq(memcmp(a->values, b->values, a->n_rows * a->n_cols * sizeof *a->values), 0);
}

/* Before: "quote inside an unquoted field" or another CSV complaint about binary bytes. */
Test(runtime, csv_gzip_is_read_by_content)
{
    unsigned char *gz = NULL;
    size_t n = 0;
    gz_append(small_csv, strlen(small_csv), &gz, &n);
    ntg_series *plain = parse(small_csv), *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse((const char *)gz, n, "t.csv.gz", NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    same_series(plain, s);
    cr_assert_eq(at(s, 1, 1), 4.25);
    ntg__series_free(s);

    /* from files, whatever they are called: the content decides */
    char dir[] = "/tmp/ntg_csvgz_XXXXXX";
    cr_assert(mkdtemp(dir));
    const char *names[] = {"a.csv.gz", "a.csv"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        FILE *f = fopen(path, "wb");
        cr_assert(f);
        cr_assert_eq(fwrite(gz, 1, n, f), n);
        fclose(f);
        s = NULL;
        cr_assert_eq(ntg__csv_read(path, NULL, &s, &err), NTG_OK, "%s: %s", path, err.message);
        same_series(plain, s);
        ntg__series_free(s);
        unlink(path);
    }
    rmdir(dir);

    /* several members (gzip -c a b > c): one text */
    free(gz);
    gz = NULL;
    n = 0;
    size_t half = strlen("date,a,b\n2020-01-01,1.5,2\n");
    gz_append(small_csv, half, &gz, &n);
    gz_append(small_csv + half, strlen(small_csv) - half, &gz, &n);
    s = NULL;
    cr_assert_eq(ntg__csv_parse((const char *)gz, n, "t.csv.gz", NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    same_series(plain, s);
    ntg__series_free(s);
    ntg__series_free(plain);
    free(gz);
}

Test(runtime, csv_gzip_refuses_bombs_and_damage)
{
    /* 8 MiB of rows that compress to a few KiB, under a 1 MiB cap */
    size_t big = (size_t)8 << 20;
    char *text = malloc(big + 64);
    cr_assert(text);
    size_t len = (size_t)sprintf(text, "a\n");
    while (len + 2 <= big) {
        text[len++] = '1';
        text[len++] = '\n';
    }
    unsigned char *gz = NULL;
    size_t n = 0;
    gz_append(text, len, &gz, &n);
    cr_assert_lt(n, (size_t)64 << 10);
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.max_inflated = (size_t)1 << 20;
    gz_refused(gz, n, &o, NTG_ERR_RANGE,
               "t.csv.gz: decompresses to more than 1048576 bytes, the limit for compressed input "
               "(a decompression bomb?)");
    /* the default cap (4 GiB) reads it */
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse((const char *)gz, n, "t.csv.gz", NULL, &s, &err), NTG_OK, "%s",
                 err.message);
    cr_assert_eq(s->n_rows, (len - 2) / 2);
    ntg__series_free(s);
    free(gz);
    free(text);

    gz = NULL;
    n = 0;
    gz_append(small_csv, strlen(small_csv), &gz, &n);
    /* cut short */
    gz_refused(gz, n - 12, NULL, NTG_ERR_PARSE,
               "t.csv.gz: the gzip data is truncated (it ends inside the compressed stream)");
    /* a damaged trailer: the CRC no longer matches */
    unsigned char *bad = malloc(n);
    memcpy(bad, gz, n);
    bad[n - 6] ^= 0x5a;
    gz_refused(bad, n, NULL, NTG_ERR_PARSE, "t.csv.gz: not valid gzip data (incorrect data check)");
    /* garbage after the stream */
    bad = realloc(bad, n + 3);
    memcpy(bad, gz, n);
    memcpy(bad + n, "xyz", 3);
    gz_refused(bad, n + 3, NULL, NTG_ERR_PARSE, "t.csv.gz: 3 bytes after the end of the gzip data");
    free(bad);
    free(gz);
}

Test(runtime, csv_gzip_unsupported_without_zlib)
{
    cr_skip_test("this build has zlib: csv_gzip_is_read_by_content covers compressed input");
}
#else
Test(runtime, csv_gzip_is_read_by_content)
{
    cr_skip_test("this build has no zlib (meson -Dzlib=disabled or zlib1g-dev missing)");
}

Test(runtime, csv_gzip_unsupported_without_zlib)
{
    static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03, 0x03, 0};
    gz_refused(gz, sizeof gz, NULL, NTG_ERR_UNSUPPORTED,
               "t.csv.gz: gzip-compressed input is not supported by this build (built without "
               "zlib): decompress it first (gunzip)");
}
#endif

/* A ragged panel: series of different lengths, starts and ends, rows in any order. */
Test(runtime, csv_long_ragged_panel)
{
    const char *text = "y,unique_id,ds\n"
                       "30,B,2020-01-01 02:00\n"
                       "1,A,2020-01-01 00:00\n"
                       "10,B,2020-01-01 00:00\n"
                       "3,A,2020-01-01 02:00\n"
                       "20,B,2020-01-01 01:00\n"
                       "2,A,2020-01-01 01:00\n"
                       "4,A,2020-01-01 03:00\n"
                       "5,A,2020-01-01 04:00\n"
                       "7,C,2020-01-02 00:00\n";
    ntg_series *s = parse(text);
    cr_assert_eq(s->n_cols, 3);
    cr_assert_eq(s->n_rows, 5, "the longest series");
    cr_assert_not_null(s->first);
    cr_assert_null(s->dates);
    cr_assert_str_eq(s->names[0], "B");
    cr_assert_str_eq(s->names[1], "A");
    /* right-aligned: every series ends on the last row */
    cr_assert_eq(s->first[0], 2);
    cr_assert_eq(s->first[1], 0);
    cr_assert_eq(s->first[2], 4);
    cr_assert_eq(ntg__series_first(s, 2), 4);
    cr_assert(at(s, 0, 2) == 10 && at(s, 0, 3) == 20 && at(s, 0, 4) == 30);
    cr_assert(at(s, 1, 0) == 1 && at(s, 1, 4) == 5 && at(s, 2, 4) == 7);
    cr_assert_str_eq(s->col_dates[0 * 5 + 4], "2020-01-01 02:00");
    cr_assert_null(s->col_dates[0 * 5 + 1]);
    cr_assert_str_eq(s->col_dates[2 * 5 + 4], "2020-01-02 00:00");
    cr_assert_eq(s->ds_step, 3600);
    cr_assert_eq(s->ds_int, 0);
    /* a column view has the series' own dates; next dates continue them */
    ntg_series v;
    ntg__series_column_view(s, 0, &v);
    cr_assert_eq(v.n_rows, 3);
    cr_assert_eq(v.values[0], 10);
    cr_assert_str_eq(v.dates[0], "2020-01-01 00:00");
    ntg_pool *pool = ntg__pool_create();
    const char **nd = ntg__panel_next_dates(s, 0, 2, pool);
    cr_assert_not_null(nd);
    cr_assert_str_eq(nd[0], "2020-01-01 03:00");
    cr_assert_str_eq(nd[1], "2020-01-01 04:00");
    nd = ntg__panel_next_dates(s, 2, 1, pool);
    cr_assert_str_eq(nd[0], "2020-01-02 01:00");
    ntg__pool_destroy(pool);
    ntg__series_free(s);

    /* integer ds (NeuralForecast's M4 layout), fills inside each series */
    s = parse_opts("unique_id,ds,y\nH2,3,7\nH1,1,1\nH1,2,\nH1,3,3\nH2,2,6\n", 0, "interpolate");
    cr_assert_eq(s->n_rows, 3);
    cr_assert_eq(s->ds_int, 1);
    cr_assert_eq(s->ds_step, 1);
    cr_assert_eq(s->first[0], 1, "H2, seen first, has 2 of the 3 rows");
    cr_assert_str_eq(s->names[0], "H2");
    cr_assert(at(s, 0, 1) == 6 && at(s, 0, 2) == 7);
    cr_assert(at(s, 1, 0) == 1 && at(s, 1, 1) == 2 && at(s, 1, 2) == 3);
    pool = ntg__pool_create();
    nd = ntg__panel_next_dates(s, 0, 2, pool);
    cr_assert_str_eq(nd[0], "4");
    cr_assert_str_eq(nd[1], "5");
    ntg__pool_destroy(pool);
    ntg__series_free(s);

    /* repeats and gaps name the row, in any order of the rows */
    refused("unique_id,ds,y\nA,5,1\nB,1,1\nA,4,2\nB,2,2\nA,5,3\n", NTG_ERR_DATA, 6, 2,
            NAME ":6:2: series 'A': ds '5' repeats line 2's '5' (each series needs one row per "
                 "ds)");
    refused("unique_id,ds,y\nA,2020-01-01 00:00,1\nA,2020-01-01 01:00,1\nB,2020-01-01 "
            "03:00,2\nB,2020-01-01 00:00,1\nB,2020-01-01 01:00,1\n",
            NTG_ERR_DATA, 4, 2,
            NAME ":4:2: series 'B': ds '2020-01-01 03:00' follows '2020-01-01 01:00' (line 6) by "
                 "7200 s, but the panel's step is 3600 s: a gap or an irregular step (missing "
                 "rows are not filled: add them)");
    /* monthly steps of 28 to 31 days are one step */
    s = parse("unique_id,ds,y\nA,2020-01-31,1\nA,2020-02-29,2\nA,2020-03-31,3\nB,2020-02-29,5\n");
    cr_assert_eq(s->first[1], 2);
    ntg__series_free(s);
}

/* Long format under other column names (--id-col, --date-col, --target). */
Test(runtime, csv_long_named_columns)
{
    ntg_csv_options o;
    ntg__csv_options_init(&o);
    o.format = 2;
    o.id_col = "store";
    o.date_col = "day";
    o.target = "sales";
    const char *text =
        "day,store,sales,y\n2020-01-02,s1,2,9\n2020-01-01,s1,1,9\n2020-01-01,s2,5,9\n";
    ntg_series *s = NULL;
    ntg_error err;
    cr_assert_eq(ntg__csv_parse(text, strlen(text), NAME, &o, &s, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(s->n_cols, 2);
    cr_assert_str_eq(s->date_name, "day");
    cr_assert_not_null(s->first, "s2 has one day, s1 two: a ragged panel");
    cr_assert(at(s, 0, 0) == 1 && at(s, 0, 1) == 2 && at(s, 1, 1) == 5);
    ntg__series_free(s);
    o.target = "units";
    cr_assert_eq(ntg__csv_parse(text, strlen(text), NAME, &o, &s, &err), NTG_ERR_PARSE);
    cr_assert_str_eq(err.message, NAME ":1: long format needs columns store, day and units; the "
                                       "header lacks 'units'");
    o.target = "sales";
    const char *empty_id = "day,store,sales\n2020-01-01,,1\n";
    cr_assert_eq(ntg__csv_parse(empty_id, strlen(empty_id), NAME, &o, &s, &err), NTG_ERR_DATA);
    cr_assert_str_eq(err.message,
                     NAME ":2:2: store must be non-empty UTF-8 text without NUL bytes");
}
