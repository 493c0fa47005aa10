/* csv.h — time series from CSV files: wide (a date column plus numeric columns) or long. */
#ifndef NTG_CSV_H
#define NTG_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "dates.h"
#include "ntgraph.h"
#include "pool.h"

/*
 * THE FILE
 *
 * RFC 4180 fields: quoted fields may hold commas, line breaks and "" (one
 * quote); a quote inside an unquoted field, or anything but a comma or a line
 * end after a closing quote, is an error.  Lines end in LF, CRLF or a lone CR.
 * A UTF-8 byte order mark is skipped.  Empty lines are skipped (but counted in
 * line numbers).  The first line is the header; header names must be valid
 * UTF-8 (U+FFFD is fine), non-empty and unique.  Every row must have as many
 * fields as the header.
 *
 * Wide format: the first column is the date column when its header is date,
 * ds, time, timestamp or month (any case) or when its first non-empty cell is
 * not a number; every other column is a series.  Long format: the header holds
 * unique_id, ds and y (any order; other columns are ignored); the rows of each
 * unique_id, in first-seen order, become one column named after it (rows of
 * different ids may interleave).  When every ds is a time stamp, or every ds an
 * integer (dates not loose), each series is sorted by ds: a ds repeated within a
 * series is an error naming both lines, and so is a gap (two consecutive ds further
 * apart than the panel's step, the median spacing; calendar month, quarter and year
 * steps allow their 28-31, 89-92 and 365-366 days).  Series that then share the same
 * ds values make a rectangular series (shared dates); otherwise the result is a
 * ragged panel (ntg_series.first).  Labels (or --dates loose) keep the file order and
 * every series must list the same ds values in the same order.  Auto (format 0) picks
 * long when the header has all three.
 *
 * Cells: a number is what strtod reads from the whole cell once spaces and tabs
 * around it are trimmed, in decimal notation ("1", "-2.5", ".5", "1e-3"; not
 * hex, "inf" or "nan"), read the same way in every C locale.  Any other cell is
 * missing: an error unless `fill` says how to fill it, so no NaN ever reaches
 * the values.
 *
 * Errors: NTG_ERR_PARSE for malformed CSV (quotes, field counts, header),
 * NTG_ERR_DATA for cells and series, NTG_ERR_INVALID_ARG for bad options,
 * NTG_ERR_IO, NTG_ERR_NOMEM.  err->line is the physical line (1-based, where
 * the field starts), err->column the 1-based field index, and the message
 * starts with "FILE:LINE:COL: ", e.g.
 *   "data.csv:7:3: column 'HULL': empty cell (use --fill zero|ffill|interpolate)"
 *   "data.csv:9:2: column 'HULL': 'abc' is not a number"
 *
 * DATES
 *
 * Date cells are kept as written.  The forms dates.h understands ("2016-07-01 00:00:00",
 * "2016-07-01T00:00", "2016-07-01", "2016/7/1 0:00", "1949-01") get their epoch; others
 * give epoch INT64_MIN.  By default (dates "strict") a column
 * whose first cell is a time stamp is a time axis: every cell a valid time stamp, each
 * later than the one before, else NTG_ERR_DATA at the cell, e.g.
 *   "data.csv:52:1: date column 'date': '2016-07-01 00:00:00' goes back in time from
 *    '2016-07-03 01:00:00' on line 51 (dates must increase; --dates loose reads the
 *    column as it is)"
 */

typedef struct ntg_csv_options {
    int format; /* 0 auto, 1 wide, 2 long (unique_id, ds, y) */
    /* NULL or "error": a missing cell is an error; "zero"; "ffill" (the previous
     * value in the column; an error when the column starts with a missing cell);
     * "interpolate" (linear in the row index between the nearest values before
     * and after; cells before the first or after the last value take it). */
    const char *fill;
    /* NULL or "strict": when the first date cell is a time stamp, every date cell must be
     * one and later than the row before (an error names the line); a cell shaped like a
     * time stamp but invalid ("2016-02-30") is an error in any case.  "loose": the date
     * column is read as it is (dates that repeat, go back or do not parse are kept). */
    const char *dates;
    /* gzip-compressed input (recognised by its first bytes, whatever the file's name): the
     * most bytes it may decompress to; 0 is NTG__CSV_GZ_MAX.  More is NTG_ERR_RANGE naming
     * the file; a build without zlib answers NTG_ERR_UNSUPPORTED for any gzip data. */
    size_t max_inflated;
    /* long format: the id, date and target column names (NULL: unique_id, ds, y) */
    const char *id_col, *date_col, *target;
    /* long format: the target column may be absent (a file of future covariates keyed by
     * id and date); its values are then 0 */
    int target_optional;
} ntg_csv_options;

