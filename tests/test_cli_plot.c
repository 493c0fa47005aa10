/* test_cli_plot.c — the SVG forecast plot (cli/plot.c): well-formed XML, series. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "plot.h"
#include "testutil.h"

/* ---------------------------------------------- a small XML 1.0 checker */

/* What the checker saw of one element: enough to count the plotted series. */
typedef struct elem {
    char name[32];
    char cls[32];
    int n_points; /* pairs in a points attribute, -1 when there is none */
} elem;

typedef struct xml {
    const char *start, *p, *end;
    elem *elems;
    size_t n_elems, cap;
    char why[160];
} xml;

static int fail(xml *x, const char *what)
{
    snprintf(x->why, sizeof x->why, "%s at byte %td", what, x->p - x->start);
    return 0;
}

static int name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* An entity or character reference after '&'. */
static int reference(xml *x)
{
    static const char *const named[] = {"amp;", "lt;", "gt;", "quot;", "apos;"};
    x->p++;
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(named[i]);
        if ((size_t)(x->end - x->p) >= n && memcmp(x->p, named[i], n) == 0) {
            x->p += n;
            return 1;
        }
    }
    if (*x->p == '#') {
        x->p++;
        int hex = *x->p == 'x' ? (x->p++, 1) : 0;
        const char *d = x->p;
        while (x->p < x->end &&
               (hex ? strchr("0123456789abcdefABCDEF", *x->p) != NULL
                    : (*x->p >= '0' && *x->p <= '9')) &&
               *x->p)
            x->p++;
        if (x->p > d && *x->p == ';') {
            x->p++;
            return 1;
        }
    }
    return fail(x, "bad reference");
}

/* "x,y x,y ..." of finite numbers: the number of pairs, or -1. */
static int count_points(const char *v, size_t n)
{
    char *buf = malloc(n + 1);
    memcpy(buf, v, n);
    buf[n] = '\0';
    int pairs = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *e1, *e2;
        double a = strtod(tok, &e1);
        if (*e1 != ',') return free(buf), -1;
        double b = strtod(e1 + 1, &e2);
        if (*e2 || !isfinite(a) || !isfinite(b)) return free(buf), -1;
        pairs++;
    }
    free(buf);
    return pairs;
}

static int element(xml *x, int depth);

/* Content up to the matching end tag of `name`. */
static int content(xml *x, const char *name, size_t name_len, int depth)
{
    for (;;) {
        if (x->p >= x->end) return fail(x, "unclosed element");
        if (*x->p == '&') {
            if (!reference(x)) return 0;
        } else if (*x->p == '<') {
            if (x->p[1] == '/') {
                x->p += 2;
                if ((size_t)(x->end - x->p) < name_len || memcmp(x->p, name, name_len) != 0 ||
                    name_char(x->p[name_len]))
                    return fail(x, "mismatched end tag");
                x->p += name_len;
                while (is_space(*x->p)) x->p++;
                if (*x->p != '>') return fail(x, "bad end tag");
                x->p++;
                return 1;
            }
            if (strncmp(x->p, "<!--", 4) == 0) {
                const char *e = strstr(x->p + 4, "--");
                if (!e || e[2] != '>') return fail(x, "bad comment");
                x->p = e + 3;
                continue;
            }
            if (!element(x, depth + 1)) return 0;
            continue;
        } else {
            x->p++;
        }
    }
}

