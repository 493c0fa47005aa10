/* tune_space.c — the search space of `ntgraph tune` and its random and TPE samplers. */
#include "tune_space.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

static int fail(char *msg, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static int parse_num(const char *t, double *v)
{
    char *end;
    *v = strtod(t, &end);
    return end != t && *end == '\0' && isfinite(*v);
}

static void param_free(tune_param *p)
{
    for (size_t k = 0; k < p->n_choices; k++) free(p->choices[k]);
    p->n_choices = 0;
}

int tune_space_add(tune_space *s, const char *line, char *msg, size_t cap)
{
    char buf[2048];
    if (strlen(line) >= sizeof buf) return fail(msg, cap, "'%.40s...': too long", line);
    snprintf(buf, sizeof buf, "%s", line);
    char *eq = strchr(buf, '=');
    if (!eq)
        return fail(msg, cap, "'%s': expected NAME=SPEC, e.g. train.lr=loguniform(1e-4,1e-2)",
                    line);
    *eq = '\0';
    char *name = trim(buf), *spec = trim(eq + 1);
    tune_param p;
    memset(&p, 0, sizeof p);
    const char *bare;
    if (strncmp(name, "hparams.", 8) == 0) {
        p.target = TUNE_HPARAM;
        bare = name + 8;
    } else if (strncmp(name, "train.", 6) == 0) {
        p.target = TUNE_TRAIN;
        bare = name + 6;
    } else
        return fail(msg, cap,
                    "parameter '%s': the name must be hparams.NAME (a graph hparam, as -D) or "
                    "train.KEY (a train: key, as -T)",
                    name);
    if (!*bare || strlen(bare) >= sizeof p.name)
        return fail(msg, cap, "parameter '%s': empty or too long a name", name);
    for (const char *c = bare; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_')
            return fail(msg, cap, "parameter '%s': a name is letters, digits and '_'", name);
    snprintf(p.name, sizeof p.name, "%s", bare);
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].target == p.target && strcmp(s->p[i].name, p.name) == 0)
            return fail(msg, cap, "parameter '%s' given twice", name);
    if (s->n >= TUNE_MAX_PARAMS)
        return fail(msg, cap, "parameter '%s': at most %d parameters", name, TUNE_MAX_PARAMS);

    char *open = strchr(spec, '(');
    size_t len = strlen(spec);
    if (!open || len == 0 || spec[len - 1] != ')')
        return fail(msg, cap,
                    "parameter '%s': '%s' is not a distribution: uniform(a,b), loguniform(a,b), "
                    "int(a,b) or choice(v1,v2,...)",
                    name, spec);
    *open = '\0';
    spec[len - 1] = '\0';
    char *dist = trim(spec), *args = open + 1;
    /* the arguments, split at top-level commas ([lists] keep theirs) */
    char *parts[TUNE_MAX_CHOICES + 1];
    size_t np = 0;
    int depth = 0;
    char *start = args;
    for (char *c = args;; c++) {
        if (*c == '[') depth++;
        if (*c == ']' && --depth < 0)
            return fail(msg, cap, "parameter '%s': unbalanced ']' in '%s'", name, args);
        if ((*c == ',' && depth == 0) || *c == '\0') {
            int end = *c == '\0';
            *c = '\0';
            if (np > TUNE_MAX_CHOICES)
                return fail(msg, cap, "parameter '%s': at most %d choices", name, TUNE_MAX_CHOICES);
            parts[np++] = trim(start);
            start = c + 1;
            if (end) break;
        }
    }
    if (depth != 0) return fail(msg, cap, "parameter '%s': unbalanced '[' in '%s'", name, args);
    for (size_t k = 0; k < np; k++)
        if (!*parts[k]) return fail(msg, cap, "parameter '%s': an empty argument", name);

    if (strcmp(dist, "choice") == 0) {
        p.kind = TUNE_CHOICE;
        if (np < 1 || np > TUNE_MAX_CHOICES)
            return fail(msg, cap, "parameter '%s': choice takes 1 to %d values", name,
                        TUNE_MAX_CHOICES);
        for (size_t k = 0; k < np; k++) {
            for (size_t j = 0; j < k; j++)
                if (strcmp(parts[j], parts[k]) == 0) {
                    param_free(&p);
                    return fail(msg, cap, "parameter '%s': choice value '%s' given twice", name,
                                parts[k]);
                }
            p.choices[k] = strdup(parts[k]);
            if (!p.choices[k]) {
                param_free(&p);
                return fail(msg, cap, "out of memory");
            }
            p.n_choices = k + 1;
        }
        s->p[s->n++] = p;
        return 0;
    }
    if (strcmp(dist, "uniform") == 0)
        p.kind = TUNE_UNIFORM;
    else if (strcmp(dist, "loguniform") == 0)
        p.kind = TUNE_LOGUNIFORM;
    else if (strcmp(dist, "int") == 0)
        p.kind = TUNE_INT;
    else
        return fail(msg, cap,
                    "parameter '%s': unknown distribution '%s' (uniform, loguniform, int, choice)",
                    name, dist);
    if (np != 2)
        return fail(msg, cap, "parameter '%s': %s takes two bounds, (low, high), not %zu", name,
                    dist, np);
    if (!parse_num(parts[0], &p.lo) || !parse_num(parts[1], &p.hi))
        return fail(msg, cap, "parameter '%s': bounds '%s', '%s' are not finite numbers", name,
                    parts[0], parts[1]);
    if (!(p.lo < p.hi))
        return fail(msg, cap, "parameter '%s': low %g must be below high %g", name, p.lo, p.hi);
    if (p.kind == TUNE_LOGUNIFORM && !(p.lo > 0))
        return fail(msg, cap, "parameter '%s': loguniform needs a low bound above 0, not %g", name,
                    p.lo);
    if (p.kind == TUNE_INT &&
        (p.lo != floor(p.lo) || p.hi != floor(p.hi) || fabs(p.lo) > 1e15 || fabs(p.hi) > 1e15))
        return fail(msg, cap, "parameter '%s': int bounds must be integers, not %g, %g", name, p.lo,
                    p.hi);
    s->p[s->n++] = p;
    return 0;
}

