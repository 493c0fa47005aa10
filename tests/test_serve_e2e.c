/* test_serve_e2e.c — `ntgraph serve` as a process: curl and ZeroMQ clients against `ntgraph run
 * --data`, bad requests, batching, a hot alias switch under load, SIGTERM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "cli_testutil.h"
#include "json.h"
#ifdef NTG_HAVE_MESH
#include <zmq.h>
#endif

#define TRAIN_HIDDEN(hidden)                                                                       \
    "$NTG train $SRC/graphs/nhits_brief.yaml -D h=24 -D input_size=96 -D hidden=" hidden " "       \
    "--data $SRC/data/ETTh1.csv --columns OT --split 1000,250,250 --batch 16 --val-every 0 "       \
    "--backend cpu --store '%s' --name nh"
#define TRAIN TRAIN_HIDDEN("32")

/* The server of the running test: stopped by teardown too, so a failed assertion leaves no
 * server behind (and PR_SET_PDEATHSIG covers a test process that dies). */
static pid_t live_server;

static void setup(void)
{
    make_tmp();
}
static void teardown(void)
{
    if (live_server > 0) {
        kill(live_server, SIGKILL);
        waitpid(live_server, NULL, 0);
        live_server = 0;
    }
    rm_tmp();
}
TestSuite(serve, .init = setup, .fini = teardown, .timeout = 280);

/* ------------------------------------------------------------------ server */

typedef struct server {
    pid_t pid;
    int port;
    char zmq[128];
} server;

static void need_curl(void)
{
    if (system("command -v curl >/dev/null 2>&1") != 0)
        cr_skip_test("curl is not installed (Debian: apt-get install curl)");
}

/* Start `ntgraph serve --db DB ARGS` and read its bound addresses. */
static void start(server *s, const char *db, const char *args)
{
    memset(s, 0, sizeof *s);
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        char cmd[2048], bin[1024];
        snprintf(bin, sizeof bin, "%s", tu_build("cli/ntgraph"));
        snprintf(cmd, sizeof cmd,
                 "exec '%s' serve --db '%s' --http 127.0.0.1:0 --backend cpu %s 2>'%s'", bin, db,
                 args, tmp("serve.err"));
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    live_server = pid;
    FILE *f = fdopen(fd[0], "r");
    char line[512];
    int ready = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "http: http://127.0.0.1:%d", &s->port) == 1) continue;
        if (strncmp(line, "zmq: ", 5) == 0) {
            snprintf(s->zmq, sizeof s->zmq, "%s", line + 5);
            s->zmq[strcspn(s->zmq, "\n")] = 0;
            continue;
        }
        if (strcmp(line, "ready\n") == 0) {
            ready = 1;
            break;
        }
    }
    fclose(f);
    if (!ready) {
        char *e = tu_read_file(tmp("serve.err"), NULL);
        cr_assert_fail("serve did not start: %s", e ? e : "");
    }
    s->pid = pid;
    cr_assert(s->port > 0);
}