static int element(xml *x, int depth)
{
    if (depth > 64) return fail(x, "too deep");
    if (*x->p != '<' || !name_start(x->p[1])) return fail(x, "expected an element");
    x->p++;
    const char *name = x->p;
    while (name_char(*x->p)) x->p++;
    size_t name_len = (size_t)(x->p - name);
    elem el;
    memset(&el, 0, sizeof el);
    el.n_points = -1;
    snprintf(el.name, sizeof el.name, "%.*s", (int)name_len, name);
    char seen[32][32];
    int n_seen = 0;
    for (;;) {
        int had_space = 0;
        while (is_space(*x->p)) x->p++, had_space = 1;
        if (*x->p == '>' || (x->p[0] == '/' && x->p[1] == '>')) break;
        if (!had_space || !name_start(*x->p)) return fail(x, "bad attribute");
        const char *an = x->p;
        while (name_char(*x->p)) x->p++;
        size_t an_len = (size_t)(x->p - an);
        for (int i = 0; i < n_seen; i++)
            if (strlen(seen[i]) == an_len && memcmp(seen[i], an, an_len) == 0)
                return fail(x, "duplicate attribute");
        if (n_seen < 32) snprintf(seen[n_seen++], 32, "%.*s", (int)an_len, an);
        while (is_space(*x->p)) x->p++;
        if (*x->p != '=') return fail(x, "attribute without '='");
        x->p++;
        while (is_space(*x->p)) x->p++;
        char q = *x->p;
        if (q != '"' && q != '\'') return fail(x, "unquoted attribute");
        x->p++;
        const char *v = x->p;
        while (x->p < x->end && *x->p != q) {
            if (*x->p == '<') return fail(x, "'<' in an attribute");
            if (*x->p == '&') {
                if (!reference(x)) return 0;
            } else {
                x->p++;
            }
        }
        if (x->p >= x->end) return fail(x, "unterminated attribute");
        size_t v_len = (size_t)(x->p - v);
        x->p++;
        if (an_len == 5 && memcmp(an, "class", 5) == 0)
            snprintf(el.cls, sizeof el.cls, "%.*s", (int)v_len, v);
        if (an_len == 6 && memcmp(an, "points", 6) == 0) el.n_points = count_points(v, v_len);
    }
    if (x->n_elems == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 64;
        x->elems = realloc(x->elems, x->cap * sizeof *x->elems);
    }
    x->elems[x->n_elems++] = el;
    if (*x->p == '/') {
        x->p += 2;
        return 1;
    }
    x->p++;
    return content(x, name, name_len, depth);
}

/* 1 when `text` is a well-formed XML document (declaration, comments, one root
 * element, references, quoted unique attributes, matched tags, only allowed
 * characters, valid UTF-8); its elements are listed in x->elems. */
static int xml_check(xml *x, const char *text)
{
    memset(x, 0, sizeof *x);
    x->start = x->p = text;
    x->end = text + strlen(text);
    if (!ntg__utf8_valid(text, strlen(text))) return fail(x, "not UTF-8");
    for (const unsigned char *q = (const unsigned char *)text; *q; q++)
        if (*q < 0x20 && *q != '\t' && *q != '\n' && *q != '\r') {
            x->p = (const char *)q;
            return fail(x, "control character");
        }
    if (strncmp(x->p, "<?xml ", 6) == 0) {
        const char *e = strstr(x->p, "?>");
        if (!e) return fail(x, "bad declaration");
        x->p = e + 2;
    }
    while (is_space(*x->p)) x->p++;
    if (!element(x, 0)) return 0;
    while (is_space(*x->p)) x->p++;
    if (x->p != x->end) return fail(x, "content after the root element");
    return 1;
}

