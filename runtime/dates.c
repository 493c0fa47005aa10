/* dates.c — time stamps as CSV files write them: parsing, the strict time-axis rules, the
 * spacing of a series and its next dates in the file's own style. */
#include "dates.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "ntg_error.h"
#include "pool.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------- parsing */

typedef struct dparts {
    int64_t y;
    int mo, d, h, mi, sec;
    int has_day, has_time, has_sec;
    char dsep, tsep;
    int w_mo, w_d, w_h; /* digits as written */
} dparts;

static int leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Up to `max` digits (at least `min`) at *s; -1 if not there. */
static int digits(const char **s, int min, int max, int *width)
{
    int v = 0, k = 0;
    while (k < max && is_digit(**s)) {
        v = v * 10 + (**s - '0');
        (*s)++;
        k++;
    }
    if (width) *width = k;
    return k < min ? -1 : v;
}

/* Y-M, Y-M-D, Y-M-D H:MM, Y-M-D H:MM:SS ('-' or '/'; ' ' or 'T'); 0 if valid. */
static int parse_date(const char *s, dparts *o)
{
    memset(o, 0, sizeof *o);
    int y = digits(&s, 4, 4, NULL);
    if (y < 0 || (*s != '-' && *s != '/')) return -1;
    o->y = y;
    o->dsep = *s++;
    o->mo = digits(&s, 1, 2, &o->w_mo);
    if (o->mo < 1 || o->mo > 12) return -1;
    o->d = 1;
    if (*s == '\0') return 0;
    if (*s++ != o->dsep) return -1;
    o->has_day = 1;
    o->d = digits(&s, 1, 2, &o->w_d);
    if (o->d < 1 || o->d > days_in_month(o->y, o->mo)) return -1;
    if (*s == '\0') return 0;
    if (*s != ' ' && *s != 'T') return -1;
    o->tsep = *s++;
    o->has_time = 1;
    o->h = digits(&s, 1, 2, &o->w_h);
    if (o->h < 0 || o->h > 23 || *s++ != ':') return -1;
    o->mi = digits(&s, 2, 2, NULL);
    if (o->mi < 0 || o->mi > 59) return -1;
    if (*s == '\0') return 0;
    if (*s++ != ':') return -1;
    o->has_sec = 1;
    o->sec = digits(&s, 2, 2, NULL);
    if (o->sec < 0 || o->sec > 59 || *s != '\0') return -1;
    return 0;
}

static int64_t date_epoch(const char *s)
{
    dparts d;
    if (parse_date(s, &d)) return INT64_MIN;
    return days_from_civil(d.y, d.mo, d.d) * 86400 + d.h * 3600 + d.mi * 60 + d.sec;
}

/* Shaped like a time stamp: four digits, a date separator and a digit. */
static int date_shaped(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!is_digit(s[i])) return 0;
    return (s[4] == '-' || s[4] == '/') && is_digit(s[5]);
}

int64_t ntg__date_epoch(const char *s)
{
    return date_epoch(s);
}

int ntg__date_shaped(const char *s)
{
    return date_shaped(s);
}

/* k-th smallest of v[0..n) (reordered), three-way partitions so runs of equal
 * spacings, the common case, take one pass. */
static int64_t select_kth(int64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* [lo, hi) holds the answer */
    for (;;) {
        if (hi - lo <= 1) return v[lo];
        int64_t a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        int64_t piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < piv) {
                int64_t t = v[lt];
                v[lt++] = v[i];
                v[i++] = t;
            } else if (v[i] > piv) {
                int64_t t = v[--gt];
                v[gt] = v[i];
                v[i] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return piv;
    }
}

