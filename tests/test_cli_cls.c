/* test_cli_cls.c — the command line of classification heads: graphs/nhits_cls.yaml trained a few
 * steps, run's class probabilities and argmax, eval's accuracy, log-loss and Brier score beside
 * the majority baseline (the labels checked against the data), and the errors of misuse. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli_testutil.h"

/* 2000 rows of a daily cycle plus noise (a fixed generator: no libc rand). */
static void write_series(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "date,y\n");
    tu_rng r = {5};
    for (int t = 0; t < 2000; t++)
        fprintf(f, "%d,%.5f\n", t,
                20 + 5 * sin(6.283185307179586 * t / 24.0) + tu_uniform(&r, -1, 1));
    fclose(f);
}

#define SMALL "-D h=24 -D input_size=48 -D hidden=32 --steps 60 --batch 16 --split 0.6,0.2,0.2"

static double json_key(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(s, k);
    cr_assert(p, "no key %s in %s", key, s);
    return strtod(p + strlen(k), NULL);
}

Test(cli_cls, two_classes_train_run_and_eval, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out;
    int rc = sh(&out, "$NTG train graphs/nhits_cls.yaml --data %s " SMALL " -o %s", tmp("s.csv"),
                tmp("c.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    /* the plan records that it is a classifier and its class definition */
    rc = sh(&out, "$NTG info %s", tmp("c.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "loss=xent") && strstr(out, "class_threshold=0"), "%s", out);
    free(out);
    /* run: the argmax and each class's probability, summing to one */
    rc = sh(&out, "$NTG run %s --data %s", tmp("c.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strncmp(out, "step,y-class,y-p_down,y-p_up\n", 29) == 0, "%s", out);
    int rows = 0;
    for (char *l = strchr(out, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
        int step;
        char cls[8];
        double pd, pu;
        cr_assert_eq(sscanf(l + 1, "%d,%7[a-z],%lf,%lf", &step, cls, &pd, &pu), 4, "%s", l + 1);
        cr_assert(fabs(pd + pu - 1) < 1e-5 && pd >= 0 && pu >= 0, "%s", l + 1);
        cr_assert_str_eq(cls, pu > pd ? "up" : "down", "%s", l + 1);
        rows++;
    }
    cr_assert_eq(rows, 24, "%s", out);
    free(out);
    /* eval: the keys, in range, and the model beats the baseline on a daily cycle */
    rc = sh(&out, "$NTG eval %s --data %s --split 0.6,0.2,0.2 --json", tmp("c.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    double acc = json_key(out, "accuracy"), base = json_key(out, "majority_accuracy");
    double ll = json_key(out, "log_loss"), bll = json_key(out, "majority_log_loss");
    double br = json_key(out, "brier"), bbr = json_key(out, "majority_brier");
    cr_assert(acc > 0 && acc <= 1 && base >= 0.4 && base <= 0.6, "%s", out);
    cr_assert(acc > base + 0.05, "accuracy %g vs the majority's %g", acc, base);
    cr_assert(ll > 0 && ll < bll && br >= 0 && br < bbr && bbr <= 2, "%s", out);
    /* the majority baseline of a balanced up/down series predicts ~0.5: log-loss ~log 2 */
    cr_assert(fabs(bll - log(2.0)) < 0.01, "%s", out);
    /* 400 test rows (inputs may reach back into val): 400 - 24 + 1 windows of 24 labels */
    cr_assert(strstr(out, "\"n\":9048"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG eval %s --data %s --split 0.6,0.2,0.2", tmp("c.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "accuracy") && strstr(out, "majority") && strstr(out, "Brier"), "%s",
              out);
    free(out);
    rc = sh(&out, "$NTG run %s --data %s --plot %s", tmp("c.plan"), tmp("s.csv"), tmp("p.svg"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "classifier"), "%s", out);
    free(out);
}

Test(cli_cls, three_classes_need_a_dead_band_and_three_logits, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out;
    int rc =
        sh(&out, "$NTG train graphs/nhits_cls.yaml --data %s " SMALL " --class-threshold 0.3 -o %s",
           tmp("s.csv"), tmp("c.plan"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "[batch, h, 3]") && strstr(out, "-D n_classes=3"), "%s", out);
    free(out);
    rc = sh(&out,
            "$NTG train graphs/nhits_cls.yaml --data %s " SMALL
            " -D n_classes=3 --class-threshold 0.3 -o %s",
            tmp("s.csv"), tmp("c.plan"));
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "$NTG run %s --data %s | head -1", tmp("c.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "step,y-class,y-p_down,y-p_flat,y-p_up"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG eval %s --data %s --split 0.6,0.2,0.2 --json", tmp("c.plan"), tmp("s.csv"));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(json_key(out, "accuracy") > json_key(out, "majority_accuracy"), "%s", out);
    free(out);
    rc = sh(&out, "$NTG train graphs/nhits_cls.yaml --data %s " SMALL " --class-threshold -1 -o %s",
            tmp("s.csv"), tmp("c.plan"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "class_threshold must be a finite number >= 0"), "%s", out);
    free(out);
}

/* train's synopsis names every option its --help lists (the covariate flags were missing);
 * the options with a short form appear as it (-D, -T, -o). */
Test(cli_cls, train_synopsis_names_every_option)
{
    char *out;
    int rc = sh(&out, "$NTG train --help");
    cr_assert_eq(rc, 0, "%s", out);
    char *nl = strchr(out, '\n');
    cr_assert(nl && strncmp(out, "usage: ", 7) == 0, "%s", out);
    size_t ulen = (size_t)(nl - out);
    int n = 0;
    for (char *l = nl; l && l[1]; l = strchr(l + 1, '\n')) {
        const char *p = l + 1;
        while (*p == ' ') p++;
        if (p == l + 1 || p[0] != '-') continue; /* option lines are indented */
        char shortf[3] = "", name[64];
        if (p[1] != '-') { /* "-D, --define" */
            memcpy(shortf, p, 2);
            p = strstr(p, "--");
        }
        if (sscanf(p, "%63[-a-z]", name) != 1 || strcmp(name, "--help") == 0) continue;
        char *u = strndup(out, ulen);
        int found = 0;
        for (const char *q = u; (q = strstr(q, shortf[0] ? shortf : name)) != NULL; q++) {
            size_t k = strlen(shortf[0] ? shortf : name);
            if (q[k] == ' ' || q[k] == ']' || q[k] == '\0') found = 1;
        }
        cr_assert(found, "train's synopsis lacks %s", shortf[0] ? shortf : name);
        free(u);
        n++;
    }
    cr_assert_geq(n, 40, "only %d options read from: %s", n, out);
    free(out);
}

/* cv scores point forecasts: a classifier is refused by name, pointing at eval. */
Test(cli_cls, cv_refuses_a_classifier, .init = make_tmp, .fini = rm_tmp)
{
    write_series(tmp("s.csv"));
    char *out;
    int rc = sh(&out,
                "$NTG cv graphs/nhits_cls.yaml --data %s -D h=24 -D input_size=48 -D hidden=32 "
                "--steps 5 --split 0.6,0.2 --windows 2",
                tmp("s.csv"));
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "graphs/nhits_cls.yaml is a classification head (loss xent): cv scores "
                          "point forecasts; score a classifier with `ntgraph eval`"),
              "%s", out);
    free(out);
}
