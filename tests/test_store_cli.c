/* test_store_cli.c — `ntgraph store ...`, store:PATH:NAME@REF plans and `train --store`. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "pool.h"
#include "store_testutil.h"

static char tmpdir[256];

static void setup(void)
{
    st_mkdtemp(tmpdir, sizeof tmpdir, "store-cli");
}

static void teardown(void)
{
    st_rmdir(tmpdir);
}

TestSuite(store, .init = setup, .fini = teardown);

/* Run a shell command line in the temporary directory ($NTG is ntgraph, $SRC the source
 * root); capture stdout and stderr into *out (caller frees) and return the exit status. */
static int sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **out, const char *fmt, ...)
{
    char cmd[4096], full[8192], src[2048], bin[2048], log[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(src, sizeof src, "%s", tu_src(""));
    snprintf(bin, sizeof bin, "%s", tu_build("cli/ntgraph"));
    snprintf(log, sizeof log, "%s/out.txt", tmpdir);
    snprintf(full, sizeof full, "cd '%s' && NTG='%s' && SRC='%s' && (%s) >'%s' 2>&1", tmpdir, bin,
             src, cmd, log);
    int rc = system(full);
    char *text = tu_read_file(log, NULL);
    cr_assert(text);
    if (out)
        *out = text;
    else
        free(text);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void assert_json(const char *text)
{
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *root;
    char msg[200];
    cr_assert_eq(ntg__json_parse(text, strlen(text), pool, &root, msg, sizeof msg, NULL), NTG_OK,
                 "%s: %s", msg, text);
    ntg__pool_destroy(pool);
}

#define SMALL "-D h=24 -D input_size=96 -D hidden=64"

Test(store, cli_import_list_show_export)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile $SRC/graphs/nhits.yaml " SMALL " --infer-only -o a.plan"), 0,
                 "%s", o);
    free(o);
    /* the default store is ./ntgraph.db; import prints only the version number */
    cr_assert_eq(sh(&o, "$NTG store import --name nh a.plan"), 0, "%s", o);
    cr_assert_str_eq(o, "1\n");
    free(o);
    cr_assert_eq(sh(&o, "$NTG store import --db m.db --name nh a.plan --alias champion "
                        "--tag stage=prod --description first"),
                 0, "%s", o);
    cr_assert_str_eq(o, "1\n");
    free(o);
    cr_assert_eq(sh(&o, "$NTG store import --db m.db --name nh a.plan"), 0, "%s", o);
    cr_assert_str_eq(o, "2\n");
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --db m.db"), 0, "%s", o);
    cr_assert(strstr(o, "nh ") && strstr(o, "latest"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --db m.db --json"), 0, "%s", o);
    assert_json(o);
    cr_assert(strstr(o, "\"version\":2"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --db m.db --json --tag stage=prod"), 0, "%s", o);
    cr_assert(strstr(o, "\"version\":1") && !strstr(o, "\"version\":2"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store versions --db m.db nh --json"), 0, "%s", o);
    assert_json(o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db m.db nh@champion"), 0, "%s", o);
    cr_assert(strstr(o, "version:     1 of 2") && strstr(o, "description: first"), "%s", o);
    cr_assert(strstr(o, "blocks.0.layers.0.weight"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db m.db nh --json"), 0, "%s", o);
    assert_json(o);
    free(o);
    /* export: the same plan bytes, and weights as safetensors that import back */
    cr_assert_eq(sh(&o, "$NTG store export --db m.db nh@1 -o b.plan && cmp a.plan b.plan"), 0, "%s",
                 o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store export --db m.db nh@1 -o w.safetensors && "
                        "$NTG store import --db m.db --name nh w.safetensors"),
                 0, "%s", o);
    cr_assert_str_eq(o, "3\n");
    free(o);
    /* a stored plan wherever a plan path goes */
    cr_assert_eq(sh(&o, "$NTG info store:m.db:nh@champion"), 0, "%s", o);
    cr_assert(strstr(o, "nhits"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run store:m.db:nh@2 --backend cpu --data $SRC/data/ETTh1.csv "
                        "--columns OT"),
                 0, "%s", o);
    free(o);
    /* tags, aliases, similar, verify, gc, backup */
    cr_assert_eq(sh(&o, "$NTG store tag --db m.db nh@2 owner=me k=v && "
                        "$NTG store tag --db m.db nh@2 --remove k && "
                        "$NTG store alias --db m.db nh@3 prod && $NTG store alias --db m.db nh"),
                 0, "%s", o);
    cr_assert(strstr(o, "prod                 nh@3"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --db m.db --alias prod --json"), 0, "%s", o);
    cr_assert(strstr(o, "\"version\":3") && strstr(o, "\"prod\""), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store similar --db m.db nh@1 -k 2 --json"), 0, "%s", o);
    assert_json(o);
    cr_assert(strstr(o, "\"score\":"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store verify --db m.db --json"), 0, "%s", o);
    assert_json(o);
    cr_assert(strstr(o, "\"ok\":true"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store gc --db m.db && $NTG store backup --db m.db bk && "
                        "$NTG store list --db bk"),
                 0, "%s", o);
    cr_assert(strstr(o, "removed 0 unreferenced chunks"), "%s", o);
    free(o);
}

Test(store, cli_errors_are_clear)
{
    char *o;
    cr_assert_eq(sh(&o, "$NTG compile $SRC/graphs/nhits.yaml " SMALL " --infer-only -o a.plan && "
                        "$NTG store import --db m.db --name nh a.plan"),
                 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db m.db nope"), 2);
    cr_assert(strstr(o, "ntgraph store: error: ") && strstr(o, "no model 'nope'"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db m.db nh@9"), 2);
    cr_assert(strstr(o, "has no version 9"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store alias --db m.db nh@1 latest"), 2);
    cr_assert(strstr(o, "kept by the store"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store alias --db m.db nh@1 '9x'"), 2);
    cr_assert(strstr(o, "bad alias"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --db nowhere.db"), 2);
    cr_assert(strstr(o, "no model store here"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "test ! -e nowhere.db"), 0, "a reader created a store");
    free(o);
    cr_assert_eq(sh(&o, "mkdir junk && echo x > junk/f && $NTG store import --db junk "
                        "--name nh a.plan"),
                 2);
    cr_assert(strstr(o, "not a model store"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "ls junk"), 0);
    cr_assert_str_eq(o, "f\n");
    free(o);
    cr_assert_eq(sh(&o, "$NTG store list --db m.db --output x"), 2);
    cr_assert(strstr(o, "does not take --output"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store frob --db m.db"), 2);
    free(o);
    cr_assert_eq(sh(&o, "$NTG run store:m.db --backend cpu --data $SRC/data/ETTh1.csv"), 2);
    cr_assert(strstr(o, "expected store:PATH:NAME@REF"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG info store:m.db:nh@gone"), 2);
    cr_assert(strstr(o, "no alias 'gone'"), "%s", o);
    free(o);
}

Test(store, cli_train_registers_checkpoints_and_a_version)
{
    char *o;
    const char *train = "$NTG train $SRC/graphs/nhits.yaml -D h=8 -D input_size=24 -D hidden=16 "
                        "--data $SRC/data/ETTh1.csv --columns OT --split 400,100,100 --steps 12 "
                        "--batch 8 --val-every 4 --checkpoint-every 4 --store t.db --name run "
                        "--backend cpu";
    cr_assert_eq(sh(&o, "%s", train), 0, "%s", o);
    cr_assert(strstr(o, "registered run@1 in t.db"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store checkpoints --db t.db run"), 0, "%s", o);
    cr_assert(strstr(o, "         8 ") && strstr(o, "        12 "), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store checkpoints --db t.db run --json"), 0, "%s", o);
    assert_json(o);
    cr_assert(strstr(o, "\"step\":12"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store alias --db t.db run --json"), 0, "%s", o);
    assert_json(o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db t.db run"), 0, "%s", o);
    cr_assert(strstr(o, "final_train_loss=") && strstr(o, "split 400,100,100"), "%s", o);
    free(o);
    /* --resume of the finished run: refused, no second version of the same weights */
    cr_assert_eq(sh(&o, "%s --resume", train), 2, "%s", o);
    cr_assert(strstr(o, "that run is finished") && strstr(o, "step 12 of 12"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store versions --db t.db run --json"), 0, "%s", o);
    cr_assert_null(strstr(o, "\"version\":2"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "%s --checkpoint-dir x", train), 2);
    cr_assert(strstr(o, "not both"), "%s", o);
    free(o);
}

/* issue 11 §6: `store import` tells a safetensors file by its content, not its extension, and
 * imported weights do not inherit the metrics the previous version's training recorded. */
Test(store, cli_import_sniffs_safetensors_and_drops_old_metrics)
{
    char *o;
    const char *train = "$NTG train $SRC/graphs/nhits.yaml -D h=8 -D input_size=24 -D hidden=16 "
                        "--data $SRC/data/ETTh1.csv --columns OT --split 400,100,100 --steps 4 "
                        "--batch 8 --val-every 2 --store t.db --name run --backend cpu";
    cr_assert_eq(sh(&o, "%s", train), 0, "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db t.db run@1"), 0, "%s", o);
    cr_assert(strstr(o, "final_train_loss="), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store export --db t.db run@1 -o w.safetensors && "
                        "cp w.safetensors weights.bin && "
                        "$NTG store import --db t.db --name run weights.bin"),
                 0, "%s", o);
    cr_assert_str_eq(o, "2\n");
    free(o);
    cr_assert_eq(sh(&o, "$NTG store show --db t.db run@2"), 0, "%s", o);
    cr_assert_null(strstr(o, "final_train_loss"), "%s", o);
    cr_assert_null(strstr(o, "best_val_loss"), "%s", o);
    free(o);
    /* a plan under the .safetensors extension is still a plan */
    cr_assert_eq(sh(&o, "$NTG store export --db t.db run@1 -o p.safetensors.plan && "
                        "cp p.safetensors.plan p.safetensors && $NTG store export --db t.db run@1 "
                        "-o plan.bin && cp plan.bin plan.safetensors && "
                        "$NTG store import --db t.db --name run plan.safetensors"),
                 0, "%s", o);
    cr_assert_str_eq(o, "3\n");
    free(o);
}

/* issue 11 §6: --resume refuses any difference in the run's configuration, naming it and both
 * values (the optimizer by name, not as two plan hashes); with no checkpoint it says that it
 * starts from scratch. */
Test(store, cli_resume_refuses_a_different_configuration)
{
    char *o;
    const char *train = "$NTG train $SRC/graphs/nhits.yaml -D h=8 -D input_size=24 -D hidden=16 "
                        "--split 400,100,100 --steps 8 --batch 8 --val-every 4 "
                        "--checkpoint-every 4 --store t.db --name run --backend cpu";
    cr_assert_eq(sh(&o, "%s --data $SRC/data/ETTh1.csv --columns OT --resume", train), 0, "%s", o);
    cr_assert(strstr(o, "--resume found no checkpoint: started from scratch"), "%s", o);
    free(o);
    /* the same file with one value changed */
    cr_assert_eq(sh(&o, "sed '5s/,[^,]*$/,99.5/' $SRC/data/ETTh1.csv > other.csv"), 0, "%s", o);
    free(o);
    struct {
        const char *args, *want;
    } cases[] = {
        {"--data other.csv --columns OT", "data (fingerprint of the chosen columns)"},
        {"--data $SRC/data/ETTh1.csv --columns HUFL", "columns OT, this run has HUFL"},
        {"--data $SRC/data/ETTh1.csv --columns OT --lr 0.25", ", this run has 0.25"},
        {"--data $SRC/data/ETTh1.csv --columns OT --lr-decays 2",
         "LR schedule (lr_decays) 3, this run has 2"},
        {"--data $SRC/data/ETTh1.csv --columns OT --optimizer sgd",
         "optimizer adam, this run has sgd"},
        {"--data $SRC/data/ETTh1.csv --columns OT", "that run is finished (its last checkpoint "
                                                    "is at step 8 of 8)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(sh(&o, "%s %s --resume", train, cases[i].args), 2, "%s: %s", cases[i].args, o);
        cr_assert(strstr(o, cases[i].want), "%s: %s", cases[i].args, o);
        cr_assert(strstr(o, "cannot resume"), "%s", o);
        free(o);
    }
    cr_assert_eq(sh(&o, "$NTG store versions --db t.db run --json"), 0, "%s", o);
    cr_assert_null(strstr(o, "\"version\":2"), "one run, one version: %s", o);
    free(o);
}