/* Default cap of decompressed CSV data: 4 GiB. */
#define NTG__CSV_GZ_MAX ((size_t)4 << 30)

typedef struct ntg_series {
    size_t n_rows, n_cols;
    const char **names;    /* column names (wide) or unique_id values (long) */
    double *values;        /* column-major: values[c * n_rows + r]; never NaN */
    const char **dates;    /* n_rows date strings, or NULL when there is no date column */
    int64_t *epoch;        /* seconds since 1970 (UTC, no zone) parsed from dates,
                              INT64_MIN where unparseable; NULL without dates */
    const char *date_name; /* header of the date column (long: "ds") or NULL */
    ntg_pool *pool;        /* owns everything, the struct included */
    /* A ragged panel (a long file whose series list different ds values: different
     * lengths, starts or ends); all NULL/0 otherwise.  The series are right-aligned: every
     * one ends on row n_rows - 1, series c holds rows [first[c], n_rows) and the rows
     * before first[c] are 0 and never read (windows, scalers and metrics start at
     * first[c]).  dates and epoch above are NULL; each series has its own:
     * col_dates[c * n_rows + r] (NULL before first[c]) and col_epoch likewise (time
     * stamps; for integer ds the integer). */
    size_t *first;
    int is_long; /* read from the long layout (unique_id, ds, y), ragged or not */
    const char **col_dates;
    int64_t *col_epoch;
    int ds_int;      /* ds are integers (NeuralForecast's M4 layout), not time stamps */
    int64_t ds_step; /* the panel's step: seconds, or 1 for integers; 0 unknown */
    /* Long format read with its ds as time stamps or integers: the file's other columns
     * (neither id, ds nor target), per series, as covariate columns (exog.h): column x of
     * series c at row r is xvals[(x * n_cols + c) * n_rows + r], aligned with values (0
     * before first[c]), missing cells filled as the target's.  A column that cannot be
     * used has xerr[x], the problem of its first bad cell at xfile:xline[x]:xcol[x] (used
     * only when a covariate names it); NULL otherwise.  n_x 0 for other series. */
    size_t n_x;
    const char **xnames;
    double *xvals;
    const char **xerr;
    int *xline, *xcol;
    const char *xfile;
} ntg_series;

/* The first row series column c holds (0 unless s is a ragged panel). */
size_t ntg__series_first(const ntg_series *s, size_t c);
/* A one-column view of column c from its first row, with its own dates (for a ragged
 * panel) or s's: *v borrows s's arrays (v->pool NULL; do not free). */
void ntg__series_column_view(const ntg_series *s, size_t c, ntg_series *v);

/* The rows before `rows` of s (rows <= s->n_rows) as a series of its own, the layout kept: a
 * ragged panel's series end on row rows - 1 and keep their starts (a series that starts at
 * or after `rows` holds no row: first = rows), long-format covariate columns are cut alike.
 * Names, dates and messages are borrowed from s, which must outlive *out.  What `ntgraph
 * cv` trains and forecasts on before a cutoff.  Errors: NTG_ERR_INVALID_ARG, NTG_ERR_NOMEM. */
ntg_status ntg__series_panel_head(const ntg_series *s, size_t rows, ntg_series **out,
                                  ntg_error *err);

/* format 0 (auto), fill NULL (error). */
void ntg__csv_options_init(ntg_csv_options *o);

/* Read the CSV file at `path` (`o` NULL: defaults). */
ntg_status ntg__csv_read(const char *path, const ntg_csv_options *o, ntg_series **out,
                         ntg_error *err);
/* Parse `len` bytes at `text` (need not be NUL-terminated); `name` is the file
 * name used in messages (NULL: "<csv>"). */
ntg_status ntg__csv_parse(const char *text, size_t len, const char *name, const ntg_csv_options *o,
                          ntg_series **out, ntg_error *err);
/* NULL is a no-op. */
void ntg__series_free(ntg_series *s);

/* Index of the column called `name`, or -1. */
int ntg__series_find(const ntg_series *s, const char *name);

#endif /* NTG_CSV_H */
