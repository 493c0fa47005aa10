/* dates.h — time stamps as CSV files write them: parsing, time-axis rules, next dates. */
#ifndef NTG_DATES_H
#define NTG_DATES_H

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"
#include "pool.h"

/*
 * These are understood (Y 4 digits, the rest 1 or 2 digits, '-' or '/' between date parts,
 * ' ' or 'T' before the time): "2016-07-01 00:00:00", "2016-07-01T00:00", "2016-07-01",
 * "2016/7/1 0:00", "1949-01".  Times have no zone: seconds count from 1970-01-01 00:00 of
 * the proleptic Gregorian calendar as if it were UTC.  How a CSV date column uses them is
 * in csv.h (DATES).
 */

struct ntg_series; /* csv.h */

/* Seconds since 1970 of a time stamp in one of the forms above, or INT64_MIN; and whether
 * a string is shaped like one (four digits, a date separator, a digit). */
int64_t ntg__date_epoch(const char *s);
int ntg__date_shaped(const char *s);

/* Check n time stamps of a series or window by the CSV reader's rules (csv.h, DATES) unless
 * loose; epoch (may be NULL) receives each one's seconds (INT64_MIN: unparseable).
 * `what` starts each message ("dates", "window 2 (column 'OT')").  Errors:
 * NTG_ERR_INVALID_ARG (a NULL string), NTG_ERR_DATA naming the 1-based position. */
ntg_status ntg__dates_check(const char *const *dates, size_t n, int loose, const char *what,
                            int64_t *epoch, ntg_error *err);

/* Median spacing of consecutive parseable epochs in seconds (of an even count,
 * the lower middle one), or 0 when unknown (no dates, fewer than two). */
int64_t ntg__series_step(const struct ntg_series *s);

/* The timestamp `steps` spacings after the last row, written in the style of the
 * file's dates (same separators, zero padding and precision, e.g.
 * "2018-06-26 20:00:00", "2018-06-27", "1961-01").  Spacings of 28-31 days, 89-92
 * days and 365-366 days step by calendar months, quarters and years (a last
 * date at the end of its month stays at month ends); others step by the median
 * spacing.  Allocated from `pool`.  NULL when the series has no dates, the last
 * date is unparseable, the spacing is unknown, or out of memory. */
const char *ntg__series_next_date(const struct ntg_series *s, int64_t steps, ntg_pool *pool);

/* The same for steps first, first + 1, ..., first + n - 1 at once (the style and
 * spacing are worked out once, where next_date works them out on every call):
 * an array of n strings from `pool`, or NULL as above. */
const char **ntg__series_next_dates(const struct ntg_series *s, int64_t first, size_t n,
                                    ntg_pool *pool);

/* The n ds after the end of column c of a ragged panel (csv.h): integer ds continue by
 * the panel's step ("701", "702", ...), time stamps as ntg__series_next_dates continues a
 * date column.  NULL when unknown (no step) or out of memory. */
const char **ntg__panel_next_dates(const struct ntg_series *s, size_t c, size_t n, ntg_pool *pool);

#endif /* NTG_DATES_H */
