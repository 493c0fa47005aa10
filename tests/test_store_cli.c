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
    /* --resume from the newest checkpoint (step 12): nothing left, the same weights */
    cr_assert_eq(sh(&o, "%s --resume", train), 0, "%s", o);
    cr_assert(strstr(o, "resumed from step 12") && strstr(o, "registered run@2"), "%s", o);
    free(o);
    cr_assert_eq(sh(&o, "$NTG store export --db t.db run@1 -o 1.safetensors && "
                        "$NTG store export --db t.db run@2 -o 2.safetensors && "
                        "cmp 1.safetensors 2.safetensors"),
                 0, "%s", o);
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
