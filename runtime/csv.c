/* csv.c — time series from CSV files: RFC 4180 fields, wide or long layout, fills, dates;
 * gzip-compressed files recognised by their content. */
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "ntg_error.h"

#ifdef NTG_HAVE_ZLIB
#include <zlib.h>
#endif

enum { FILL_ERROR, FILL_ZERO, FILL_FFILL, FILL_INTERP };
enum { CELL_OK, CELL_EMPTY, CELL_JUNK, CELL_RANGE };

/* Cell and name texts in messages: at most this many bytes of them. */
#define SHOWN 60

/* ------------------------------------------------------------------ tokens */

typedef struct cfield {
    const char *s; /* into the text, or (in_scratch) resolved after the record */
    size_t len;
    size_t soff;
    int in_scratch;
    int line; /* physical line where the field starts */
} cfield;

typedef struct creader {
    const char *p, *end;
    int line; /* physical line of p */
    const char *file;
    ntg_error *err;
    ntg_status status;
    cfield *f;
    size_t nf, fcap;
    char *scratch; /* unescaped quoted fields of the current record */
    size_t slen, scap;
} creader;

static int rd_fail(creader *r, ntg_status st, int line, int col, const char *fmt, ...)
    NTG_PRINTF(5, 6);

static int rd_fail(creader *r, ntg_status st, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(r->err, st, r->file, line, col, fmt, ap);
    va_end(ap);
    r->status = st;
    return -1;
}

static int rd_nomem(creader *r)
{
    return rd_fail(r, NTG_ERR_NOMEM, 0, 0, "out of memory");
}

/* Grow the array whose pointer is at `pp` (of *cap items of `item` bytes) to hold
 * `need` items.  The pointer is read and written with memcpy so that one helper
 * serves arrays of any type without aliasing it as a void *. */
static int grow(void *pp, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / item) return -1;
        nc *= 2;
    }
    void *old;
    memcpy(&old, pp, sizeof old);
    void *nb = realloc(old, nc * item);
    if (!nb) return -1;
    memcpy(pp, &nb, sizeof nb);
    *cap = nc;
    return 0;
}

/* Consume a line end at r->p (LF, CRLF or a lone CR). */
static void eat_eol(creader *r)
{
    if (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n') r->p++;
    r->p++;
    if (r->line < INT_MAX) r->line++;
}

static int is_eol(char c)
{
    return c == '\n' || c == '\r';
}

/* Next record into r->f[0..nf): 1, 0 at the end of the text, -1 on error.
 * Empty lines are skipped. */
static int read_record(creader *r)
{
    r->nf = 0;
    r->slen = 0;
    while (r->p < r->end && is_eol(*r->p)) eat_eol(r);
    if (r->p >= r->end) return 0;
    for (;;) {
        if (grow(&r->f, &r->fcap, r->nf + 1, sizeof *r->f)) return rd_nomem(r);
        cfield *f = &r->f[r->nf];
        int col = (int)(r->nf + 1);
        memset(f, 0, sizeof *f);
        f->line = r->line;
        if (r->p < r->end && *r->p == '"') {
            const char *start = ++r->p;
            int escaped = 0;
            for (;;) {
                if (r->p >= r->end)
                    return rd_fail(r, NTG_ERR_PARSE, f->line, col,
                                   "quoted field has no closing quote");
                char c = *r->p;
                if (c == '"') {
                    if (r->p + 1 < r->end && r->p[1] == '"') {
                        escaped = 1;
                        r->p += 2;
                        continue;
                    }
                    break;
                }
                if (is_eol(c))
                    eat_eol(r);
                else
                    r->p++;
            }
            size_t n = (size_t)(r->p - start);
            r->p++;
            if (escaped) {
                if (grow(&r->scratch, &r->scap, r->slen + n, 1)) return rd_nomem(r);
                f->in_scratch = 1;
                f->soff = r->slen;
                for (size_t i = 0; i < n; i++) {
                    r->scratch[r->slen++] = start[i];
                    if (start[i] == '"') i++;
                }
                f->len = r->slen - f->soff;
            } else {
                f->s = start;
                f->len = n;
            }
            if (r->p < r->end && *r->p != ',' && !is_eol(*r->p)) {
                char b[16];
                unsigned char c = (unsigned char)*r->p;
                if (c >= 0x20 && c < 0x7f)
                    snprintf(b, sizeof b, "'%c'", c);
                else
                    snprintf(b, sizeof b, "byte 0x%02X", c);
                return rd_fail(r, NTG_ERR_PARSE, r->line, col,
                               "%s after the closing quote (expected ',' or the end of the line)",
                               b);
            }
        } else {
            const char *start = r->p;
            while (r->p < r->end && *r->p != ',' && !is_eol(*r->p)) {
                if (*r->p == '"')
                    return rd_fail(r, NTG_ERR_PARSE, r->line, col,
                                   "quote inside an unquoted field (quote the whole field and "
                                   "double the quotes in it)");
                r->p++;
            }
            f->s = start;
            f->len = (size_t)(r->p - start);
        }
        r->nf++;
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end) eat_eol(r);
        break;
    }
    for (size_t i = 0; i < r->nf; i++)
        if (r->f[i].in_scratch) r->f[i].s = r->scratch + r->f[i].soff;
    return 1;
}

/* ------------------------------------------------------------------- cells */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* CELL_* ; *v set for CELL_OK.  -1 out of memory. */
static int parse_cell(const char *s, size_t n, double *v)
{
    trim(&s, &n);
    if (!n) return CELL_EMPTY;
    size_t i = 0, d1 = 0, d2 = 0;
    if (s[i] == '+' || s[i] == '-') i++;
    while (i < n && is_digit(s[i])) i++, d1++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) i++, d2++;
    }
    if (!d1 && !d2) return CELL_JUNK;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d3 = 0;
        while (i < n && is_digit(s[i])) i++, d3++;
        if (!d3) return CELL_JUNK;
    }
    if (i != n) return CELL_JUNK;
    int r = ntg__json_strtod(s, n, v);
    if (r < 0) return -1;
    return r ? CELL_RANGE : CELL_OK;
}

static int ascii_ieq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (x != y) return 0;
    }
    return 1;
}