int tune_space_load(tune_space *s, const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return fail(msg, cap, "cannot read the space file %s", path);
    char line[2048], inner[1024];
    int ln = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *t = trim(line);
        if (!*t) continue;
        if (tune_space_add(s, t, inner, sizeof inner)) {
            rc = fail(msg, cap, "%s:%d: %s", path, ln, inner);
            break;
        }
    }
    fclose(f);
    if (!rc && s->n == 0) rc = fail(msg, cap, "%s: no parameters (NAME=SPEC lines)", path);
    return rc;
}

void tune_space_free(tune_space *s)
{
    for (size_t i = 0; i < s->n; i++) param_free(&s->p[i]);
    s->n = 0;
}

/* Random numbers: stream (trial, parameter), element counter i. */
static double unif(uint64_t seed, uint64_t trial, size_t j, uint64_t *i)
{
    return ntg__rng_uniform(seed, (trial << 8) ^ (uint64_t)j, (*i)++);
}

/* The parameter's internal axis: log for loguniform, the value otherwise (int on
 * [lo - 0.5, hi + 0.5] so every integer gets the same width). */
static void axis(const tune_param *p, double *a, double *b)
{
    if (p->kind == TUNE_LOGUNIFORM) {
        *a = log(p->lo);
        *b = log(p->hi);
    } else if (p->kind == TUNE_INT) {
        *a = p->lo - 0.5;
        *b = p->hi + 0.5;
    } else {
        *a = p->lo;
        *b = p->hi;
    }
}

static double to_axis(const tune_param *p, double v)
{
    return p->kind == TUNE_LOGUNIFORM ? log(v) : v;
}

static double from_axis(const tune_param *p, double z)
{
    double a, b;
    axis(p, &a, &b);
    if (z < a) z = a;
    if (z > b) z = b;
    if (p->kind == TUNE_LOGUNIFORM) {
        double v = exp(z);
        return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
    }
    if (p->kind == TUNE_INT) {
        double v = floor(z + 0.5);
        return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
    }
    return z;
}

static double sample_one(const tune_param *p, uint64_t seed, uint64_t trial, size_t j)
{
    uint64_t i = 0;
    double u = unif(seed, trial, j, &i);
    if (p->kind == TUNE_CHOICE) {
        size_t k = (size_t)(u * (double)p->n_choices);
        return (double)(k < p->n_choices ? k : p->n_choices - 1);
    }
    double a, b;
    axis(p, &a, &b);
    return from_axis(p, a + u * (b - a));
}

void tune_sample_random(const tune_space *s, uint64_t seed, uint64_t trial, double *x)
{
    for (size_t j = 0; j < s->n; j++) x[j] = sample_one(&s->p[j], seed, trial, j);
}

/* ---------------------------------------------------------------- TPE */