/* SIGTERM; returns the exit status. */
static int stop(server *s)
{
    kill(s->pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
    live_server = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* An HTTP request through curl; returns the status, *body the response (caller frees). */
static int http(const server *s, const char *method, const char *path, const char *body,
                char **resp)
{
    char *o;
    FILE *f = fopen(tmp("req.json"), "wb");
    cr_assert(f);
    if (body) fputs(body, f);
    fclose(f);
    int rc = sh(&o,
                "curl -s -S -o '%s' -w '%%{http_code}' -X %s -H 'Content-Type: application/json' "
                "%s%s%s 'http://127.0.0.1:%d%s'",
                tmp("resp.json"), method, body ? "--data-binary @'" : "",
                body ? tmp("req.json") : "", body ? "'" : "", s->port, path);
    cr_assert_eq(rc, 0, "curl: %s", o);
    int status = atoi(o);
    free(o);
    *resp = tu_read_file(tmp("resp.json"), NULL);
    cr_assert(*resp);
    return status;
}

/* The last `n` values of column OT of ETTh1 as a JSON array text. */
static char *ot_tail(size_t n, size_t skip_end)
{
    char *o;
    cr_assert_eq(sh(&o, "tail -n %zu $SRC/data/ETTh1.csv | head -n %zu | cut -d, -f8 | paste -sd,",
                    n + skip_end, n),
                 0);
    o[strcspn(o, "\n")] = 0;
    size_t len = strlen(o) + 3;
    char *a = malloc(len);
    snprintf(a, len, "[%s]", o);
    free(o);
    return a;
}

static const ntg_json *parse(ntg_pool *pool, const char *text)
{
    const ntg_json *root;
    char msg[200];
    cr_assert_eq(ntg__json_parse(text, strlen(text), pool, &root, msg, sizeof msg, NULL), NTG_OK,
                 "%s: %s", msg, text);
    return root;
}

/* `ntgraph run REF --data ETTh1 --columns OT`: the 24 point forecasts. */
static void run_numbers(const char *ref, double out[24])
{
    char *o;
    cr_assert_eq(
        sh(&o, "$NTG run 'store:%s' --backend cpu --data $SRC/data/ETTh1.csv --columns OT", ref), 0,
        "%s", o);
    char *line = strchr(o, '\n');
    for (int t = 0; t < 24; t++) {
        cr_assert(line, "%s", o);
        char *comma = strchr(line + 1, ',');
        cr_assert(comma);
        out[t] = strtod(comma + 1, NULL);
        line = strchr(line + 1, '\n');
    }
    free(o);
}

static void train(const char *db, int steps)
{
    char *o;
    cr_assert_eq(sh(&o, TRAIN " --steps %d", db, steps), 0, "%s", o);
    free(o);
}

/* ------------------------------------------------------------------- tests */

Test(serve, http_forecast_equals_run_data_and_the_routes_answer)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    train(db, 3);
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train $SRC/graphs/nhits_brief.yaml -D h=24 -D input_size=48 -D hidden=32 "
                    "--data $SRC/data/ETTh1.csv --columns OT --split 1000,250,250 --batch 16 "
                    "--val-every 0 --backend cpu --store '%s' --name small --steps 2",
                    db),
                 0, "%s", o);
    free(o);
    double want[24];
    char ref[600];
    snprintf(ref, sizeof ref, "%s:nh@1", db);
    run_numbers(ref, want);

    server s;
    start(&s, db, "");
    char *ot = ot_tail(96, 0), body[8192], *r;
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s}}", ot);
    /* no @REF: the latest version */
    cr_assert_eq(http(&s, "POST", "/v1/models/nh/forecast", body, &r), 200, "%s", r);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *root = parse(pool, r);
    cr_assert_str_eq(ntg__json_get(root, "model")->str, "nh");
    cr_assert_eq(ntg__json_get(root, "version")->i64, 1);
    const ntg_json *fc = ntg__json_get(ntg__json_get(root, "forecast"), "OT");
    cr_assert_eq(fc->n, 24);
    for (int t = 0; t < 24; t++)
        cr_assert(fabs(fc->items[t]->num - want[t]) <= 1e-6 * (1 + fabs(want[t])),
                  "step %d: serve %.9g, run --data %.9g", t + 1, fc->items[t]->num, want[t]);
    free(r);
    /* the same through @1 and with time stamps: the forecast's dates continue them */
    char *stamps;
    cr_assert_eq(sh(&stamps, "tail -n 96 $SRC/data/ETTh1.csv | cut -d, -f1 | sed 's/.*/\"&\"/' | "
                             "paste -sd,"),
                 0);
    stamps[strcspn(stamps, "\n")] = 0;
    char *big = malloc(16384);
    snprintf(big, 16384, "{\"series\": {\"OT\": %s}, \"timestamps\": [%s]}", ot, stamps);
    cr_assert_eq(http(&s, "POST", "/v1/models/nh@1/forecast", big, &r), 200, "%s", r);
    cr_assert(strstr(r, "\"timestamps\":[\"2018-06-26 20:00:00\""), "%s", r);
    free(r);
    free(big);
    free(stamps);

    cr_assert_eq(http(&s, "GET", "/healthz", NULL, &r), 200);
    cr_assert(strstr(r, "\"ok\""), "%s", r);
    free(r);
    cr_assert_eq(http(&s, "GET", "/v1/models", NULL, &r), 200);
    parse(pool, r);
    cr_assert(strstr(r, "\"name\":\"nh\",\"latest\":1"), "%s", r);
    free(r);
    cr_assert_eq(http(&s, "GET", "/metrics", NULL, &r), 200);
    cr_assert(strstr(r, "ntgraph_serve_requests_total{status=\"200\"} 4\n"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_cache_misses_total 1\n"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_cache_hits_total 1\n"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_request_seconds_bucket{le=\"+Inf\"}"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_batch_size_count 2\n"), "%s", r);
    free(r);

    /* a stream: values arrive a few at a time; the forecast comes once the window is full and
     * equals the one-shot request's */
    char *first = ot_tail(90, 6), *rest = ot_tail(6, 0);
    snprintf(body, sizeof body, "{\"model\": \"nh@1\", \"series\": {\"OT\": %s}}", first);
    cr_assert_eq(http(&s, "POST", "/v1/streams/feed-1/observe", body, &r), 200, "%s", r);
    cr_assert(strstr(r, "\"observed\":{\"OT\":90}"), "%s", r);
    free(r);
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s}}", rest);
    cr_assert_eq(http(&s, "POST", "/v1/streams/feed-1/observe", body, &r), 200, "%s", r);
    root = parse(pool, r);
    fc = ntg__json_get(ntg__json_get(root, "forecast"), "OT");
    cr_assert(fc && fc->n == 24, "%s", r);
    for (int t = 0; t < 24; t++)
        cr_assert(fabs(fc->items[t]->num - want[t]) <= 1e-6 * (1 + fabs(want[t])), "step %d", t);
    free(r);
    /* the stream moves to a model with a shorter window: it keeps its newest values */
    char *last47 = ot_tail(47, 0), *r2;
    last47[strlen(last47) - 1] = 0;
    snprintf(body, sizeof body, "{\"model\": \"small\", \"series\": {\"OT\": [42.5]}}");
    cr_assert_eq(http(&s, "POST", "/v1/streams/feed-1/observe", body, &r), 200, "%s", r);
    cr_assert(strstr(r, "\"model\":\"small\"") && strstr(r, "\"input_size\":48"), "%s", r);
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s,42.5]}}", last47);
    cr_assert_eq(http(&s, "POST", "/v1/models/small/forecast", body, &r2), 200, "%s", r2);
    /* r2 ends with the forecast object and "}\n"; r adds "stream" after it */
    const char *f1 = strstr(r, "\"forecast\""), *f2 = strstr(r2, "\"forecast\"");
    cr_assert(f1 && f2 && strlen(f2) > 2 && strncmp(f1, f2, strlen(f2) - 2) == 0, "%s\n%s", r, r2);
    free(r);
    free(r2);
    free(last47);
    free(first);
    free(rest);
    free(ot);
    ntg__pool_destroy(pool);
    cr_assert_eq(stop(&s), 0);
}