static int same(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------------------ series */

void ntg__csv_options_init(ntg_csv_options *o)
{
    if (!o) return;
    o->format = 0;
    o->fill = NULL;
    o->dates = NULL;
    o->max_inflated = 0;
    o->id_col = o->date_col = o->target = NULL;
    o->target_optional = 0;
}

void ntg__series_free(ntg_series *s)
{
    if (s) ntg__pool_destroy(s->pool);
}

size_t ntg__series_first(const ntg_series *s, size_t c)
{
    return s && s->first && c < s->n_cols ? s->first[c] : 0;
}

void ntg__series_column_view(const ntg_series *s, size_t c, ntg_series *v)
{
    memset(v, 0, sizeof *v);
    size_t f = ntg__series_first(s, c);
    v->n_rows = s->n_rows - f;
    v->n_cols = 1;
    v->names = s->names + c;
    v->values = s->values + c * s->n_rows + f;
    v->date_name = s->date_name;
    if (s->first) {
        v->dates = s->col_dates ? s->col_dates + c * s->n_rows + f : NULL;
        v->epoch = s->col_dates && !s->ds_int ? s->col_epoch + c * s->n_rows + f : NULL;
    } else {
        v->dates = s->dates;
        v->epoch = s->epoch;
    }
}

ntg_status ntg__series_panel_head(const ntg_series *s, size_t rows, ntg_series **out,
                                  ntg_error *err)
{
    *out = NULL;
    if (!s || rows > s->n_rows)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "series head: %zu rows of %zu", rows,
                         s ? s->n_rows : 0);
    size_t T = s->n_rows, n = s->n_cols, nx = s->n_x;
    ntg_pool *pool = ntg__pool_create();
    ntg_series *h = pool ? ntg__pool_alloc(pool, sizeof *h) : NULL;
    int bad = !h;
    if (h) {
        *h = *s; /* names, dates, epoch, messages: borrowed (prefixes of s's rows) */
        h->pool = pool;
        h->n_rows = rows;
        bad |= !(h->values = ntg__pool_array(pool, rows * n + 1, sizeof *h->values));
        if (s->first) {
            bad |= !(h->first = ntg__pool_array(pool, n + 1, sizeof *h->first));
            bad |= !(h->col_dates = ntg__pool_array(pool, rows * n + 1, sizeof *h->col_dates));
            bad |= !(h->col_epoch = ntg__pool_array(pool, rows * n + 1, sizeof *h->col_epoch));
        }
        if (nx) bad |= !(h->xvals = ntg__pool_array(pool, rows * n * nx + 1, sizeof *h->xvals));
    }
    if (bad) {
        ntg__pool_destroy(pool);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (size_t c = 0; c < n; c++) {
        memcpy(h->values + c * rows, s->values + c * T, rows * sizeof *h->values);
        for (size_t x = 0; x < nx; x++)
            memcpy(h->xvals + (x * n + c) * rows, s->xvals + (x * n + c) * T,
                   rows * sizeof *h->xvals);
        if (!s->first) continue;
        /* every series ends on row rows - 1: series c keeps its rows before `rows` */
        h->first[c] = s->first[c] < rows ? s->first[c] : rows;
        memcpy(h->col_dates + c * rows, s->col_dates + c * T, rows * sizeof *h->col_dates);
        memcpy(h->col_epoch + c * rows, s->col_epoch + c * T, rows * sizeof *h->col_epoch);
    }
    *out = h;
    return NTG_OK;
}

int ntg__series_find(const ntg_series *s, const char *name)
{
    if (!s || !name) return -1;
    for (size_t c = 0; c < s->n_cols; c++)
        if (strcmp(s->names[c], name) == 0) return (int)c;
    return -1;
}

/* Everything one parse needs; the arrays are heap (growable) scratch. */
typedef struct cparse {
    creader r;
    int fill;
    int loose_dates; /* --dates loose: no checks of the date column */
    ntg_pool *pool;
    ntg_series *s;
    size_t nh;          /* header fields */
    int hline;          /* line of the header */
    const char **hname; /* header names (pool) */
    /* rows gathered so far */
    size_t rows;
    double *val;         /* wide: row-major rows x n_cols; long: one per row */
    unsigned char *miss; /* same shape as val */
    int *line;           /* per row */
    const char **date;   /* per row (wide: date column; long: ds) */
    size_t dcap, lcap, mcap, vcap;
    unsigned *sid; /* long: series of each row */
    size_t scap;
    /* long: the other columns (covariates), nx per row */
    size_t nx;
    size_t *xcol;         /* their header indices */
    double *xval;         /* rows x nx */
    unsigned char *xmiss; /* rows x nx */
    size_t xvcap, xmcap;
    const char **xerr; /* per column: its first bad cell's problem (pool), or NULL */
    int *xline, *xcolno;
} cparse;

/* "column 'HULL'" or, in long format, "column 'y' (series 'A')". */
static void cell_what(char *buf, size_t cap, const char *col, const char *series)
{
    if (series)
        snprintf(buf, cap, "column '%.*s' (series '%.*s')", SHOWN, col, SHOWN, series);
    else
        snprintf(buf, cap, "column '%.*s'", SHOWN, col);
}

static int cell_error(cparse *c, int kind, const cfield *f, int col, const char *colname,
                      const char *series)
{
    const char *s = f->s;
    size_t n = f->len;
    char what[2 * SHOWN + 32];
    cell_what(what, sizeof what, colname, series);
    trim(&s, &n);
    if (kind == CELL_EMPTY)
        return rd_fail(&c->r, NTG_ERR_DATA, f->line, col,
                       "%s: empty cell (use --fill zero|ffill|interpolate)", what);
    if (kind == CELL_RANGE)
        return rd_fail(&c->r, NTG_ERR_DATA, f->line, col,
                       "%s: '%.*s%s' is out of the range of a double", what,
                       (int)(n > SHOWN ? SHOWN : n), s, n > SHOWN ? "..." : "");
    return rd_fail(&c->r, NTG_ERR_DATA, f->line, col, "%s: '%.*s%s' is not a number", what,
                   (int)(n > SHOWN ? SHOWN : n), s, n > SHOWN ? "..." : "");
}

/* Read cell f into *v / *miss; an error unless a fill applies. */
static int take_cell(cparse *c, const cfield *f, int col, const char *colname, const char *series,
                     double *v, unsigned char *miss)
{
    int k = parse_cell(f->s, f->len, v);
    if (k < 0) return rd_nomem(&c->r);
    *miss = k != CELL_OK;
    if (k != CELL_OK) {
        *v = 0;
        if (c->fill == FILL_ERROR) return cell_error(c, k, f, col, colname, series);
    }
    return 0;
}

/* Fill the missing cells of one column of n values. */
/* Fill the missing cells of n values v by the policy `fill` (not FILL_ERROR): 0, or 1 when
 * there is no numeric cell to fill from, 2 when ffill meets a missing first cell. */
static int fill_soft(int fill, double *v, const unsigned char *miss, size_t n)
{
    size_t first = 0;
    while (first < n && miss[first]) first++;
    if (fill == FILL_ZERO) {
        for (size_t i = 0; i < n; i++)
            if (miss[i]) v[i] = 0;
        return 0;
    }
    if (first == n && n) return 1;
    if (first > 0 && fill == FILL_FFILL) return 2;
    for (size_t i = 0; i < first; i++) v[i] = v[first];
    size_t prev = first;
    for (size_t i = first + 1; i < n; i++) {
        if (miss[i]) continue;
        if (fill == FILL_FFILL) {
            for (size_t k = prev + 1; k < i; k++) v[k] = v[prev];
        } else {
            double span = (double)(i - prev);
            for (size_t k = prev + 1; k < i; k++)
                v[k] = v[prev] + (v[i] - v[prev]) * ((double)(k - prev) / span);
        }
        prev = i;
    }
    for (size_t k = prev + 1; k < n; k++) v[k] = v[prev];
    return 0;
}

static int fill_column(cparse *c, double *v, const unsigned char *miss, size_t n, const int *lines,
                       int col, const char *what)
{
    int k = fill_soft(c->fill, v, miss, n);
    if (k == 1)
        return rd_fail(&c->r, NTG_ERR_DATA, lines[0], col, "%s: no numeric cell to %s from", what,
                       c->fill == FILL_FFILL ? "carry forward" : "interpolate");
    if (k == 2)
        return rd_fail(&c->r, NTG_ERR_DATA, lines[0], col,
                       "%s: the column starts with a missing cell and ffill has no earlier value",
                       what);
    return 0;
}

/* Long format: the covariate cells of row r (c->r's fields), kept for later: a bad or
 * (with no fill) empty cell is an error only once a covariate names its column. */
static int take_xcells(cparse *c, size_t r, const char *uid)
{
    size_t nx = c->nx;
    if (!nx) return 0;
    if (grow(&c->xval, &c->xvcap, (r + 1) * nx, sizeof *c->xval) ||
        grow(&c->xmiss, &c->xmcap, (r + 1) * nx, 1))
        return rd_nomem(&c->r);
    for (size_t x = 0; x < nx; x++) {
        const cfield *f = &c->r.f[c->xcol[x]];
        double v = 0;
        int k = parse_cell(f->s, f->len, &v);
        if (k < 0) return rd_nomem(&c->r);
        c->xval[r * nx + x] = k == CELL_OK ? v : 0;
        c->xmiss[r * nx + x] = k != CELL_OK;
        if (k == CELL_OK || c->xerr[x] || c->fill != FILL_ERROR) continue;
        const char *s = f->s;
        size_t n = f->len;
        trim(&s, &n);
        const char *name = c->hname[c->xcol[x]];
        c->xline[x] = f->line;
        c->xcolno[x] = (int)c->xcol[x] + 1;
        if (k == CELL_EMPTY)
            c->xerr[x] = ntg__pool_fmt(c->pool,
                                       "column '%.*s' (series '%.*s'): empty cell (use --fill "
                                       "zero|ffill|interpolate)",
                                       SHOWN, name, SHOWN, uid);
        else
            c->xerr[x] =
                ntg__pool_fmt(c->pool, "column '%.*s' (series '%.*s'): '%.*s%s' is %s", SHOWN, name,
                              SHOWN, uid, (int)(n > SHOWN ? SHOWN : n), s, n > SHOWN ? "..." : "",
                              k == CELL_RANGE ? "out of the range of a double" : "not a number");
        if (!c->xerr[x]) return rd_nomem(&c->r);
    }
    return 0;
}

/* Long format: the covariate columns into s, series id's position p (of nr) from row
 * src[id * nr + p] (SIZE_MAX: before the series' first row), filled per series. */
static int build_x(cparse *c, const char *const *names, size_t nr, size_t ns, const size_t *src)
{
    ntg_series *s = c->s;
    size_t nx = c->nx;
    if (!nx) return 0;
    s->n_x = nx;
    s->xnames = ntg__pool_array(c->pool, nx + 1, sizeof *s->xnames);
    s->xvals = ntg__pool_array(c->pool, nx * ns * nr + 1, sizeof *s->xvals);
    s->xerr = ntg__pool_array(c->pool, nx + 1, sizeof *s->xerr);
    s->xline = ntg__pool_array(c->pool, nx + 1, sizeof *s->xline);
    s->xcol = ntg__pool_array(c->pool, nx + 1, sizeof *s->xcol);
    s->xfile = ntg__pool_strdup(c->pool, c->r.file);
    unsigned char *miss = malloc(nr + 1);
    int *lines = malloc((nr + 1) * sizeof *lines);
    if (!s->xnames || !s->xvals || !s->xerr || !s->xline || !s->xcol || !s->xfile || !miss ||
        !lines) {
        free(miss);
        free(lines);
        return rd_nomem(&c->r);
    }
    for (size_t x = 0; x < nx; x++) {
        s->xnames[x] = c->hname[c->xcol[x]];
        s->xerr[x] = c->xerr[x];
        s->xline[x] = c->xline[x];
        s->xcol[x] = c->xcolno[x];
        for (size_t id = 0; id < ns; id++) {
            double *v = s->xvals + (x * ns + id) * nr;
            size_t f0 = 0, any = 0;
            while (f0 < nr && src[id * nr + f0] == SIZE_MAX) f0++;
            for (size_t p = 0; p < nr; p++) {
                size_t r = src[id * nr + p];
                v[p] = r == SIZE_MAX ? 0 : c->xval[r * nx + x];
                miss[p] = r != SIZE_MAX && c->xmiss[r * nx + x];
                lines[p] = r == SIZE_MAX ? 0 : c->line[r];
                any |= miss[p];
            }
            if (!any || s->xerr[x] || c->fill == FILL_ERROR) continue;
            int k = fill_soft(c->fill, v + f0, miss + f0, nr - f0);
            if (k) {
                s->xline[x] = lines[f0];
                s->xcol[x] = (int)c->xcol[x] + 1;
                s->xerr[x] = ntg__pool_fmt(
                    c->pool, "column '%.*s' (series '%.*s'): %s", SHOWN, s->xnames[x], SHOWN,
                    names[id],
                    k == 1 ? "no numeric cell to fill from"
                           : "the series starts with a missing cell and ffill has no earlier "
                             "value");
                if (!s->xerr[x]) {
                    free(miss);
                    free(lines);
                    return rd_nomem(&c->r);
                }
            }
        }
    }
    free(miss);
    free(lines);
    return 0;
}

static int push_row(cparse *c, size_t width)
{
    size_t need = (c->rows + 1) * width;
    if (grow(&c->val, &c->vcap, need, sizeof *c->val) || grow(&c->miss, &c->mcap, need, 1) ||
        grow(&c->line, &c->lcap, c->rows + 1, sizeof *c->line) ||
        grow(&c->date, &c->dcap, c->rows + 1, sizeof *c->date))
        return rd_nomem(&c->r);
    return 0;
}

static const char *pool_field(cparse *c, const cfield *f)
{
    const char *s = ntg__pool_strndup(c->pool, f->s, f->len);
    if (!s) rd_nomem(&c->r);
    return s;
}

static int check_fields(cparse *c)
{
    if (c->r.nf != c->nh)
        return rd_fail(&c->r, NTG_ERR_PARSE, c->r.f[0].line, 0,
                       "row has %zu field%s, the header has %zu", c->r.nf, c->r.nf == 1 ? "" : "s",
                       c->nh);
    return 0;
}

static int is_date_header(const char *s)
{
    static const char *const names[] = {"date", "ds", "time", "timestamp", "month"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ascii_ieq(s, strlen(s), names[i])) return 1;
    return 0;
}

/* Whether the first column holds dates: by its name, else by its first
 * non-empty cell.  Reads ahead and rewinds the reader. */
static int first_column_is_date(cparse *c)
{
    if (is_date_header(c->hname[0])) return 1;
    if (c->nh < 2) return 0;
    const char *p = c->r.p;
    int line = c->r.line;
    int answer = 0;
    for (;;) {
        int k = read_record(&c->r);
        if (k <= 0) break; /* errors are reported again by the real pass */
        double v;
        int kind = parse_cell(c->r.f[0].s, c->r.f[0].len, &v);
        if (kind == CELL_EMPTY) continue;
        answer = kind == CELL_JUNK;
        break;
    }
    c->r.p = p;
    c->r.line = line;
    c->r.status = NTG_OK;
    return answer;
}

/* --dates strict: when the first date is a time stamp the column is a time axis, so every
 * date must be a valid time stamp and later than the one before; a cell shaped like a
 * time stamp but invalid (2016-02-30) is an error either way.  dates[i] sits on file
 * line lines[i], field col.  --dates loose skips all of it. */
static int check_dates(cparse *c, const char *const *dates, const int *lines, size_t n, int col,
                       const char *colname)
{
    if (c->loose_dates || n == 0) return 0;
    static const char *const hint = "--dates loose reads the column as it is";
    int axis = ntg__date_epoch(dates[0]) != INT64_MIN;
    int64_t prev = INT64_MIN;
    for (size_t r = 0; r < n; r++) {
        int64_t e = ntg__date_epoch(dates[r]);
        if (e == INT64_MIN) {
            if (!axis && !ntg__date_shaped(dates[r])) continue;
            if (axis && r > 0)
                return rd_fail(&c->r, NTG_ERR_DATA, lines[r], col,
                               "date column '%.*s': '%.*s' is not a valid time stamp like line "
                               "%d's '%.*s' (%s)",
                               SHOWN, colname, SHOWN, dates[r], lines[0], SHOWN, dates[0], hint);
            return rd_fail(&c->r, NTG_ERR_DATA, lines[r], col,
                           "date column '%.*s': '%.*s' is not a valid date (%s)", SHOWN, colname,
                           SHOWN, dates[r], hint);
        }
        if (axis && r > 0 && e <= prev)
            return rd_fail(&c->r, NTG_ERR_DATA, lines[r], col,
                           "date column '%.*s': '%.*s' %s '%.*s' on line %d (dates must "
                           "increase; %s)",
                           SHOWN, colname, SHOWN, dates[r],
                           e == prev ? "repeats the date" : "goes back in time from", SHOWN,
                           dates[r - 1], lines[r - 1], hint);
        prev = e;
    }
    return 0;
}

static int read_wide(cparse *c)
{
    ntg_series *s = c->s;
    int has_date = first_column_is_date(c);
    size_t nc = c->nh - (size_t)has_date;
    if (!nc)
        return rd_fail(&c->r, NTG_ERR_PARSE, c->hline, 1,
                       "no value columns: the only column, '%.*s', holds dates", SHOWN,
                       c->hname[0]);
    for (size_t j = (size_t)has_date; j < c->nh; j++)
        if (!c->hname[j][0])
            return rd_fail(&c->r, NTG_ERR_PARSE, c->hline, (int)j + 1,
                           "column %zu has an empty name", j + 1);
    s->n_cols = nc;
    s->names = c->hname + has_date;
    if (has_date) s->date_name = c->hname[0];
    int k;
    while ((k = read_record(&c->r)) > 0) {
        if (check_fields(c) || push_row(c, nc)) return -1;
        size_t r = c->rows;
        c->line[r] = c->r.f[0].line;
        if (has_date && !(c->date[r] = pool_field(c, &c->r.f[0]))) return -1;
        for (size_t j = 0; j < nc; j++) {
            const cfield *f = &c->r.f[j + (size_t)has_date];
            if (take_cell(c, f, (int)(j + (size_t)has_date) + 1, s->names[j], NULL,
                          &c->val[r * nc + j], &c->miss[r * nc + j]))
                return -1;
        }
        c->rows++;
    }
    if (k < 0) return -1;

    size_t nr = c->rows;
    s->n_rows = nr;
    s->values = ntg__pool_array(c->pool, nr * nc + 1, sizeof *s->values);
    unsigned char *miss = malloc(nr + 1);
    if (!s->values || !miss) {
        free(miss);
        return rd_nomem(&c->r);
    }
    for (size_t j = 0; j < nc; j++) {
        double *col = s->values + j * nr;
        int any = 0;
        for (size_t r = 0; r < nr; r++) {
            col[r] = c->val[r * nc + j];
            miss[r] = c->miss[r * nc + j];
            any |= miss[r];
        }
        char what[2 * SHOWN + 32];
        cell_what(what, sizeof what, s->names[j], NULL);
        if (any && fill_column(c, col, miss, nr, c->line, (int)(j + (size_t)has_date) + 1, what)) {
            free(miss);
            return -1;
        }
    }
    free(miss);
    if (has_date) {
        if (check_dates(c, c->date, c->line, nr, 1, c->hname[0])) return -1;
        s->dates = ntg__pool_array(c->pool, nr + 1, sizeof *s->dates);
        if (!s->dates) return rd_nomem(&c->r);
        if (nr) memcpy(s->dates, c->date, nr * sizeof *s->dates);
    }
    return 0;
}

/* The ds values every series shares (series 0's rows ref[0..n)) as a time axis. */
static int check_long_dates(cparse *c, const size_t *ref, size_t n, int col)
{
    const char **ds = malloc((n + 1) * sizeof *ds);
    int *lines = malloc((n + 1) * sizeof *lines);
    int rc = ds && lines ? 0 : rd_nomem(&c->r);
    for (size_t i = 0; !rc && i < n; i++) {
        ds[i] = c->date[ref[i]];
        lines[i] = c->line[ref[i]];
    }
    if (!rc) rc = check_dates(c, ds, lines, n, col, "ds");
    free(ds);
    free(lines);
    return rc;
}

/* ---------------------------------------------------- long format sorted by ds */

typedef struct ordkey {
    int64_t key;
    size_t row;
} ordkey;

static int ordkey_cmp(const void *pa, const void *pb)
{
    const ordkey *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

static int i64_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return a < b ? -1 : a > b;
}

/* A ds cell that is a whole integer (optional sign, digits, at most 18 of them). */
static int ds_integer(const char *s, int64_t *v)
{
    size_t n = strlen(s);
    trim(&s, &n);
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n || n - i > 18) return 0;
    int64_t x = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

/* Whether a spacing d of consecutive ds is the panel's step: exactly, or within the
 * day ranges of a calendar month, quarter or year step. */
static int step_ok(int64_t d, int64_t step, int is_int)
{
    if (d == step) return 1;
    if (is_int) return 0;
    static const int64_t cls[3][2] = {{28, 31}, {89, 92}, {365, 366}};
    for (int k = 0; k < 3; k++) {
        int64_t lo = cls[k][0] * 86400, hi = cls[k][1] * 86400;
        if (step >= lo && step <= hi) return d >= lo && d <= hi;
    }
    return 0;
}

/* The long layout when every ds is a time stamp or every ds an integer: each series
 * sorted by ds, repeats and gaps refused; a rectangular series when all series share
 * their ds, else a ragged panel.  Returns 1 when the ds are neither (the caller reads
 * them as labels), 0 when done, -1 on error. */
static int read_long_keyed(cparse *c, const char *const *names, size_t ns, size_t ids, size_t iy)
{
    size_t n = c->rows;
    ordkey *ord = malloc(n * sizeof *ord);
    size_t *off = calloc(ns + 2, sizeof *off);
    size_t *fill = calloc(ns + 1, sizeof *fill);
    int64_t *diff = malloc(n * sizeof *diff + 1);
    int rc = -1;
    if (!ord || !off || !fill || !diff) {
        rd_nomem(&c->r);
        goto out;
    }
    int all_ts = 1, all_int = 1;
    for (size_t r = 0; r < n && (all_ts || all_int); r++) {
        int64_t v;
        if (all_ts && ntg__date_epoch(c->date[r]) == INT64_MIN) all_ts = 0;
        if (all_int && !ds_integer(c->date[r], &v)) all_int = 0;
    }
    if (!all_ts && !all_int) {
        rc = 1;
        goto out;
    }
    int is_int = !all_ts;
    for (size_t r = 0; r < n; r++) off[c->sid[r] + 1]++;
    for (size_t id = 0; id < ns; id++) off[id + 1] += off[id];
    for (size_t r = 0; r < n; r++) {
        size_t at = off[c->sid[r]] + fill[c->sid[r]]++;
        int64_t v = 0;
        if (is_int)
            ds_integer(c->date[r], &v);
        else
            v = ntg__date_epoch(c->date[r]);
        ord[at].key = v;
        ord[at].row = r;
    }
    size_t nd = 0;
    for (size_t id = 0; id < ns; id++) {
        ordkey *o = ord + off[id];
        size_t m = off[id + 1] - off[id];
        qsort(o, m, sizeof *o, ordkey_cmp);
        for (size_t i = 1; i < m; i++) {
            if (o[i].key == o[i - 1].key) {
                size_t r = o[i].row > o[i - 1].row ? o[i].row : o[i - 1].row;
                size_t q = o[i].row > o[i - 1].row ? o[i - 1].row : o[i].row;
                rd_fail(&c->r, NTG_ERR_DATA, c->line[r], (int)ids + 1,
                        "series '%.*s': ds '%.*s' repeats line %d's '%.*s' (each series needs "
                        "one row per ds)",
                        SHOWN, names[id], SHOWN, c->date[r], c->line[q], SHOWN, c->date[q]);
                goto out;
            }
            diff[nd++] = o[i].key - o[i - 1].key;
        }
    }
    int64_t step = 0;
    if (nd) {
        qsort(diff, nd, sizeof *diff, i64_cmp);
        step = diff[(nd - 1) / 2];
    }
    for (size_t id = 0; id < ns && step; id++) {
        ordkey *o = ord + off[id];
        size_t m = off[id + 1] - off[id];
        for (size_t i = 1; i < m; i++) {
            int64_t d = o[i].key - o[i - 1].key;
            if (step_ok(d, step, is_int)) continue;
            size_t r = o[i].row, q = o[i - 1].row;
            rd_fail(&c->r, NTG_ERR_DATA, c->line[r], (int)ids + 1,
                    "series '%.*s': ds '%.*s' follows '%.*s' (line %d) by %lld%s, but the "
                    "panel's step is %lld%s: a gap or an irregular step (missing rows are not "
                    "filled: add them)",
                    SHOWN, names[id], SHOWN, c->date[r], SHOWN, c->date[q], c->line[q],
                    (long long)d, is_int ? "" : " s", (long long)step, is_int ? "" : " s");
            goto out;
        }
    }
    /* Rectangular when every series has series 0's ds. */
    size_t n0 = off[1] - off[0], nr = 0;
    int aligned = 1;
    for (size_t id = 0; id < ns; id++) {
        size_t m = off[id + 1] - off[id];
        if (m > nr) nr = m;
        if (m != n0) aligned = 0;
        for (size_t i = 0; aligned && id && i < m; i++)
            if (strcmp(c->date[ord[off[id] + i].row], c->date[ord[i].row]) != 0) aligned = 0;
    }
    ntg_series *s = c->s;
    s->n_rows = nr;
    s->n_cols = ns;
    s->date_name = c->hname[ids];
    s->names = ntg__pool_array(c->pool, ns + 1, sizeof *s->names);
    s->values = ntg__pool_array(c->pool, nr * ns + 1, sizeof *s->values);
    unsigned char *miss = calloc(nr * ns + 1, 1);
    int *lines = calloc(nr * ns + 1, sizeof *lines);
    if (aligned) {
        s->dates = ntg__pool_array(c->pool, nr + 1, sizeof *s->dates);
    } else {
        s->first = ntg__pool_array(c->pool, ns + 1, sizeof *s->first);
        s->col_dates = ntg__pool_array(c->pool, nr * ns + 1, sizeof *s->col_dates);
        s->col_epoch = ntg__pool_array(c->pool, nr * ns + 1, sizeof *s->col_epoch);
        s->ds_int = is_int;
        s->ds_step = step;
    }
    if (!s->names || !s->values || !miss || !lines ||
        (aligned ? !s->dates : !s->first || !s->col_dates || !s->col_epoch)) {
        free(miss);
        free(lines);
        rd_nomem(&c->r);
        goto out;
    }
    memcpy(s->names, names, ns * sizeof *names);
    for (size_t i = 0; aligned && i < nr; i++) s->dates[i] = c->date[ord[i].row];
    size_t *src = malloc((nr * ns + 1) * sizeof *src);
    if (!src) {
        free(miss);
        free(lines);
        rd_nomem(&c->r);
        goto out;
    }
    for (size_t id = 0; id < ns; id++) {
        size_t m = off[id + 1] - off[id], f0 = nr - m;
        for (size_t i = 0; i < f0; i++) src[id * nr + i] = SIZE_MAX;
        for (size_t i = 0; i < m; i++) src[id * nr + f0 + i] = ord[off[id] + i].row;
    }
    rc = build_x(c, names, nr, ns, src);
    free(src);
    for (size_t id = 0; id < ns && !rc; id++) {
        size_t m = off[id + 1] - off[id], f0 = nr - m;
        double *v = s->values + id * nr;
        int any = 0;
        memset(v, 0, nr * sizeof *v);
        if (!aligned) {
            s->first[id] = f0;
            for (size_t i = 0; i < f0; i++) {
                s->col_dates[id * nr + i] = NULL;
                s->col_epoch[id * nr + i] = INT64_MIN;
            }
        }
        for (size_t i = 0; i < m; i++) {
            size_t r = ord[off[id] + i].row;
            v[f0 + i] = c->val[r];
            miss[id * nr + f0 + i] = c->miss[r];
            lines[id * nr + f0 + i] = c->line[r];
            any |= c->miss[r];
            if (!aligned) {
                s->col_dates[id * nr + f0 + i] = c->date[r];
                s->col_epoch[id * nr + f0 + i] = ord[off[id] + i].key;
            }
        }
        if (!any) continue; /* (no target column: nothing is missing) */
        char what[2 * SHOWN + 32];
        cell_what(what, sizeof what, c->hname[iy], names[id]);
        rc =
            fill_column(c, v + f0, miss + id * nr + f0, m, lines + id * nr + f0, (int)iy + 1, what);
    }
    free(miss);
    free(lines);
out:
    free(ord);
    free(off);
    free(fill);
    free(diff);
    return rc;
}

static int read_long(cparse *c, size_t iu, size_t ids, size_t iy)
{
    ntg_series *s = c->s;
    ntg_strmap ids_map;
    ntg_vec uids; /* const char *, in first-seen order */
    ntg__strmap_init(&ids_map);
    ntg__vec_init(&uids, sizeof(const char *));
    size_t *count = NULL, *seen = NULL, *ref = NULL, *src = NULL;
    int *last_line = NULL;
    int rc = -1, k;
    /* the other columns: covariates (exog.h) of each series */
    c->xcol = ntg__pool_array(c->pool, c->nh + 1, sizeof *c->xcol);
    c->xerr = ntg__pool_array(c->pool, c->nh + 1, sizeof *c->xerr);
    c->xline = ntg__pool_array(c->pool, c->nh + 1, sizeof *c->xline);
    c->xcolno = ntg__pool_array(c->pool, c->nh + 1, sizeof *c->xcolno);
    if (!c->xcol || !c->xerr || !c->xline || !c->xcolno) {
        rd_nomem(&c->r);
        goto done;
    }
    for (size_t j = 0; j < c->nh; j++)
        if (j != iu && j != ids && j != iy) {
            c->xerr[c->nx] = NULL;
            c->xcol[c->nx++] = j;
        }
    while ((k = read_record(&c->r)) > 0) {
        if (check_fields(c) || push_row(c, 1)) goto done;
        if (grow(&c->sid, &c->scap, c->rows + 1, sizeof *c->sid)) {
            rd_nomem(&c->r);
            goto done;
        }
        size_t r = c->rows;
        const cfield *fu = &c->r.f[iu];
        c->line[r] = c->r.f[0].line;
        if (!fu->len || memchr(fu->s, '\0', fu->len) || !ntg__utf8_valid(fu->s, fu->len)) {
            rd_fail(&c->r, NTG_ERR_DATA, fu->line, (int)iu + 1,
                    "%.*s must be non-empty UTF-8 text without NUL bytes", SHOWN, c->hname[iu]);
            goto done;
        }
        const char *uid = pool_field(c, fu);
        if (!uid || !(c->date[r] = pool_field(c, &c->r.f[ids]))) goto done;
        unsigned id;
        if (!ntg__strmap_get(&ids_map, uid, &id)) {
            const char **slot = ntg__vec_push(&uids);
            if (!slot || ntg__strmap_put(&ids_map, uid, (unsigned)uids.len - 1)) {
                rd_nomem(&c->r);
                goto done;
            }
            *slot = uid;
            id = (unsigned)uids.len - 1;
        }
        c->sid[r] = id;
        if (iy == SIZE_MAX) { /* a file of future covariates: no target */
            c->val[r] = 0;
            c->miss[r] = 0;
        } else if (take_cell(c, &c->r.f[iy], (int)iy + 1, c->hname[iy], uid, &c->val[r],
                             &c->miss[r]))
            goto done;
        if (take_xcells(c, r, uid)) goto done;
        c->rows++;
    }
    if (k < 0) goto done;

    size_t ns = uids.len, nr0 = 0;
    const char **names = (const char **)uids.data;
    if (!c->loose_dates && c->rows) {
        int kr = read_long_keyed(c, names, ns, ids, iy);
        if (kr <= 0) {
            rc = kr;
            goto done;
        }
    }
    count = calloc(ns + 1, sizeof *count);
    seen = calloc(ns + 1, sizeof *seen);
    last_line = calloc(ns + 1, sizeof *last_line);
    ref = malloc((c->rows + 1) * sizeof *ref);
    if (!count || !seen || !last_line || !ref) {
        rd_nomem(&c->r);
        goto done;
    }
    for (size_t r = 0; r < c->rows; r++) {
        count[c->sid[r]]++;
        last_line[c->sid[r]] = c->line[r];
        if (c->sid[r] == 0) ref[nr0++] = r;
    }
    /* Every series must follow series 0's ds values, row for row. */
    for (size_t r = 0; r < c->rows; r++) {
        unsigned id = c->sid[r];
        size_t i = seen[id]++;
        if (id == 0) continue;
        if (i >= nr0) {
            rd_fail(&c->r, NTG_ERR_DATA, c->line[r], (int)ids + 1,
                    "series '%.*s' has more rows than series '%.*s' (%zu): ds '%.*s' is extra",
                    SHOWN, names[id], SHOWN, names[0], nr0, SHOWN, c->date[r]);
            goto done;
        }
        if (strcmp(c->date[r], c->date[ref[i]]) != 0) {
            rd_fail(&c->r, NTG_ERR_DATA, c->line[r], (int)ids + 1,
                    "series '%.*s': ds '%.*s' where series '%.*s' has '%.*s' (line %d); every "
                    "series needs the same ds values in the same order",
                    SHOWN, names[id], SHOWN, c->date[r], SHOWN, names[0], SHOWN, c->date[ref[i]],
                    c->line[ref[i]]);
            goto done;
        }
    }
    for (size_t id = 1; id < ns; id++)
        if (count[id] < nr0) {
            rd_fail(&c->r, NTG_ERR_DATA, last_line[id], 0,
                    "series '%.*s' ends after %zu row%s; series '%.*s' has %zu (next ds '%.*s')",
                    SHOWN, names[id], count[id], count[id] == 1 ? "" : "s", SHOWN, names[0], nr0,
                    SHOWN, c->date[ref[count[id]]]);
            goto done;
        }

    if (check_long_dates(c, ref, nr0, (int)ids + 1)) goto done;
    s->n_rows = nr0;
    s->n_cols = ns;
    s->date_name = c->hname[ids];
    s->names = ntg__pool_array(c->pool, ns + 1, sizeof *s->names);
    s->values = ntg__pool_array(c->pool, nr0 * ns + 1, sizeof *s->values);
    s->dates = ntg__pool_array(c->pool, nr0 + 1, sizeof *s->dates);
    unsigned char *miss = malloc(nr0 * ns + 1);
    int *lines = malloc((nr0 * ns + 1) * sizeof *lines);
    if (!s->names || !s->values || !s->dates || !miss || !lines) {
        free(miss);
        free(lines);
        rd_nomem(&c->r);
        goto done;
    }
    if (ns) memcpy(s->names, names, ns * sizeof *names);
    for (size_t i = 0; i < nr0; i++) s->dates[i] = c->date[ref[i]];
    memset(seen, 0, (ns + 1) * sizeof *seen);
    src = malloc((nr0 * ns + 1) * sizeof *src);
    if (!src) {
        free(miss);
        free(lines);
        rd_nomem(&c->r);
        goto done;
    }
    for (size_t r = 0; r < c->rows; r++) {
        size_t at = c->sid[r] * nr0 + seen[c->sid[r]]++;
        s->values[at] = c->val[r];
        miss[at] = c->miss[r];
        lines[at] = c->line[r];
        src[at] = r;
    }
    rc = build_x(c, names, nr0, ns, src);
    for (size_t id = 0; id < ns && !rc; id++) {
        int any = 0;
        for (size_t i = 0; i < nr0; i++) any |= miss[id * nr0 + i];
        if (!any) continue; /* (no target column: nothing is missing) */
        char what[2 * SHOWN + 32];
        cell_what(what, sizeof what, c->hname[iy], names[id]);
        rc = fill_column(c, s->values + id * nr0, miss + id * nr0, nr0, lines + id * nr0,
                         (int)iy + 1, what);
    }
    free(miss);
    free(lines);
done:
    free(src);
    free(count);
    free(seen);
    free(ref);
    free(last_line);
    ntg__vec_free(&uids);
    ntg__strmap_free(&ids_map);
    return rc;
}

typedef struct hslot {
    const char *name;
    size_t col;
} hslot;

static int slot_order(const void *pa, const void *pb)
{
    const hslot *a = pa, *b = pb;
    int d = strcmp(a->name, b->name);
    return d ? d : (a->col < b->col ? -1 : a->col > b->col);
}

static int read_header(cparse *c)
{
    int k = read_record(&c->r);
    if (k < 0) return -1;
    if (k == 0) return rd_fail(&c->r, NTG_ERR_PARSE, 0, 0, "no header line (the file is empty)");
    c->nh = c->r.nf;
    c->hline = c->r.f[0].line;
    c->hname = ntg__pool_array(c->pool, c->nh + 1, sizeof *c->hname);
    if (!c->hname) return rd_nomem(&c->r);
    for (size_t j = 0; j < c->nh; j++) {
        const cfield *f = &c->r.f[j];
        if (memchr(f->s, '\0', f->len) || !ntg__utf8_valid(f->s, f->len))
            return rd_fail(&c->r, NTG_ERR_PARSE, f->line, (int)j + 1,
                           "the name of column %zu is not valid UTF-8 text", j + 1);
        if (!(c->hname[j] = pool_field(c, f))) return -1;
    }
    /* Names find columns: two columns of one name would hide one of them.  Sorted,
     * so a hostile header of a million columns costs n log n, not n^2. */
    hslot *by = malloc((c->nh + 1) * sizeof *by);
    if (!by) return rd_nomem(&c->r);
    for (size_t j = 0; j < c->nh; j++) by[j] = (hslot){c->hname[j], j};
    qsort(by, c->nh, sizeof *by, slot_order);
    size_t first = 0, again = SIZE_MAX;
    for (size_t q = 1, run = 0; q < c->nh; q++) {
        if (strcmp(by[q - 1].name, by[q].name) != 0) {
            run = q;
            continue;
        }
        /* by[run] is the first column of this name; report the earliest repeat */
        if (by[q].name[0] && by[q].col < again) {
            first = by[run].col;
            again = by[q].col;
        }
    }
    free(by);
    if (again != SIZE_MAX)
        return rd_fail(&c->r, NTG_ERR_PARSE, c->r.f[again].line, (int)again + 1,
                       "column name '%.*s' repeats column %zu", SHOWN, c->hname[again], first + 1);
    return 0;
}

/* ------------------------------------------------------------------- gzip */

static int is_gzip(const char *t, size_t n)
{
    return n >= 2 && (unsigned char)t[0] == 0x1f && (unsigned char)t[1] == 0x8b;
}

#ifdef NTG_HAVE_ZLIB
/* Inflate the gzip data (one or more members, as `gzip -c a b` writes) into *out, refusing
 * more than `cap` bytes of output: a small file must not expand into all the memory there is
 * (a decompression bomb). */
static ntg_status gunzip(const char *in, size_t n, const char *file, size_t cap, char **out,
                         size_t *out_len, ntg_error *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return ntg__fail(err, NTG_ERR_NOMEM, "%s: cannot start gzip decompression", file);
    size_t bcap = n < cap / 4 ? 4 * n + 4096 : cap + 1, len = 0;
    if (bcap > cap + 1) bcap = cap + 1;
    char *buf = malloc(bcap);
    ntg_status st = NTG_OK;
    const unsigned char *p = (const unsigned char *)in, *end = p + n;
    int done = 0;
    if (!buf)
        st = ntg__fail(err, NTG_ERR_NOMEM, "%s: out of memory for the decompressed data", file);
    while (!st && !done) {
        if (len == bcap) {
            if (bcap > cap) {
                st = ntg__err(err, NTG_ERR_RANGE, file, 0, 0,
                              "decompresses to more than %zu bytes, the limit for compressed "
                              "input (a decompression bomb?)",
                              cap);
                break;
            }
            size_t nc = bcap > (cap + 1) / 2 ? cap + 1 : bcap * 2;
            char *nb = realloc(buf, nc);
            if (!nb) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "%s: out of memory for the decompressed data",
                               file);
                break;
            }
            buf = nb;
            bcap = nc;
        }
        size_t in_left = (size_t)(end - p), out_left = bcap - len;
        z.next_in = (unsigned char *)(uintptr_t)p;
        z.avail_in = in_left > UINT_MAX ? UINT_MAX : (unsigned)in_left;
        z.next_out = (unsigned char *)buf + len;
        z.avail_out = out_left > UINT_MAX ? UINT_MAX : (unsigned)out_left;
        unsigned ai = z.avail_in, ao = z.avail_out;
        int rc = inflate(&z, Z_NO_FLUSH);
        p += ai - z.avail_in;
        len += ao - z.avail_out;
        if (rc == Z_STREAM_END) {
            if (p == end) {
                done = 1;
            } else if (is_gzip((const char *)p, (size_t)(end - p))) {
                inflateReset(&z); /* the next member */
            } else {
                st = ntg__err(err, NTG_ERR_PARSE, file, 0, 0,
                              "%zu bytes after the end of the gzip data", (size_t)(end - p));
            }
        } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
            st = ntg__err(err, NTG_ERR_PARSE, file, 0, 0, "not valid gzip data (%s)",
                          z.msg ? z.msg : "corrupt");
        } else if (rc == Z_MEM_ERROR) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "%s: out of memory while decompressing", file);
        } else if (rc == Z_BUF_ERROR && p == end && len < bcap) {
            st = ntg__err(err, NTG_ERR_PARSE, file, 0, 0,
                          "the gzip data is truncated (it ends inside the compressed stream)");
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st =
                ntg__err(err, NTG_ERR_PARSE, file, 0, 0, "not valid gzip data (zlib error %d)", rc);
        }
    }
    inflateEnd(&z);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = len;
    return NTG_OK;
}
#endif