int64_t ntg__series_step(const ntg_series *s)
{
    if (!s || !s->epoch || s->n_rows < 2) return 0;
    int64_t *d = malloc((s->n_rows - 1) * sizeof *d);
    if (!d) return 0;
    size_t m = 0;
    for (size_t r = 1; r < s->n_rows; r++) {
        int64_t a = s->epoch[r - 1], b = s->epoch[r];
        if (a != INT64_MIN && b != INT64_MIN) d[m++] = b - a;
    }
    int64_t step = m ? select_kth(d, m, (m - 1) / 2) : 0;
    free(d);
    return step;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* How to continue a series' dates: computed once for any number of steps. */
typedef struct dstepper {
    dparts lp;      /* the last date */
    int64_t last;   /* its epoch */
    int64_t step;   /* median spacing, seconds */
    int64_t months; /* calendar months per step, 0 when stepping by seconds */
    int pad_mo, pad_d, pad_h;
} dstepper;

/* step > 0: that spacing (a ragged panel's), else the series' median spacing. */
static int stepper_init(const ntg_series *s, dstepper *t, int64_t step_given)
{
    if (!s || !s->dates || !s->epoch || !s->n_rows) return -1;
    t->last = s->epoch[s->n_rows - 1];
    if (t->last == INT64_MIN || parse_date(s->dates[s->n_rows - 1], &t->lp)) return -1;
    t->step = step_given > 0 ? step_given : ntg__series_step(s);
    if (t->step <= 0) return -1;
    /* Zero padding as the file writes it: a field is unpadded when some date
     * writes it with one digit ("1990/1/1 0:00"). */
    t->pad_mo = t->lp.w_mo == 2;
    t->pad_d = t->lp.w_d == 2;
    t->pad_h = t->lp.w_h == 2;
    /* With every field of the last date padded, a date of the same length has
     * all its fields padded too (year, minutes and seconds have fixed widths):
     * only dates of another length need parsing. */
    int all_padded = t->pad_mo && (!t->lp.has_day || t->pad_d) && (!t->lp.has_time || t->pad_h);
    size_t last_len = strlen(s->dates[s->n_rows - 1]);
    for (size_t r = 0; r < s->n_rows && (t->pad_mo || t->pad_d || t->pad_h); r++) {
        dparts p;
        if (s->epoch[r] == INT64_MIN || (all_padded && strlen(s->dates[r]) == last_len) ||
            parse_date(s->dates[r], &p))
            continue;
        if (p.w_mo == 1) t->pad_mo = 0;
        if (p.has_day && p.w_d == 1) t->pad_d = 0;
        if (p.has_time && p.w_h == 1) t->pad_h = 0;
    }
    const int64_t day = 86400, step = t->step;
    t->months = 0;
    if (!t->lp.has_day)
        t->months = step < 45 * day ? 1 : (step + 15 * day) / (30 * day);
    else if (step >= 28 * day && step <= 31 * day)
        t->months = 1;
    else if (step >= 89 * day && step <= 92 * day)
        t->months = 3;
    else if (step >= 365 * day && step <= 366 * day)
        t->months = 12;
    return 0;
}

static const char *stepper_date(const dstepper *t, int64_t steps, ntg_pool *pool)
{
    const dparts *lp = &t->lp;
    const int64_t day = 86400;
    int64_t y;
    int mo, d, h = lp->h, mi = lp->mi, sec = lp->sec;
    if (t->months) {
        int64_t lim = INT64_MAX / 4 / t->months; /* leaves room for lp->y * 12 */
        if (steps > lim || steps < -lim) return NULL;
        int64_t total = lp->y * 12 + (lp->mo - 1) + t->months * steps;
        y = floor_div(total, 12);
        mo = (int)(total - y * 12) + 1;
        int end = days_in_month(y, mo);
        int at_end = lp->has_day && lp->d >= 28 && lp->d == days_in_month(lp->y, lp->mo);
        d = at_end || lp->d > end ? end : lp->d;
    } else {
        int64_t step = t->step;
        if (steps > INT64_MAX / step || steps < -(INT64_MAX / step)) return NULL;
        int64_t add = steps * step;
        if ((add > 0 && t->last > INT64_MAX - add) || (add < 0 && t->last < INT64_MIN + 1 - add))
            return NULL;
        int64_t at = t->last + add;
        int64_t days = floor_div(at, day), rem = at - days * day;
        civil_from_days(days, &y, &mo, &d);
        h = (int)(rem / 3600);
        mi = (int)(rem % 3600 / 60);
        sec = (int)(rem % 60);
    }
    char buf[128];
    size_t k = (size_t)snprintf(buf, sizeof buf, "%04lld%c%0*d", (long long)y, lp->dsep,
                                t->pad_mo ? 2 : 1, mo);
    if (lp->has_day)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%c%0*d", lp->dsep, t->pad_d ? 2 : 1, d);
    if (lp->has_time)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%c%0*d:%02d", lp->tsep, t->pad_h ? 2 : 1, h,
                              mi);
    if (lp->has_sec) snprintf(buf + k, sizeof buf - k, ":%02d", sec);
    return ntg__pool_strdup(pool, buf);
}