/* The last `n` values of ETTh1's column `col` (1-based, cut -f) as comma-separated text. */
static char *col_tail(int col, size_t n)
{
    char *o;
    cr_assert_eq(sh(&o, "tail -n %zu $SRC/data/ETTh1.csv | cut -d, -f%d | paste -sd,", n, col), 0);
    o[strcspn(o, "\n")] = 0;
    return o;
}

/* A model with historic, future-known (a column and a calendar feature) and static
 * covariates: serve's forecast from a request carrying them equals `ntgraph run --data
 * --futr-data`; malformed or mismatched covariates are 400s naming the field. */
Test(serve, http_forecast_with_covariates_equals_run_data)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("cov.db"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train $SRC/graphs/nhits.yaml -D h=24 -D input_size=96 -D hidden=16 "
                    "-D n_hist=1 -D n_futr=2 -D n_stat=1 --hist-exog HUFL "
                    "--futr-exog MUFL,calendar:hour_of_day --static area=2.5 "
                    "--data $SRC/data/ETTh1.csv --columns OT --split 1000,250,250 --batch 16 "
                    "--val-every 0 --backend cpu --store '%s' --name cov --steps 2",
                    db),
                 0, "%s", o);
    free(o);
    /* the horizon's MUFL: 24 made-up values after ETTh1's last row (2018-06-26 19:00) */
    FILE *f = fopen(tmp("future.csv"), "w");
    cr_assert_not_null(f);
    fprintf(f, "date,MUFL\n");
    char futr[512] = "";
    for (int t = 0; t < 24; t++) {
        double v = 1.0 + 0.25 * t;
        fprintf(f, "2018-06-%02d %02d:00:00,%g\n", 26 + (20 + t) / 24, (20 + t) % 24, v);
        size_t l = strlen(futr);
        snprintf(futr + l, sizeof futr - l, ",%g", v);
    }
    fclose(f);
    cr_assert_eq(sh(&o,
                    "$NTG run 'store:%s:cov@1' --backend cpu --data $SRC/data/ETTh1.csv "
                    "--columns OT --futr-data '%s'",
                    db, tmp("future.csv")),
                 0, "%s", o);
    double want[24];
    char *line = strchr(o, '\n');
    for (int t = 0; t < 24; t++) {
        cr_assert(line, "%s", o);
        char *comma = strchr(line + 1, ',');
        cr_assert(comma);
        want[t] = strtod(comma + 1, NULL);
        line = strchr(line + 1, '\n');
    }
    free(o);

    server s;
    start(&s, db, "");
    char *ot = ot_tail(96, 0), *hufl = col_tail(2, 96), *mufl = col_tail(4, 96), *stamps;
    cr_assert_eq(sh(&stamps, "tail -n 96 $SRC/data/ETTh1.csv | cut -d, -f1 | sed 's/.*/\"&\"/' | "
                             "paste -sd,"),
                 0);
    stamps[strcspn(stamps, "\n")] = 0;
    size_t cap = 65536;
    char *body = malloc(cap), *r;
    cr_assert_not_null(body);
    snprintf(body, cap,
             "{\"series\": {\"OT\": %s}, \"timestamps\": [%s], \"hist_exog\": {\"HUFL\": [%s]}, "
             "\"futr_exog\": {\"MUFL\": [%s%s]}, \"stat_exog\": {\"area\": 2.5}}",
             ot, stamps, hufl, mufl, futr);
    cr_assert_eq(http(&s, "POST", "/v1/models/cov/forecast", body, &r), 200, "%s", r);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *root = parse(pool, r);
    const ntg_json *fc = ntg__json_get(ntg__json_get(root, "forecast"), "OT");
    cr_assert(fc && fc->n == 24, "%s", r);
    for (int t = 0; t < 24; t++)
        cr_assert(fabs(fc->items[t]->num - want[t]) <= 1e-6 * (1 + fabs(want[t])),
                  "step %d: serve %.9g, run --data %.9g", t + 1, fc->items[t]->num, want[t]);
    free(r);
    /* the static attribute may be left to the plan's table */
    snprintf(body, cap,
             "{\"series\": {\"OT\": %s}, \"timestamps\": [%s], \"hist_exog\": {\"HUFL\": [%s]}, "
             "\"futr_exog\": {\"MUFL\": [%s%s]}}",
             ot, stamps, hufl, mufl, futr);
    cr_assert_eq(http(&s, "POST", "/v1/models/cov/forecast", body, &r), 200, "%s", r);
    free(r);
    /* malformed: a covariate value that is not a number */
    snprintf(body, cap,
             "{\"series\": {\"OT\": %s}, \"timestamps\": [%s], \"hist_exog\": {\"HUFL\": [%s]}, "
             "\"futr_exog\": {\"MUFL\": [\"x\"%s]}}",
             ot, stamps, hufl, futr);
    cr_assert_eq(http(&s, "POST", "/v1/models/cov/forecast", body, &r), 400, "%s", r);
    cr_assert(strstr(r, "\\\"futr_exog\\\" 'MUFL' value 1 is not a number"), "%s", r);
    free(r);
    /* the future covariate without the horizon's values */
    snprintf(body, cap,
             "{\"series\": {\"OT\": %s}, \"timestamps\": [%s], \"hist_exog\": {\"HUFL\": [%s]}, "
             "\"futr_exog\": {\"MUFL\": [%s]}}",
             ot, stamps, hufl, mufl);
    cr_assert_eq(http(&s, "POST", "/v1/models/cov/forecast", body, &r), 400, "%s", r);
    cr_assert(strstr(r, "\\\"futr_exog\\\" 'MUFL' has 96 values; model cov version 1 takes "
                        "exactly 120"),
              "%s", r);
    free(r);
    /* a covariate the model does not take */
    snprintf(body, cap,
             "{\"series\": {\"OT\": %s}, \"timestamps\": [%s], \"hist_exog\": {\"HUFL\": [%s], "
             "\"LUFL\": [%s]}, \"futr_exog\": {\"MUFL\": [%s%s]}}",
             ot, stamps, hufl, hufl, mufl, futr);
    cr_assert_eq(http(&s, "POST", "/v1/models/cov/forecast", body, &r), 400, "%s", r);
    cr_assert(strstr(r, "covariate 'LUFL' is not one the plan takes"), "%s", r);
    free(r);
    /* without the time stamps the calendar feature cannot be computed */
    snprintf(body, cap,
             "{\"series\": {\"OT\": %s}, \"hist_exog\": {\"HUFL\": [%s]}, "
             "\"futr_exog\": {\"MUFL\": [%s%s]}}",
             ot, hufl, mufl, futr);
    cr_assert_eq(http(&s, "POST", "/v1/models/cov/forecast", body, &r), 422, "%s", r);
    cr_assert(strstr(r, "the calendar feature 'hour_of_day' needs the window's time stamps"), "%s",
              r);
    free(r);
    free(body);
    free(ot);
    free(hufl);
    free(mufl);
    free(stamps);
    ntg__pool_destroy(pool);
    cr_assert_eq(stop(&s), 0);
}