/* Elements called `name` with class `cls`; each must have `points` pairs (-2: any). */
static int count_elems(const xml *x, const char *name, const char *cls, int points)
{
    int n = 0;
    for (size_t i = 0; i < x->n_elems; i++) {
        const elem *e = &x->elems[i];
        if (strcmp(e->name, name) != 0 || strcmp(e->cls, cls) != 0) continue;
        if (points != -2)
            cr_assert_eq(e->n_points, points, "<%s class=%s> has %d points, wanted %d", name, cls,
                         e->n_points, points);
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ fixtures */

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ntg_plot_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

/* Two buffers in turn, so a test can hold two paths. */
static const char *in_tmp(const char *name)
{
    static char buf[2][512];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* No temporary file is left beside the plot. */
static void no_leftovers(void)
{
    DIR *d = opendir(tmpdir);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_assert(strstr(e->d_name, ".tmp.") == NULL, "left behind: %s", e->d_name);
    closedir(d);
}

/* Also ask xmllint when it is installed (the check above runs everywhere). */
static void xmllint_agrees(const char *path)
{
    if (system("command -v xmllint >/dev/null 2>&1") != 0) return;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
    cr_assert_eq(system(cmd), 0, "xmllint refuses %s", path);
}

#define NH 48
#define NF 24

Test(cli, plot_panels_series_and_bands, .init = setup, .fini = teardown)
{
    static char hd[NH][24], fd[NF][24];
    const char *hdates[NH], *fdates[NF];
    for (int i = 0; i < NH; i++) {
        snprintf(hd[i], sizeof hd[i], "2018-06-%02d %02d:00:00", 20 + i / 24, i % 24);
        hdates[i] = hd[i];
    }
    for (int i = 0; i < NF; i++) {
        snprintf(fd[i], sizeof fd[i], "2018-06-22 %02d:00:00", i);
        fdates[i] = fd[i];
    }
    double hist[2][NH], fc[2][NF], truth[NF], lo90[NF], hi90[NF], lo80[NF], hi80[NF];
    for (int i = 0; i < NH; i++) {
        hist[0][i] = 10.0 + 3.0 * sin(i / 4.0);
        hist[1][i] = -0.002 + 0.001 * cos(i / 3.0);
    }
    for (int i = 0; i < NF; i++) {
        fc[0][i] = 10.0 + 3.0 * sin((NH + i) / 4.0);
        fc[1][i] = -0.002;
        truth[i] = fc[0][i] + 0.5;
        lo90[i] = fc[0][i] - 2.0;
        hi90[i] = fc[0][i] + 2.0;
        lo80[i] = fc[0][i] - 1.0;
        hi80[i] = fc[0][i] + 1.0;
    }
    ntg_plot_band bands[2] = {{"90%", lo90, hi90}, {"80%", lo80, hi80}};
    ntg_plot_panel panels[2] = {
        {"OT", hist[0], fc[0], truth, bands, 2},
        {"T (\xC2\xB0"
         "C) <&>",
         hist[1], fc[1], NULL, NULL, 0},
    };
    ntg_plot p = {"ETTh1 \"OT\" & <friends>", NH, NF, hdates, fdates, panels, 2, 0};
    ntg_error err;
    const char *path = in_tmp("plot.svg");
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_OK, "%s", err.message);
    no_leftovers();
    char *text = tu_read_file(path, NULL);
    cr_assert_not_null(text);
    xml x;
    cr_assert(xml_check(&x, text), "not well-formed: %s", x.why);
    cr_assert_str_eq(x.elems[0].name, "svg");
    cr_assert_eq(count_elems(&x, "polyline", "history", NH), 2);
    cr_assert_eq(count_elems(&x, "polyline", "forecast", NF), 2);
    cr_assert_eq(count_elems(&x, "polyline", "truth", NF), 1);
    cr_assert_eq(count_elems(&x, "polygon", "band", 2 * NF), 2);
    cr_assert_eq(count_elems(&x, "line", "forecast-start", -2), 2);
    cr_assert_eq(count_elems(&x, "g", "panel", -2), 2);
    cr_assert_eq(count_elems(&x, "g", "legend-item", -2), 5); /* history actual forecast 90% 80% */
    cr_assert(strstr(text, "ETTh1 &quot;OT&quot; &amp; &lt;friends&gt;") != NULL);
    cr_assert(strstr(text, "T (\xC2\xB0"
                           "C) &lt;&amp;&gt;") != NULL);
    cr_assert(strstr(text, ">2018-06-20 00:00:00<") != NULL, "the first date labels the axis");
    cr_assert(strstr(text, ">90%<") && strstr(text, ">80%<"));
    xmllint_agrees(path);
    free(x.elems);
    free(text);

    /* the file is replaced whole: a second plot over the first */
    p.title = NULL;
    p.n_panels = 1;
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_OK, "%s", err.message);
    no_leftovers();
    text = tu_read_file(path, NULL);
    cr_assert(xml_check(&x, text), "not well-formed: %s", x.why);
    cr_assert_eq(count_elems(&x, "polyline", "history", NH), 1);
    cr_assert(strstr(text, "friends") == NULL);
    free(x.elems);
    free(text);
}

Test(cli, plot_history_only_without_dates, .init = setup, .fini = teardown)
{
    double hist[5] = {3, 3, 3, 3, 3}; /* constant: the value axis still has a range */
    ntg_plot_panel panel = {"flat", hist, NULL, NULL, NULL, 0};
    ntg_plot p = {"flat", 5, 0, NULL, NULL, &panel, 1, 400};
    ntg_error err;
    const char *path = in_tmp("flat.svg");
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_OK, "%s", err.message);
    char *text = tu_read_file(path, NULL);
    xml x;
    cr_assert(xml_check(&x, text), "not well-formed: %s", x.why);
    cr_assert_eq(count_elems(&x, "polyline", "history", 5), 1);
    cr_assert_eq(count_elems(&x, "polyline", "forecast", -2), 0);
    cr_assert_eq(count_elems(&x, "line", "forecast-start", -2), 0);
    cr_assert(strstr(text, ">-4<") && strstr(text, ">0<"), "steps label the axis: %s", text);
    cr_assert(strstr(text, "nan") == NULL && strstr(text, "inf") == NULL);
    xmllint_agrees(path);
    free(x.elems);
    free(text);

    /* a single point, and a forecast without history dates */
    double one[1] = {-2.5}, f[3] = {1e9, 2e9, 3e9};
    ntg_plot_panel p1 = {"\xFF\xFE bad utf-8", one, f, NULL, NULL, 0};
    ntg_plot q = {NULL, 1, 3, NULL, NULL, &p1, 1, 0};
    cr_assert_eq(ntg__plot_svg(path, &q, &err), NTG_OK, "%s", err.message);
    text = tu_read_file(path, NULL);
    cr_assert(xml_check(&x, text), "not well-formed: %s", x.why);
    cr_assert_eq(count_elems(&x, "polyline", "history", 1), 1);
    cr_assert_eq(count_elems(&x, "polyline", "forecast", 3), 1);
    cr_assert(strstr(text, ">+3<") != NULL);
    free(x.elems);
    free(text);
}