static ntg_status parse_text(const char *text, size_t len, const char *name,
                             const ntg_csv_options *o, ntg_series **out, ntg_error *err);

ntg_status ntg__csv_parse(const char *text, size_t len, const char *name, const ntg_csv_options *o,
                          ntg_series **out, ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__csv_parse: out is NULL");
    *out = NULL;
    if (!text && len) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__csv_parse: text is NULL");
    if (!text || !is_gzip(text, len)) return parse_text(text, len, name, o, out, err);
    const char *file = name ? name : "<csv>";
#ifdef NTG_HAVE_ZLIB
    size_t cap = o && o->max_inflated ? o->max_inflated : NTG__CSV_GZ_MAX;
    char *plain = NULL;
    size_t plen = 0;
    ntg_status st = gunzip(text, len, file, cap, &plain, &plen, err);
    if (st) return st;
    if (plen && is_gzip(plain, plen)) { /* compressed twice: once is what is read */
        free(plain);
        return ntg__err(err, NTG_ERR_PARSE, file, 0, 0,
                        "the decompressed data is gzip again (compressed twice?)");
    }
    st = parse_text(plain, plen, name, o, out, err);
    free(plain);
    return st;
#else
    return ntg__err(err, NTG_ERR_UNSUPPORTED, file, 0, 0,
                    "gzip-compressed input is not supported by this build (built without "
                    "zlib): decompress it first (gunzip)");
#endif
}