Test(serve, bad_requests_get_4xx_json_errors_and_the_server_keeps_serving)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    train(db, 2);
    server s;
    start(&s, db, "--max-body-kb 8 --timeout-s 2");
    char *ot = ot_tail(96, 0), *short_ot = ot_tail(95, 0), body[8192], *r;
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s}}", short_ot);
    struct {
        const char *method, *path, *body;
        int status;
        const char *msg;
    } cases[] = {
        {"POST", "/v1/models/nh/forecast", "{\"series\": {\"OT\": [1, 2", 400, "invalid JSON"},
        {"POST", "/v1/models/nh/forecast", body, 400,
         "series 'OT' has 95 values; model nh version 1 takes exactly 96 (its input_size)"},
        {"POST", "/v1/models/nh/forecast", "{\"series\": {\"OT\": [1, NaN]}}", 400,
         "NaN and Infinity are not JSON"},
        {"POST", "/v1/models/nh/forecast", "{\"series\": {\"OT\": [1, null]}}", 400,
         "value 2 is null"},
        {"POST", "/v1/models/nope/forecast", "{\"series\": {\"OT\": [1]}}", 404, "nope"},
        {"POST", "/v1/models/nh@7/forecast", "{\"series\": {\"OT\": [1]}}", 404, "7"},
        {"POST", "/v1/models/nh@champion/forecast", "{\"series\": {\"OT\": [1]}}", 404, "champion"},
        {"POST", "/v1/models/n%20h/forecast", "{\"series\": {\"OT\": [1]}}", 400,
         "bad model reference"},
        {"POST", "/v1/models/nh/forecast",
         "{\"series\": {\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1], \"f\": [1], "
         "\"g\": [1], \"h\": [1], \"i\": [1], \"j\": [1], \"k\": [1], \"l\": [1], \"m\": [1], "
         "\"n\": [1], \"o\": [1], \"p\": [1], \"q\": [1], \"r\": [1], \"s\": [1], \"t\": [1]}}",
         400, NULL},
        {"GET", "/v1/models/nh/forecast", NULL, 405, "use POST"},
        {"GET", "/nowhere", NULL, 404, "no route GET /nowhere"},
        {"POST", "/v1/streams/s1/observe", "{\"series\": {\"OT\": [1]}}", 400,
         "its first observation must name the"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = http(&s, cases[i].method, cases[i].path, cases[i].body, &r);
        cr_assert_eq(st, cases[i].status, "case %zu: %d %s", i, st, r);
        cr_assert(strstr(r, "{\"error\":{\"status\":"), "case %zu: %s", i, r);
        if (cases[i].msg) cr_assert(strstr(r, cases[i].msg), "case %zu: %s", i, r);
        free(r);
    }
    /* too many series: over the default limit of 256 */
    char *many = malloc(1 << 16);
    size_t k = (size_t)snprintf(many, 1 << 16, "{\"series\": {");
    for (int i = 0; i < 257; i++)
        k += (size_t)snprintf(many + k, (1 << 16) - k, "%s\"c%d\": [1]", i ? "," : "", i);
    snprintf(many + k, (1 << 16) - k, "}}");
    cr_assert_eq(http(&s, "POST", "/v1/models/nh/forecast", many, &r), 400, "%s", r);
    cr_assert(strstr(r, "too many series: 257 (at most 256 per request)"), "%s", r);
    free(r);
    /* a body over --max-body-kb */
    memset(many, ' ', 9000);
    snprintf(many + 9000, 100, "{\"series\": {\"OT\": [1]}}");
    cr_assert_eq(http(&s, "POST", "/v1/models/nh/forecast", many, &r), 413, "%s", r);
    cr_assert(strstr(r, "request body over the limit of 8192 bytes"), "%s", r);
    free(r);
    /* the same without a Content-Length (chunked): refused while it is read */
    FILE *f = fopen(tmp("req.json"), "wb");
    fputs(many, f);
    fclose(f);
    char *code;
    cr_assert_eq(sh(&code,
                    "curl -s -o '%s' -w '%%{http_code}' -H 'Transfer-Encoding: chunked' "
                    "--data-binary @'%s' http://127.0.0.1:%d/v1/models/nh/forecast",
                    tmp("resp.json"), tmp("req.json"), s.port),
                 0, "%s", code);
    cr_assert_str_eq(code, "413");
    free(code);
    r = tu_read_file(tmp("resp.json"), NULL);
    cr_assert(strstr(r, "request body over the limit of 8192 bytes"), "%s", r);
    free(r);
    free(many);
    /* still serving */
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s}}", ot);
    cr_assert_eq(http(&s, "POST", "/v1/models/nh/forecast", body, &r), 200, "%s", r);
    free(r);
    /* a client that sends half a request and stalls is disconnected (--timeout-s) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *half =
        "POST /v1/models/nh/forecast HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
    cr_assert(write(fd, half, strlen(half)) > 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    ssize_t got = read(fd, buf, sizeof buf);
    cr_assert(got == 0 || (got < 0 && errno == ECONNRESET),
              "a stalled client was not disconnected (read %zd)", got);
    close(fd);
    free(ot);
    free(short_ot);
    cr_assert_eq(stop(&s), 0);
}

Test(serve, quantiles_and_an_lru_cache_bounded_in_bytes)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    char *o;
    /* a quantile model on two columns; the same plan stored again as version 2 */
    cr_assert_eq(sh(&o,
                    "$NTG train $SRC/graphs/nhits_mq.yaml -D h=4 -D input_size=8 -D hidden=256 "
                    "--data $SRC/data/ETTh1.csv --columns OT,HUFL --split 1000,250,250 --batch 16 "
                    "--val-every 0 --backend cpu --store '%s' --name mq --steps 2 && "
                    "$NTG store export --db '%s' mq@1 -o '%s' && "
                    "$NTG store import --db '%s' --name mq '%s'",
                    db, db, tmp("mq.plan"), db, tmp("mq.plan")),
                 0, "%s", o);
    free(o);
    server s;
    /* one version (about 6 MB of estimated bytes) fits in 8 MiB, two do not */
    start(&s, db, "--cache-mb 8");
    const char *body = "{\"series\": {\"OT\": [9, 8, 7, 8, 9, 10, 9, 8], "
                       "\"HUFL\": [5, 5, 6, 6, 5, 5, 6, 6]}}";
    char *r1, *r2, *r;
    cr_assert_eq(http(&s, "POST", "/v1/models/mq@1/forecast", body, &r1), 200, "%s", r1);
    cr_assert_eq(http(&s, "POST", "/v1/models/mq@2/forecast", body, &r2), 200, "%s", r2);
    cr_assert_eq(http(&s, "POST", "/v1/models/mq@1/forecast", body, &r), 200, "%s", r);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *root = parse(pool, r1);
    const ntg_json *q = ntg__json_get(ntg__json_get(root, "quantiles"), "HUFL");
    cr_assert(q && q->n == 3, "%s", r1);
    cr_assert_str_eq(q->keys[0]->str, "0.1");
    cr_assert_str_eq(q->keys[1]->str, "0.5");
    cr_assert_str_eq(q->keys[2]->str, "0.9");
    /* the point forecast is the median */
    const ntg_json *med = q->items[1], *pt = ntg__json_get(ntg__json_get(root, "forecast"), "HUFL");
    cr_assert_eq(med->n, 4);
    for (size_t t = 0; t < 4; t++) cr_assert_eq(med->items[t]->num, pt->items[t]->num);
    /* the same plan under another version number: the same numbers, reloaded after eviction */
    cr_assert_str_eq(strstr(r1, "\"forecast\""), strstr(r2, "\"forecast\""));
    cr_assert_str_eq(strstr(r1, "\"forecast\""), strstr(r, "\"forecast\""));
    free(r1);
    free(r2);
    free(r);
    /* a column the model's scaler was not fitted on */
    cr_assert_eq(http(&s, "POST", "/v1/models/mq@1/forecast",
                      "{\"series\": {\"X\": [1, 2, 3, 4, 5, 6, 7, 8]}}", &r),
                 400, "%s", r);
    cr_assert(strstr(r, "column 'X'"), "%s", r);
    free(r);
    cr_assert_eq(http(&s, "GET", "/metrics", NULL, &r), 200);
    cr_assert(strstr(r, "ntgraph_serve_cache_misses_total 3\n"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_cache_hits_total 1\n"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_cache_evictions_total 2\n"), "%s", r);
    cr_assert(strstr(r, "ntgraph_serve_cache_entries 1\n"), "%s", r);
    free(r);
    ntg__pool_destroy(pool);
    cr_assert_eq(stop(&s), 0);
}