/* A one-dimensional Parzen estimator on [a, b]: a prior component N((a+b)/2, b-a) and a
 * Gaussian at each point, its width the larger gap to its sorted neighbours (the bounds
 * included), clipped to [(b-a)/min(100, n+1), b-a] (hyperopt's rule); every component
 * truncated to [a, b] and weighted equally. */
typedef struct parzen {
    double *mu, *sigma, *mass; /* n + 1 components, the prior last */
    size_t n;
    double a, b;
} parzen;

static double phi(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static int cmp_double(const void *x, const void *y)
{
    double u = *(const double *)x, v = *(const double *)y;
    return u < v ? -1 : u > v;
}

static int parzen_fit(parzen *pz, const double *pts, size_t n, double a, double b)
{
    pz->n = n;
    pz->a = a;
    pz->b = b;
    pz->mu = malloc((n + 1) * sizeof *pz->mu);
    pz->sigma = malloc((n + 1) * sizeof *pz->sigma);
    pz->mass = malloc((n + 1) * sizeof *pz->mass);
    if (!pz->mu || !pz->sigma || !pz->mass) return -1;
    for (size_t k = 0; k < n; k++) pz->mu[k] = pts[k];
    qsort(pz->mu, n, sizeof *pz->mu, cmp_double);
    double w = b - a, lo = w / (double)(n + 1 < 100 ? n + 1 : 100);
    for (size_t k = 0; k < n; k++) {
        double left = pz->mu[k] - (k ? pz->mu[k - 1] : a);
        double right = (k + 1 < n ? pz->mu[k + 1] : b) - pz->mu[k];
        double s = left > right ? left : right;
        pz->sigma[k] = s < lo ? lo : s > w ? w : s;
    }
    pz->mu[n] = 0.5 * (a + b);
    pz->sigma[n] = w;
    for (size_t k = 0; k <= n; k++) {
        double m = phi((b - pz->mu[k]) / pz->sigma[k]) - phi((a - pz->mu[k]) / pz->sigma[k]);
        pz->mass[k] = m > 1e-300 ? m : 1e-300;
    }
    return 0;
}

static void parzen_free(parzen *pz)
{
    free(pz->mu);
    free(pz->sigma);
    free(pz->mass);
}

static double parzen_logpdf(const parzen *pz, double z)
{
    double sum = 0;
    for (size_t k = 0; k <= pz->n; k++) {
        double d = (z - pz->mu[k]) / pz->sigma[k];
        sum += exp(-0.5 * d * d) / (pz->sigma[k] * 2.5066282746310002 * pz->mass[k]);
    }
    sum /= (double)(pz->n + 1);
    return log(sum > 1e-300 ? sum : 1e-300);
}

/* One draw from the mixture, truncated to [a, b] (inverse CDF of the chosen component). */
static double parzen_sample(const parzen *pz, uint64_t seed, uint64_t trial, size_t j, uint64_t *i)
{
    size_t k = (size_t)(unif(seed, trial, j, i) * (double)(pz->n + 1));
    if (k > pz->n) k = pz->n;
    double m = pz->mu[k], s = pz->sigma[k];
    double pa = phi((pz->a - m) / s), pb = phi((pz->b - m) / s);
    double u = pa + unif(seed, trial, j, i) * (pb - pa);
    /* invert phi by bisection: robust and plenty fast for a few dozen draws */
    double lo = pz->a, hi = pz->b;
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (phi((mid - m) / s) < u)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

typedef struct ranked {
    double y;
    size_t i;
} ranked;

static int cmp_ranked(const void *x, const void *y)
{
    const ranked *u = x, *v = y;
    if (u->y != v->y) return u->y < v->y ? -1 : 1;
    return u->i < v->i ? -1 : u->i > v->i;
}

void tune_sample_tpe(const tune_space *s, const double *X, const double *y, size_t n,
                     const tune_tpe_options *o, uint64_t seed, uint64_t trial, double *x)
{
    double gamma = o && o->gamma > 0 && o->gamma < 1 ? o->gamma : 0.25;
    int K = o && o->candidates > 0 ? o->candidates : 24;
    size_t n_ok = 0;
    for (size_t t = 0; t < n; t++) n_ok += isfinite(y[t]) != 0;
    ranked *r = n ? malloc(n * sizeof *r) : NULL;
    double *good = n ? malloc(n * sizeof *good) : NULL, *bad = n ? malloc(n * sizeof *bad) : NULL;
    if (n_ok < 2 || !r || !good || !bad) {
        free(r);
        free(good);
        free(bad);
        tune_sample_random(s, seed, trial, x);
        return;
    }
    /* failed trials rank last (losses of +inf), ties by trial order */
    for (size_t t = 0; t < n; t++) {
        r[t].y = isfinite(y[t]) ? y[t] : INFINITY;
        r[t].i = t;
    }
    qsort(r, n, sizeof *r, cmp_ranked);
    size_t n_good = (size_t)ceil(gamma * (double)n_ok);
    if (n_good < 1) n_good = 1;
    for (size_t j = 0; j < s->n; j++) {
        const tune_param *p = &s->p[j];
        uint64_t i = 0;
        if (p->kind == TUNE_CHOICE) {
            /* categorical: counts plus one prior count per choice */
            double lw[TUNE_MAX_CHOICES], gw[TUNE_MAX_CHOICES];
            size_t nc = p->n_choices;
            for (size_t k = 0; k < nc; k++) lw[k] = gw[k] = 1.0;
            for (size_t t = 0; t < n; t++) {
                size_t k = (size_t)X[r[t].i * s->n + j];
                if (k >= nc) continue;
                if (t < n_good)
                    lw[k] += 1;
                else
                    gw[k] += 1;
            }
            double lsum = 0, gsum = 0;
            for (size_t k = 0; k < nc; k++) {
                lsum += lw[k];
                gsum += gw[k];
            }
            double best = -INFINITY;
            size_t pick = 0;
            for (int c = 0; c < K; c++) {
                double u = unif(seed, trial, j, &i) * lsum, acc = 0;
                size_t k = 0;
                for (; k + 1 < nc; k++) {
                    acc += lw[k];
                    if (u < acc) break;
                }
                double score = log(lw[k] / lsum) - log(gw[k] / gsum);
                if (score > best) {
                    best = score;
                    pick = k;
                }
            }
            x[j] = (double)pick;
            continue;
        }
        double a, b;
        axis(p, &a, &b);
        size_t ng = 0, nb = 0;
        for (size_t t = 0; t < n; t++) {
            double z = to_axis(p, X[r[t].i * s->n + j]);
            if (t < n_good)
                good[ng++] = z;
            else
                bad[nb++] = z;
        }
        parzen l, g;
        memset(&l, 0, sizeof l);
        memset(&g, 0, sizeof g);
        if (parzen_fit(&l, good, ng, a, b) || parzen_fit(&g, bad, nb, a, b)) {
            parzen_free(&l);
            parzen_free(&g);
            x[j] = sample_one(p, seed, trial, j);
            continue;
        }
        double best = -INFINITY, pick = from_axis(p, 0.5 * (a + b));
        for (int c = 0; c < K; c++) {
            double v = from_axis(p, parzen_sample(&l, seed, trial, j, &i));
            double z = to_axis(p, v);
            double score = parzen_logpdf(&l, z) - parzen_logpdf(&g, z);
            if (score > best) {
                best = score;
                pick = v;
            }
        }
        x[j] = pick;
        parzen_free(&l);
        parzen_free(&g);
    }
    free(r);
    free(good);
    free(bad);
}

/* text without its spaces, into buf; 0 when it did not fit */
static int squeeze(const char *text, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *c = text; *c; c++) {
        if (isspace((unsigned char)*c)) continue;
        if (n + 1 >= cap) return 0;
        buf[n++] = *c;
    }
    buf[n] = '\0';
    return 1;
}

int tune_value_of(const tune_param *p, const char *text, double *x)
{
    char a[1024], b[1024];
    double v, w;
    if (!text || !squeeze(text, a, sizeof a)) return -1;
    if (p->kind == TUNE_CHOICE) {
        int num = parse_num(a, &v);
        for (size_t k = 0; k < p->n_choices; k++) {
            if (!squeeze(p->choices[k], b, sizeof b)) continue;
            if (strcmp(a, b) == 0 || (num && parse_num(b, &w) && v == w)) {
                *x = (double)k;
                return 0;
            }
        }
        return -1;
    }
    if (!parse_num(a, &v) || v < p->lo || v > p->hi) return -1;
    if (p->kind == TUNE_INT && v != floor(v)) return -1;
    *x = v;
    return 0;
}

void tune_format(const tune_param *p, double v, char *buf, size_t cap)
{
    switch (p->kind) {
    case TUNE_CHOICE: {
        size_t k = (size_t)v;
        snprintf(buf, cap, "%s", k < p->n_choices ? p->choices[k] : "?");
        break;
    }
    case TUNE_INT:
        snprintf(buf, cap, "%.0f", v);
        break;
    default:
        snprintf(buf, cap, "%.6g", v);
    }
}