static ntg_status parse_text(const char *text, size_t len, const char *name,
                             const ntg_csv_options *o, ntg_series **out, ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__csv_parse: out is NULL");
    *out = NULL;
    if (!text && len) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__csv_parse: text is NULL");
    ntg_csv_options defaults;
    ntg__csv_options_init(&defaults);
    if (!o) o = &defaults;
    const char *file = name ? name : "<csv>";
    cparse c;
    memset(&c, 0, sizeof c);
    if (o->format < 0 || o->format > 2)
        return ntg__err(err, NTG_ERR_INVALID_ARG, file, 0, 0,
                        "unknown CSV format %d (0 auto, 1 wide, 2 long)", o->format);
    if (!o->fill || strcmp(o->fill, "error") == 0)
        c.fill = FILL_ERROR;
    else if (strcmp(o->fill, "zero") == 0)
        c.fill = FILL_ZERO;
    else if (strcmp(o->fill, "ffill") == 0)
        c.fill = FILL_FFILL;
    else if (strcmp(o->fill, "interpolate") == 0)
        c.fill = FILL_INTERP;
    else
        return ntg__err(err, NTG_ERR_INVALID_ARG, file, 0, 0,
                        "unknown fill '%.40s' (expected error, zero, ffill or interpolate)",
                        o->fill);
    if (o->dates && strcmp(o->dates, "loose") == 0)
        c.loose_dates = 1;
    else if (o->dates && strcmp(o->dates, "strict") != 0)
        return ntg__err(err, NTG_ERR_INVALID_ARG, file, 0, 0,
                        "unknown dates mode '%.40s' (expected strict or loose)", o->dates);
    c.pool = ntg__pool_create();
    c.s = c.pool ? ntg__pool_alloc(c.pool, sizeof *c.s) : NULL;
    if (!c.s) {
        ntg__pool_destroy(c.pool);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    c.s->pool = c.pool;
    c.r.p = text ? text : "";
    c.r.end = c.r.p + len;
    c.r.line = 1;
    c.r.file = file;
    c.r.err = err;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) c.r.p += 3;

    int rc = read_header(&c);
    if (!rc) {
        size_t iu = SIZE_MAX, ids = SIZE_MAX, iy = SIZE_MAX;
        const char *nu = o->id_col ? o->id_col : "unique_id";
        const char *nd = o->date_col ? o->date_col : "ds";
        const char *ny = o->target ? o->target : "y";
        for (size_t j = 0; j < c.nh; j++) {
            if (same(c.hname[j], strlen(c.hname[j]), nu)) iu = j;
            if (same(c.hname[j], strlen(c.hname[j]), nd)) ids = j;
            if (same(c.hname[j], strlen(c.hname[j]), ny)) iy = j;
        }
        int all = iu != SIZE_MAX && ids != SIZE_MAX && iy != SIZE_MAX;
        if (o->format == 2 && o->target_optional && iu != SIZE_MAX && ids != SIZE_MAX)
            all = 1; /* future covariates keyed by id and date: the target may be absent */
        if (o->format == 2 && o->target_optional && !all)
            rc = rd_fail(&c.r, NTG_ERR_PARSE, c.hline, 0,
                         "a long-format file of future covariates needs columns %.*s and %.*s "
                         "(and the covariates); the header lacks '%.*s'",
                         SHOWN, nu, SHOWN, nd, SHOWN, iu == SIZE_MAX ? nu : nd);
        else if (o->format == 2 && !all)
            rc = rd_fail(&c.r, NTG_ERR_PARSE, c.hline, 0,
                         "long format needs columns %.*s, %.*s and %.*s; the header lacks "
                         "'%.*s'",
                         SHOWN, nu, SHOWN, nd, SHOWN, ny, SHOWN,
                         iu == SIZE_MAX    ? nu
                         : ids == SIZE_MAX ? nd
                                           : ny);
        else if (o->format == 2 || (o->format == 0 && all)) {
            rc = read_long(&c, iu, ids, iy);
            c.s->is_long = 1;
        } else
            rc = read_wide(&c);
    }
    if (!rc && c.s->dates) {
        c.s->epoch = ntg__pool_array(c.pool, c.s->n_rows + 1, sizeof *c.s->epoch);
        if (!c.s->epoch)
            rc = rd_nomem(&c.r);
        else
            for (size_t r = 0; r < c.s->n_rows; r++) c.s->epoch[r] = ntg__date_epoch(c.s->dates[r]);
    }
    free(c.r.f);
    free(c.r.scratch);
    free(c.val);
    free(c.miss);
    free(c.line);
    free(c.date);
    free(c.sid);
    free(c.xval);
    free(c.xmiss);
    if (rc) {
        ntg__pool_destroy(c.pool);
        return c.r.status ? c.r.status : NTG_ERR_INTERNAL;
    }
    *out = c.s;
    return NTG_OK;
}

ntg_status ntg__csv_read(const char *path, const ntg_csv_options *o, ntg_series **out,
                         ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__csv_read: out is NULL");
    *out = NULL;
    if (!path) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__csv_read: path is NULL");
    char *buf;
    size_t len;
    ntg_status st = ntg__file_read(path, 0, &buf, &len, err);
    if (st) return st;
    st = ntg__csv_parse(buf, len, path, o, out, err);
    free(buf);
    return st;
}