#ifdef NTG_HAVE_MESH
/* One ZeroMQ request on a fresh DEALER; returns the status frame's number. */
static int zreq(void *sock, const char *line, const char *body, char *resp, size_t cap)
{
    cr_assert(zmq_send(sock, line, strlen(line), ZMQ_SNDMORE) >= 0);
    cr_assert(zmq_send(sock, body, strlen(body), 0) >= 0);
    char status[16];
    int n = zmq_recv(sock, status, sizeof status - 1, 0);
    cr_assert(n > 0, "no reply: %s", zmq_strerror(zmq_errno()));
    status[n] = 0;
    int more;
    size_t ml = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
    cr_assert(more);
    n = zmq_recv(sock, resp, cap - 1, 0);
    cr_assert(n >= 0 && (size_t)n < cap - 1, "reply of %d bytes", n);
    resp[n] = 0;
    return atoi(status);
}

static void *zsock(void *ctx, const char *ep)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int tmo = 60000, linger = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(s, ep), 0);
    return s;
}

typedef struct load_arg {
    void *ctx;
    const char *ep, *path;
    char body[8192];
    atomic_int *stop;
    int count; /* requests to send; 0: until *stop */
    int ok, failed, v1, v2;
    char last_error[512];
    int check; /* compare step 1 of every reply with expect0 */
    double expect0;
    int mismatched;
    double got0;
} load_arg;