const char *ntg__series_next_date(const ntg_series *s, int64_t steps, ntg_pool *pool)
{
    dstepper t;
    if (!pool || stepper_init(s, &t, 0)) return NULL;
    return stepper_date(&t, steps, pool);
}

const char **ntg__series_next_dates(const ntg_series *s, int64_t first, size_t n, ntg_pool *pool)
{
    dstepper t;
    if (!pool || stepper_init(s, &t, 0)) return NULL;
    const char **v = ntg__pool_array(pool, n + 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (first > INT64_MAX - (int64_t)i) return NULL;
        if (!(v[i] = stepper_date(&t, first + (int64_t)i, pool))) return NULL;
    }
    return v;
}

/* ---------------------------------------------------------- time axes */

ntg_status ntg__dates_check(const char *const *dates, size_t n, int loose, const char *what,
                            int64_t *epoch, ntg_error *err)
{
    static const char *const hint = "loose dates take them as they are";
    int axis = n > 0 && dates[0] && ntg__date_epoch(dates[0]) != INT64_MIN;
    int64_t prev = INT64_MIN;
    for (size_t r = 0; r < n; r++) {
        if (!dates[r])
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: time stamp %zu is NULL", what, r + 1);
        int64_t e = ntg__date_epoch(dates[r]);
        if (epoch) epoch[r] = e;
        if (loose) continue;
        /* the CSV reader's rules (csv.h, DATES), so a series is the same from either */
        if (e == INT64_MIN) {
            if (!axis && !ntg__date_shaped(dates[r])) continue;
            if (axis)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "%s: time stamp %zu '%.60s' is not a valid time stamp like the "
                                 "first, '%.60s' (%s)",
                                 what, r + 1, dates[r], dates[0], hint);
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s: time stamp %zu '%.60s' is not a valid date (%s)", what, r + 1,
                             dates[r], hint);
        }
        if (axis && r > 0 && e <= prev)
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s: time stamp %zu '%.60s' %s '%.60s' before it (dates must "
                             "increase; %s)",
                             what, r + 1, dates[r],
                             e == prev ? "repeats the date" : "goes back in time from",
                             dates[r - 1], hint);
        prev = e;
    }
    return NTG_OK;
}

const char **ntg__panel_next_dates(const struct ntg_series *s, size_t c, size_t n, ntg_pool *pool)
{
    if (!s || !s->first || c >= s->n_cols || s->first[c] >= s->n_rows) return NULL;
    if (!s->ds_int) {
        /* the series' own last date and style, the panel's step (a series of one row has
         * none of its own) */
        ntg_series v;
        dstepper t;
        ntg__series_column_view(s, c, &v);
        if (stepper_init(&v, &t, s->ds_step)) return NULL;
        const char **d = ntg__pool_array(pool, n + 1, sizeof *d);
        if (!d) return NULL;
        for (size_t i = 0; i < n; i++)
            if (!(d[i] = stepper_date(&t, (int64_t)i + 1, pool))) return NULL;
        return d;
    }
    if (s->ds_step <= 0) return NULL;
    const char **d = ntg__pool_array(pool, n + 1, sizeof *d);
    if (!d) return NULL;
    int64_t last = s->col_epoch[c * s->n_rows + s->n_rows - 1];
    for (size_t k = 0; k < n; k++) {
        d[k] = ntg__pool_fmt(pool, "%lld", (long long)(last + (int64_t)(k + 1) * s->ds_step));
        if (!d[k]) return NULL;
    }
    return d;
}
