/* store_crash_child.c — the crash test's writer: commits in a loop, acknowledging each commit.
 *
 * usage: store_crash_child DB PLAN FIRST_SEQ [KILL_AT]
 *
 * Commits versions (every step), checkpoints (every third) and runs gc (every seventh) into
 * the store at DB, writing one line to stdout after each call returns ("V model version seq",
 * "C model id seq", "G seq").  With KILL_AT the process SIGKILLs itself at the KILL_AT-th step
 * of the store's commit protocols (its kill points); otherwise it runs until it is killed.
 * Exit status 3 on a store error (printed to stderr).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_crash.h"

typedef struct killer {
    long at, seen;
} killer;

static void killpoint(void *user, int step)
{
    killer *k = user;
    (void)step;
    if (++k->seen == k->at) raise(SIGKILL);
}

static void ack(const char *line)
{
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t w = write(1, line + off, n - off);
        if (w <= 0) _exit(4);
        off += (size_t)w;
    }
}

static int fail(const ntg_error *err)
{
    fprintf(stderr, "store_crash_child: %s\n", err->message);
    return 3;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: store_crash_child DB PLAN FIRST_SEQ [KILL_AT]\n");
        return 2;
    }
    ntg_error err;
    ntg_plan *base = NULL;
    if (ntg_plan_load_file(argv[2], &base, &err)) return fail(&err);
    uint64_t seq = strtoull(argv[3], NULL, 10);
    killer k = {argc > 4 ? atol(argv[4]) : 0, 0};
    ntg_store *s = NULL;
    if (ntg_store_open(argv[1], NULL, &s, &err)) return fail(&err);
    if (k.at > 0) ntg__store_set_killpoint(s, killpoint, &k);
    uint8_t *w = malloc(CRASH_CKPT_WEIGHTS), *st = malloc(CRASH_CKPT_STATE),
            *best = malloc(CRASH_CKPT_WEIGHTS);
    char line[128];
    for (;; seq++) {
        ntg_plan *p = crash_plan(base, seq);
        if (!p) return 3;
        ntg_define tag = {"seq", line};
        snprintf(line, sizeof line, "%llu", (unsigned long long)seq);
        const char *alias = "champ";
        ntg_store_put_options o;
        ntg_store_put_options_init(&o);
        o.tags = &tag;
        o.n_tags = 1;
        o.aliases = &alias;
        o.n_aliases = seq % 5 == 0;
        uint64_t v;
        if (ntg_store_put(s, crash_model(seq), p, &o, &v, &err)) return fail(&err);
        ntg_plan_destroy(p);
        snprintf(line, sizeof line, "V %s %llu %llu\n", crash_model(seq), (unsigned long long)v,
                 (unsigned long long)seq);
        ack(line);
        if (seq % 3 == 0) {
            crash_fill(w, CRASH_CKPT_WEIGHTS, seq);
            crash_fill(st, CRASH_CKPT_STATE, seq + 1);
            crash_fill(best, CRASH_CKPT_WEIGHTS, seq - 3);
            ntg_store_blob blobs[] = {{"weights", w, CRASH_CKPT_WEIGHTS},
                                      {"state", st, CRASH_CKPT_STATE},
                                      {"best", best, CRASH_CKPT_WEIGHTS}};
            char sq[32];
            snprintf(sq, sizeof sq, "%llu", (unsigned long long)seq);
            ntg_define meta[] = {{"seq", sq}};
            ntg_store_checkpoint ck = {sizeof(ntg_store_checkpoint),
                                       0,
                                       0,
                                       (long)seq,
                                       1.0,
                                       0.5,
                                       NULL,
                                       0,
                                       meta,
                                       1,
                                       blobs,
                                       3};
            uint64_t id;
            if (ntg_store_put_checkpoint(s, crash_model(seq), &ck, 2, &id, &err)) return fail(&err);
            snprintf(line, sizeof line, "C %s %llu %llu\n", crash_model(seq),
                     (unsigned long long)id, (unsigned long long)seq);
            ack(line);
        }
        if (seq % 7 == 0) {
            ntg_store_gc_report g;
            ntg_store_gc_report_init(&g);
            if (ntg_store_gc(s, &g, &err)) return fail(&err);
            snprintf(line, sizeof line, "G %llu\n", (unsigned long long)seq);
            ack(line);
        }
    }
}