static void *load_main(void *p)
{
    load_arg *a = p;
    void *s = zsock(a->ctx, a->ep);
    char *resp = malloc(65536);
    char line[256];
    snprintf(line, sizeof line, "POST %s", a->path);
    int sent = 0;
    do {
        int st = zreq(s, line, a->body, resp, 65536);
        sent++;
        if (st == 200) {
            a->ok++;
            if (strstr(resp, "\"version\":1,")) a->v1++;
            if (strstr(resp, "\"version\":2,")) a->v2++;
            const char *f = strstr(resp, "\"forecast\":{\"OT\":[");
            double v = f ? strtod(f + 18, NULL) : NAN;
            if (a->check && !(fabs(v - a->expect0) <= 1e-6 * (1 + fabs(a->expect0)))) {
                a->mismatched++;
                a->got0 = v;
            }
        } else {
            a->failed++;
            snprintf(a->last_error, sizeof a->last_error, "%d %s", st, resp);
        }
    } while (a->count ? sent < a->count : !atomic_load(a->stop));
    free(resp);
    zmq_close(s);
    return NULL;
}

Test(serve, zmq_answers_like_http_and_concurrent_requests_batch_to_the_same_numbers)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    /* the full-width block MLP (about a million parameters): a run long enough that the
     * clients' requests overlap even on a busy machine */
    char *o;
    cr_assert_eq(sh(&o, TRAIN_HIDDEN("512") " --steps 2", db), 0, "%s", o);
    free(o);
    server s;
    start(&s, db, "--zmq tcp://127.0.0.1:* --batch-delay-us 20000");
    cr_assert(s.zmq[0], "no zmq address printed");
    /* 16 different windows (the series ending 0..15 hours early), each alone over HTTP */
    double alone[16][24];
    char *r;
    load_arg args[16];
    void *ctx = zmq_ctx_new();
    for (int w = 0; w < 16; w++) {
        char *ot = ot_tail(96, (size_t)w);
        memset(&args[w], 0, sizeof args[w]);
        snprintf(args[w].body, sizeof args[w].body, "{\"series\": {\"OT\": %s}}", ot);
        free(ot);
        cr_assert_eq(http(&s, "POST", "/v1/models/nh/forecast", args[w].body, &r), 200, "%s", r);
        ntg_pool *pool = ntg__pool_create();
        const ntg_json *fc = ntg__json_get(ntg__json_get(parse(pool, r), "forecast"), "OT");
        for (int t = 0; t < 24; t++) alone[w][t] = fc->items[t]->num;
        ntg__pool_destroy(pool);
        free(r);
    }
    /* one over ZeroMQ: the same body and numbers */
    void *zs = zsock(ctx, s.zmq);
    char *resp = malloc(65536);
    cr_assert_eq(zreq(zs, "POST /v1/models/nh/forecast", args[0].body, resp, 65536), 200, "%s",
                 resp);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *fc = ntg__json_get(ntg__json_get(parse(pool, resp), "forecast"), "OT");
    for (int t = 0; t < 24; t++) cr_assert_eq(fc->items[t]->num, alone[0][t]);
    ntg__pool_destroy(pool);
    cr_assert_eq(zreq(zs, "GET /nowhere", "", resp, 65536), 404);
    cr_assert_eq(zreq(zs, "POST /v1/models/nh/forecast", "{", resp, 65536), 400);
    cr_assert(strstr(resp, "invalid JSON"), "%s", resp);
    zmq_close(zs);
    /* 16 clients at once, 10 requests each: coalesced into batches, every answer equal to its
     * window run alone within 1e-6 */
    pthread_t th[16];
    atomic_int stopflag = 0;
    for (int w = 0; w < 16; w++) {
        args[w].ctx = ctx;
        args[w].ep = s.zmq;
        args[w].path = "/v1/models/nh/forecast";
        args[w].stop = &stopflag;
        args[w].count = 10;
        args[w].check = 1;
        args[w].expect0 = alone[w][0];
        pthread_create(&th[w], NULL, load_main, &args[w]);
    }
    for (int w = 0; w < 16; w++) pthread_join(th[w], NULL);
    for (int w = 0; w < 16; w++) {
        cr_assert_eq(args[w].failed, 0, "%s", args[w].last_error);
        cr_assert_eq(args[w].mismatched, 0, "window %d: batched %.9g, alone %.9g", w, args[w].got0,
                     alone[w][0]);
    }
    cr_assert_eq(http(&s, "GET", "/metrics", NULL, &r), 200);
    const char *c = strstr(r, "ntgraph_serve_batch_size_count ");
    const char *sum = strstr(r, "ntgraph_serve_batch_size_sum ");
    cr_assert(c && sum, "%s", r);
    long runs = atol(c + 31), windows = atol(sum + 29);
    cr_assert_eq(windows, 16 + 1 + 160, "%s", r);
    cr_assert_lt(runs, windows, "no request was batched with another (%ld runs)", runs);
    free(r);
    free(resp);
    zmq_ctx_term(ctx);
    cr_assert_eq(stop(&s), 0);
}