Test(cli, plot_errors_name_the_problem, .init = setup, .fini = teardown)
{
    double hist[4] = {1, 2, 3, 4}, fc[4] = {5, 6, NAN, 8};
    ntg_plot_panel panel = {"OT", hist, fc, NULL, NULL, 0};
    ntg_plot p = {"t", 4, 4, NULL, NULL, &panel, 1, 0};
    ntg_error err;
    const char *path = in_tmp("bad.svg");
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "panel 'OT': forecast value 2") != NULL, "%s", err.message);
    cr_assert_eq(access(path, F_OK), -1, "nothing written");
    fc[2] = 7;
    p.n_panels = 0;
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "no panels") != NULL, "%s", err.message);
    p.n_panels = 1;
    p.n_hist = 0;
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_ERR_INVALID_ARG);
    p.n_hist = 4;
    ntg_plot_band band = {"80%", fc, NULL};
    panel.bands = &band;
    panel.n_bands = 1;
    cr_assert_eq(ntg__plot_svg(path, &p, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "band 0 has no bounds") != NULL, "%s", err.message);
    panel.n_bands = 0;
    const char *missing = in_tmp("no/such/dir/plot.svg");
    cr_assert_eq(ntg__plot_svg(missing, &p, &err), NTG_ERR_IO);
    cr_assert_str_eq(err.file, missing);
    cr_assert(strstr(err.message, missing) != NULL, "%s", err.message);
    no_leftovers();
}