Test(serve, an_alias_moves_traffic_under_load_with_no_failed_request)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    train(db, 2);
    char *o;
    cr_assert_eq(sh(&o, "$NTG store alias --db '%s' nh@1 champion", db), 0, "%s", o);
    free(o);
    server s;
    start(&s, db, "--zmq tcp://127.0.0.1:* --poll-ms 50");
    void *ctx = zmq_ctx_new();
    atomic_int stopflag = 0;
    load_arg args[8];
    pthread_t th[8];
    char *ot = ot_tail(96, 0);
    for (int i = 0; i < 8; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].ctx = ctx;
        args[i].ep = s.zmq;
        args[i].path = "/v1/models/nh@champion/forecast";
        args[i].stop = &stopflag;
        snprintf(args[i].body, sizeof args[i].body, "{\"series\": {\"OT\": %s}}", ot);
        pthread_create(&th[i], NULL, load_main, &args[i]);
    }
    /* a second version trained meanwhile, then champion moved to it while requests flow */
    train(db, 3);
    cr_assert_eq(sh(&o, "$NTG store alias --db '%s' nh@2 champion", db), 0, "%s", o);
    free(o);
    /* until the new version has answered a while (bounded: 60 s) */
    for (int k = 0; k < 600; k++) {
        int v2 = 0;
        for (int i = 0; i < 8; i++) v2 += args[i].v2;
        if (v2 >= 40) break;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    atomic_store(&stopflag, 1);
    int ok = 0, failed = 0, v1 = 0, v2 = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
        failed += args[i].failed;
        v1 += args[i].v1;
        v2 += args[i].v2;
        cr_assert_eq(args[i].failed, 0, "client %d: %s", i, args[i].last_error);
    }
    cr_assert_eq(failed, 0);
    cr_assert_gt(v1, 0);
    cr_assert_geq(v2, 40, "champion never moved to version 2 (%d requests, %d on v1)", ok, v1);
    /* and the new version's numbers are run --data's */
    double want[24];
    char ref[600];
    snprintf(ref, sizeof ref, "%s:nh@2", db);
    run_numbers(ref, want);
    char body[8192], *r;
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s}}", ot);
    cr_assert_eq(http(&s, "POST", "/v1/models/nh@champion/forecast", body, &r), 200, "%s", r);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *root = parse(pool, r);
    cr_assert_eq(ntg__json_get(root, "version")->i64, 2);
    const ntg_json *fc = ntg__json_get(ntg__json_get(root, "forecast"), "OT");
    for (int t = 0; t < 24; t++)
        cr_assert(fabs(fc->items[t]->num - want[t]) <= 1e-6 * (1 + fabs(want[t])), "step %d", t);
    ntg__pool_destroy(pool);
    free(r);
    free(ot);
    zmq_ctx_term(ctx);
    cr_assert_eq(stop(&s), 0);
}
#endif

Test(serve, sigterm_finishes_the_request_in_flight_and_exits_0)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    train(db, 2);
    server s;
    start(&s, db, "");
    char *ot = ot_tail(96, 0), *o;
    /* a body padded to 4000 bytes, uploaded at 2000 bytes/s: in flight when SIGTERM comes */
    FILE *f = fopen(tmp("req.json"), "wb");
    fprintf(f, "{\"series\": {\"OT\": %s}}", ot);
    for (long n = ftell(f); n < 4000; n++) fputc(' ', f);
    fclose(f);
    char req[600], out[600];
    snprintf(req, sizeof req, "%s", tmp("req.json"));
    snprintf(out, sizeof out, "%s", tmp("a.json"));
    cr_assert_eq(sh(&o,
                    "(curl -s -o '%s' -w '%%{http_code}' --limit-rate 2000 --data-binary @'%s' "
                    "http://127.0.0.1:%d/v1/models/nh/forecast & sleep 0.7; kill -TERM %d; wait)",
                    out, req, s.port, (int)s.pid),
                 0, "%s", o);
    cr_assert_str_eq(o, "200", "the request in flight was not answered: %s", o);
    free(o);
    char *a = tu_read_file(out, NULL);
    cr_assert(a && strstr(a, "\"forecast\":{\"OT\":["), "%s", a);
    free(a);
    int st;
    cr_assert_eq(waitpid(s.pid, &st, 0), s.pid);
    live_server = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d", st);
    char *e = tu_read_file(tmp("serve.err"), NULL);
    cr_assert(strstr(e, "SIGTERM: finishing the requests in flight") && strstr(e, "stopped"), "%s",
              e);
    free(e);
    free(ot);
}

/* A classification head (graphs/nhits_cls.yaml, loss xent) answers with its classes: per step
 * the most probable class and each class's probability, those of `ntgraph run --data`. */
Test(serve, a_classifier_answers_with_class_probabilities)
{
    need_curl();
    char db[600];
    snprintf(db, sizeof db, "%s", tmp("m.db"));
    char *o;
    cr_assert_eq(sh(&o,
                    "$NTG train $SRC/graphs/nhits_cls.yaml -D h=24 -D input_size=96 -D hidden=32 "
                    "--data $SRC/data/ETTh1.csv --columns OT --split 1000,250,250 --batch 16 "
                    "--val-every 0 --backend cpu --store '%s' --name cls --steps 3",
                    db),
                 0, "%s", o);
    free(o);
    /* run --data: date,OT-class,OT-p_down,OT-p_up per step */
    cr_assert_eq(sh(&o,
                    "$NTG run 'store:%s:cls@1' --backend cpu --data $SRC/data/ETTh1.csv "
                    "--columns OT",
                    db),
                 0, "%s", o);
    cr_assert(strstr(o, ",OT-class,OT-p_down,OT-p_up\n"), "%s", o);
    char want_cls[24][8];
    double want_p[24][2];
    char *line = strchr(o, '\n');
    for (int t = 0; t < 24; t++) {
        cr_assert(line && line[1], "%s", o);
        char *comma = strchr(line + 1, ',');
        cr_assert(comma, "%s", o);
        cr_assert_eq(
            sscanf(comma + 1, "%7[a-z],%lf,%lf", want_cls[t], &want_p[t][0], &want_p[t][1]), 3,
            "%s", line + 1);
        line = strchr(line + 1, '\n');
    }
    free(o);

    server s;
    start(&s, db, "");
    char *ot = ot_tail(96, 0), body[8192], *r;
    snprintf(body, sizeof body, "{\"series\": {\"OT\": %s}}", ot);
    cr_assert_eq(http(&s, "POST", "/v1/models/cls/forecast", body, &r), 200, "%s", r);
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *root = parse(pool, r);
    const ntg_json *classes = ntg__json_get(root, "classes");
    cr_assert(classes && classes->n == 2, "%s", r);
    cr_assert_str_eq(classes->items[0]->str, "down");
    cr_assert_str_eq(classes->items[1]->str, "up");
    const ntg_json *fc = ntg__json_get(ntg__json_get(root, "forecast"), "OT");
    const ntg_json *pr = ntg__json_get(ntg__json_get(root, "probabilities"), "OT");
    cr_assert(fc && fc->n == 24 && pr, "%s", r);
    const ntg_json *pd = ntg__json_get(pr, "down"), *pu = ntg__json_get(pr, "up");
    cr_assert(pd && pu && pd->n == 24 && pu->n == 24, "%s", r);
    for (int t = 0; t < 24; t++) {
        double d = pd->items[t]->num, u = pu->items[t]->num;
        cr_assert(fabs(d + u - 1) < 1e-5 && d >= 0 && u >= 0, "step %d: %g + %g", t + 1, d, u);
        cr_assert(fabs(d - want_p[t][0]) < 2e-6 && fabs(u - want_p[t][1]) < 2e-6,
                  "step %d: serve %.9g/%.9g, run --data %.6f/%.6f", t + 1, d, u, want_p[t][0],
                  want_p[t][1]);
        cr_assert_str_eq(fc->items[t]->str, u > d ? "up" : "down", "step %d", t + 1);
        if (fabs(u - d) > 1e-5) cr_assert_str_eq(fc->items[t]->str, want_cls[t], "step %d", t + 1);
    }
    cr_assert_null(ntg__json_get(root, "quantiles"), "%s", r);
    free(r);
    free(ot);
    ntg__pool_destroy(pool);
    cr_assert_eq(stop(&s), 0);
}
