/* train.c — the training loop: sampling, steps, schedule, validation, early stopping, checkpoints.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "exog.h"
#include "ntg_error.h"
#include "model_io.h"
#include "op_attrs.h"
#include "safetensors.h"
#include "session_int.h"
#include "train_dp.h"
#include "warm_start.h"

typedef struct trainer {
    const ntg_plan *plan;
    const ntg_series *data;
    const ntg_train_options *o;
    ntg_model_io io;
    ntg_session *s;
    int *cols;
    size_t n_cols;
    ntg_split split;
    ntg_scaler *scaler;
    ntg_window_scaler wscaler;
    ntg_windows wtrain, wval;
    uint32_t grad_norm; /* train_step's grad_norm output (with clipping), or NTG_NONE */
    uint32_t rng;       /* train.rng (a plan with dropout: docs/internals.md), or NTG_NONE */
    int has_val;
    /* settings */
    long steps, val_every, patience, lr_decays, checkpoint_every;
    int batch, chunk;
    double lr;
    uint64_t seed;
    /* buffers */
    float *x, *t, *loc, *scale, *ones, *y;
    uint64_t *idx;
    uint8_t *best;
    size_t wbytes, sbytes;
    /* progress */
    long step, best_step, bad;
    double best_val;
    uint32_t fingerprint;
    char data_fp[16];           /* crc32c of the chosen columns' names and values (every row) */
    char exog_fp[64];           /* "none", or the covariates' counts and a crc32c of their
                                   names, normalizations and normalized values (every row) */
    char columns[512];          /* the chosen columns, comma-separated (cut when very long) */
    double last_loss, last_val; /* of the step a checkpoint is made at (checkpoint_put) */
    long last_ckpt;             /* the step of the last checkpoint written */
    /* data parallel (dp NULL: one process) */
    const ntg__train_dp *dp;
    int rank, world;      /* this worker's place now (it changes when the mesh re-forms) */
    int g_grad, g_apply;  /* the grad and apply programs */
    uint32_t *grad_ids;   /* grad's parameter-gradient outputs, in order */
    size_t *grad_len;     /* their element counts */
    size_t n_grads, gsum; /* how many, and their total elements */
    float *gbuf;          /* the all-reduce buffer: gradients, loss, stop flag */
    size_t *goff;         /* gradient k's offset in gbuf */
    /* overlap (docs/internals.md, "Overlap"): n_buckets > 0 cuts each step's grad run after
     * op position bk_end[j] and all-reduces bucket j (gbuf[bk_off[j] .. + bk_len[j]]) while the
     * rest runs; 0: one all-reduce after the whole grad program */
    uint32_t n_buckets;
    uint32_t *bk_end, *bk_first; /* bk_first[j]: bucket j's first gradient in `order` */
    size_t *bk_off, *bk_len;
    uint32_t *order; /* the gradients in the order backward finishes them (gbuf's layout) */
    /* covariates (exog.h): NULL when none are given */
    ntg_exog *exog;
    float *xbuf; /* a batch's covariates */
    /* in place (docs/internals.md, "In place"): the all-reduce sums the gradients where grad
     * left them in the host arena, as pieces sp_ptr/sp_len in gbuf's layout followed by
     * gbuf's loss and stop flag; no copy out and back */
    int inplace;
    float **sp_ptr;
    size_t *sp_len;
    /* sharded optimizer (ZeRO-1; docs/internals.md, "Sharded optimizer"): each step's
     * all-reduces ("units": the buckets, or the one all-reduce) are cut into their
     * reduce-scatter and all-gather; between them this worker runs the optimizer ops of the
     * parameters in the segments it owns, and the all-gather carries weights */
    int shard;
    uint32_t n_units;
    uint32_t *un_first;  /* unit u's pieces: [un_first[u], un_first[u + 1]) of sp_ptr, the last
                            unit also the loss slot (sp_ptr[n_grads]) */
    uint64_t *un_bounds; /* (world + 1) element bounds per unit, for the current world */
    float **wp_ptr;      /* the weights in sp_ptr's order, then the loss slot */
    float **stp_ptr[2];  /* the optimizer's state tensors in that order (n_state of them) */
    uint32_t *aop;       /* gradient k's optimizer op: its position in the apply program */
    int n_state;
    int state_whole; /* every worker's optimizer state is whole (since a start or a gather) */
    int join;        /* rank 0: joiners wait; gather the state, then re-form */
    int ckpt0;       /* rank 0 writes checkpoints (told in the start header) */
    float flags[2];  /* stop, join: all-reduced at each sharded step's start */
    size_t own_elems, own_params;
} trainer;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void ntg_train_options_init(ntg_train_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

void ntg_train_report_init(ntg_train_report *r)
{
    if (!r) return;
    memset(r, 0, sizeof *r);
    r->size = sizeof *r;
    r->best_val_loss = NAN;
}

static ntg_status setting_long(trainer *tr, const char *key, long lo, long *out, ntg_error *err)
{
    const char *v = ntg__setting(tr->plan, tr->o->settings, tr->o->n_settings, key);
    if (!v) return ntg__fail(err, NTG_ERR_INVALID_ARG, "no value for training setting '%s'", key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "training setting '%s' must be an integer >= %ld, not '%s'", key, lo, v);
    *out = x;
    return NTG_OK;
}

static ntg_status setting_double(trainer *tr, const char *key, double *out, ntg_error *err)
{
    const char *v = ntg__setting(tr->plan, tr->o->settings, tr->o->n_settings, key);
    if (!v) return ntg__fail(err, NTG_ERR_INVALID_ARG, "no value for training setting '%s'", key);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x > 0) || !isfinite(x))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "training setting '%s' must be a positive number, not '%s'", key, v);
    *out = x;
    return NTG_OK;
}

static ntg_status check_setting_names(const ntg_train_options *o, ntg_error *err)
{
    static const char *const known[] = {"steps",         "batch",     "lr",        "lr_decays",
                                        "val_every",     "patience",  "seed",      "scaler",
                                        "window_scaler", "hist_exog", "futr_exog", "static"};
    for (size_t i = 0; i < o->n_settings; i++) {
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strcmp(o->settings[i].name, known[k]) == 0;
        if (!ok)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "unknown training setting '%s' (steps, batch, lr, lr_decays, "
                             "val_every, patience, seed, scaler, window_scaler, hist_exog, "
                             "futr_exog, static; loss and "
                             "optimizer are fixed when the graph is compiled)",
                             o->settings[i].name);
    }
    return NTG_OK;
}

/* NeuralForecast's schedule: StepLR(step_size = max(steps // lr_decays, 1), gamma = 0.5)
 * stepped after every optimizer step, so step k (1-based) uses lr * 0.5^((k-1) // size). */
static double lr_at(const trainer *tr, long step)
{
    if (tr->lr_decays <= 0) return tr->lr;
    long size = tr->steps / tr->lr_decays;
    if (size < 1) size = 1;
    return tr->lr * pow(0.5, (double)((step - 1) / size));
}

/* Structure of the plan (not its weights): a checkpoint only resumes the same model. */
static uint32_t plan_fingerprint(const ntg_plan *p)
{
    const ntg_plan_image *im = &p->img;
    uint32_t c = ntg__crc32c(0, im->tensors, im->n_tensors * sizeof *im->tensors);
    c = ntg__crc32c(c, im->ops, im->n_ops * sizeof *im->ops);
    c = ntg__crc32c(c, im->operands, im->n_operands * sizeof *im->operands);
    return ntg__crc32c(c, im->attrs, im->n_attrs * sizeof *im->attrs);
}

/* Mean loss of the eval program over every validation window. */
static ntg_status validate(trainer *tr, double *out, ntg_error *err)
{
    uint64_t n = ntg__windows_count(&tr->wval);
    double total = 0;
    for (uint64_t k0 = 0; k0 < n; k0 += (uint64_t)tr->chunk) {
        size_t b = (size_t)(n - k0 < (uint64_t)tr->chunk ? n - k0 : (uint64_t)tr->chunk);
        for (size_t i = 0; i < b; i++) tr->idx[i] = k0 + i;
        ntg_status st = ntg__windows_fill(tr->data, tr->scaler, tr->wscaler, &tr->wval, tr->idx, b,
                                          tr->x, tr->t, tr->loc, tr->scale, err);
        if (!st && tr->io.classes) ntg__model_labels(&tr->io, tr->x, tr->t, b);
        if (!st) st = ntg__session_set_tensor(tr->s, tr->io.x, tr->x, b * tr->io.L, err);
        if (!st)
            st = ntg__exog_feed(tr->exog, &tr->io, tr->s, tr->data, &tr->wval, tr->idx, b, tr->xbuf,
                                err);
        if (!st) st = ntg__session_set_tensor(tr->s, tr->io.t, tr->t, b * tr->io.h, err);
        if (!st && tr->io.mask != NTG_NONE)
            st = ntg__session_set_tensor(tr->s, tr->io.mask, tr->ones, b * tr->io.h, err);
        if (!st) st = ntg__session_run_index(tr->s, tr->io.g_eval, (int)b, err);
        float loss = 0;
        if (!st) st = ntg_session_get_output(tr->s, "loss", &loss, 1, err);
        if (st) return st;
        /* every window has the same number of target values: weight by windows */
        total += (double)loss * (double)b;
    }
    *out = total / (double)n;
    return NTG_OK;
}

/* ------------------------------------------------------------- checkpoints */

#define CKPT_PREFIX "ckpt-"
#define CKPT_SUFFIX ".safetensors"

static void ckpt_path(const char *dir, long step, char *buf, size_t cap)
{
    ntg__strfmt(buf, cap, "%s/" CKPT_PREFIX "%09ld" CKPT_SUFFIX, dir, step);
}

/* Steps of the checkpoints in dir, ascending (at most cap). */
static size_t ckpt_list(const char *dir, long *steps, size_t cap)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        long st;
        char tail[32];
        if (sscanf(e->d_name, CKPT_PREFIX "%ld%31s", &st, tail) == 2 &&
            strcmp(tail, CKPT_SUFFIX) == 0 && st > 0)
            steps[n++] = st;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
            long tmp = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = tmp;
        }
    return n;
}

/* What a resume must match, besides the plan's structure: key in the checkpoint, how a message
 * names it, and this run's value. */
typedef struct conf_item {
    const char *key, *label;
    char value[520];
} conf_item;

enum { N_CONF = 13 };

static void run_config(const trainer *tr, conf_item c[N_CONF])
{
    const char *opt = ntg_plan_meta(tr->plan, "train.optimizer");
    const char *loss = ntg_plan_meta(tr->plan, "train.loss");
    const char *sk = ntg__setting(tr->plan, tr->o->settings, tr->o->n_settings, "scaler");
    const char *wk = ntg__setting(tr->plan, tr->o->settings, tr->o->n_settings, "window_scaler");
    int i = 0;
#define CONF(k, l, ...)                                                                            \
    do {                                                                                           \
        c[i].key = k;                                                                              \
        c[i].label = l;                                                                            \
        snprintf(c[i].value, sizeof c[i].value, __VA_ARGS__);                                      \
        i++;                                                                                       \
    } while (0)
    CONF("optimizer", "optimizer", "%s", opt ? opt : "?");
    CONF("loss", "loss", "%s", loss ? loss : "?");
    CONF("columns", "columns", "%s", tr->columns);
    CONF("data", "data (fingerprint of the chosen columns)", "%s", tr->data_fp);
    CONF("covariates", "covariates (counts hist/futr/static and fingerprint)", "%s",
         tr->exog_fp[0] ? tr->exog_fp : "none");
    CONF("lr", "learning rate", "%.17g", tr->lr);
    CONF("lr_decays", "LR schedule (lr_decays)", "%ld", tr->lr_decays);
    CONF("val_every", "val_every", "%ld", tr->val_every);
    CONF("patience", "patience", "%ld", tr->patience);
    CONF("scaler", "scaler", "%s", sk ? sk : "zscore");
    CONF("window_scaler", "window scaler", "%s", wk ? wk : "identity");
    CONF("seed", "seed", "%llu", (unsigned long long)tr->seed);
    CONF("batch", "batch", "%d", tr->batch);
#undef CONF
}

static ntg_status ckpt_write(trainer *tr, uint8_t *wbuf, uint8_t *sbuf, ntg_error *err)
{
    const char *dir = tr->o->checkpoint_dir;
    if (!tr->o->checkpoint_put && mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ntg__err(err, NTG_ERR_IO, dir, 0, 0, "cannot create checkpoint directory: %s",
                        strerror(errno));
    ntg_status st = ntg__session_read_storage(tr->s, NTG_STORE_WEIGHTS, wbuf, err);
    if (!st) st = ntg__session_read_storage(tr->s, NTG_STORE_STATE, sbuf, err);
    if (st) return st;
    int64_t wshape[1] = {(int64_t)tr->wbytes}, sshape[1] = {(int64_t)tr->sbytes};
    ntg_st_out t[3];
    size_t nt = 0;
    t[nt++] = (ntg_st_out){"weights", "U8", 1, wshape, wbuf};
    if (tr->sbytes) t[nt++] = (ntg_st_out){"state", "U8", 1, sshape, sbuf};
    if (tr->best) t[nt++] = (ntg_st_out){"best", "U8", 1, wshape, tr->best};
    char step[32], best_step[32], best_val[64], bad[32], seed[32], fp[32], steps[32], batch[32];
    snprintf(step, sizeof step, "%ld", tr->step);
    snprintf(best_step, sizeof best_step, "%ld", tr->best_step);
    snprintf(best_val, sizeof best_val, "%a", tr->best_val); /* hex: exact round trip */
    snprintf(bad, sizeof bad, "%ld", tr->bad);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)tr->seed);
    snprintf(fp, sizeof fp, "%08x", tr->fingerprint);
    snprintf(steps, sizeof steps, "%ld", tr->steps);
    snprintf(batch, sizeof batch, "%d", tr->batch);
    const char *meta[] = {"ntgraph.checkpoint",
                          "1",
                          "step",
                          step,
                          "best_step",
                          best_step,
                          "best_val",
                          best_val,
                          "bad",
                          bad,
                          "seed",
                          seed,
                          "plan",
                          fp,
                          "steps",
                          steps,
                          "batch",
                          batch,
                          "split_rows",
                          ""};
    char split[96];
    snprintf(split, sizeof split, "%zu,%zu,%zu", tr->split.train, tr->split.val, tr->split.test);
    meta[19] = split;
    /* the run's configuration (what a resume must match) and whether the run has ended */
    conf_item conf[N_CONF];
    run_config(tr, conf);
    const char *all[2 * (10 + N_CONF + 1)];
    size_t nm = 0;
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) all[nm++] = meta[i];
    for (int k = 0; k < N_CONF; k++) {
        if (strcmp(conf[k].key, "seed") == 0 || strcmp(conf[k].key, "batch") == 0) continue;
        all[nm++] = conf[k].key;
        all[nm++] = conf[k].value;
    }
    all[nm++] = "finished";
    all[nm++] = tr->step >= tr->steps || (tr->patience > 0 && tr->bad >= tr->patience) ? "1" : "0";
    if (tr->o->checkpoint_put) {
        /* a sink (the model store) instead of files: the same blobs and metadata */
        const char *names[3];
        const void *data[3];
        size_t bytes[3];
        for (size_t i = 0; i < nt; i++) {
            names[i] = t[i].name;
            data[i] = t[i].data;
            bytes[i] = (size_t)t[i].shape[0];
        }
        ntg_train_checkpoint ck = {.size = sizeof ck,
                                   .step = tr->step,
                                   .train_loss = tr->last_loss,
                                   .val_loss = tr->last_val,
                                   .n_blobs = nt,
                                   .blob_names = names,
                                   .blob_data = data,
                                   .blob_bytes = bytes,
                                   .n_meta = nm / 2,
                                   .meta = all};
        return tr->o->checkpoint_put(tr->o->checkpoint_user, &ck, err);
    }
    char path[4096];
    ckpt_path(dir, tr->step, path, sizeof path);
    st = ntg__st_write(path, t, nt, all, nm / 2, err);
    if (st) return st;
    /* keep the two newest: the one just written and a fallback */
    long have[4096];
    size_t n = ckpt_list(dir, have, 4096);
    for (size_t i = 0; i + 2 < n; i++) {
        ckpt_path(dir, have[i], path, sizeof path);
        unlink(path);
    }
    return NTG_OK;
}

static const char *meta_or(const ntg_train_checkpoint *ck, const char *k)
{
    for (size_t i = 0; i < ck->n_meta; i++)
        if (strcmp(ck->meta[2 * i], k) == 0) return ck->meta[2 * i + 1];
    return "";
}

static int ck_blob(const ntg_train_checkpoint *ck, const char *name, const void **data,
                   size_t *bytes)
{
    for (size_t i = 0; i < ck->n_blobs; i++)
        if (strcmp(ck->blob_names[i], name) == 0) {
            *data = ck->blob_data[i];
            *bytes = ck->blob_bytes[i];
            return 1;
        }
    return 0;
}

/* Check a checkpoint (from a file or a checkpoint_get source, named `path` in messages)
 * against this run and load it into the session. */
static ntg_status ckpt_apply(trainer *tr, const ntg_train_checkpoint *f, const char *path,
                             long *from, ntg_error *err)
{
    ntg_status st = NTG_OK;
    char fp[32], steps[32], batch[32], seed[32], split[96];
    snprintf(fp, sizeof fp, "%08x", tr->fingerprint);
    snprintf(steps, sizeof steps, "%ld", tr->steps);
    snprintf(batch, sizeof batch, "%d", tr->batch);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)tr->seed);
    snprintf(split, sizeof split, "%zu,%zu,%zu", tr->split.train, tr->split.val, tr->split.test);
    const char *want[][2] = {
        {"plan", fp}, {"steps", steps}, {"batch", batch}, {"seed", seed}, {"split_rows", split}};
    if (strcmp(meta_or(f, "ntgraph.checkpoint"), "1") != 0)
        st = ntg__err(err, NTG_ERR_DATA, path, 0, 0, "not an ntgraph checkpoint");
    /* every setting of the run by name, before the plan's structure (which a changed optimizer
     * also changes); checkpoints from before these keys were written lack them */
    conf_item conf[N_CONF];
    run_config(tr, conf);
    for (int k = 0; !st && k < N_CONF; k++) {
        const char *had = meta_or(f, conf[k].key);
        if (!*had || strcmp(had, conf[k].value) == 0) continue;
        char a[64], b[64];
        if (strcmp(conf[k].key, "lr") == 0) { /* exact in the checkpoint, short in messages */
            snprintf(a, sizeof a, "%g", strtod(had, NULL));
            snprintf(b, sizeof b, "%g", tr->lr);
            if (strcmp(a, b) == 0) {
                snprintf(a, sizeof a, "%.17g", strtod(had, NULL));
                snprintf(b, sizeof b, "%.17g", tr->lr);
            }
            had = a;
            snprintf(conf[k].value, sizeof conf[k].value, "%s", b);
        }
        st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                      "cannot resume: the checkpoint's run has %s %s, this run has %s; "
                      "resume with the same configuration, or start a new run without "
                      "--resume",
                      conf[k].label, had, conf[k].value);
    }
    for (size_t k = 0; !st && k < sizeof want / sizeof want[0]; k++)
        if (strcmp(meta_or(f, want[k][0]), want[k][1]) != 0)
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                          "cannot resume: the checkpoint was made with %s %s, this run has %s: "
                          "resume with the same graph and settings",
                          strcmp(want[k][0], "plan") == 0 ? "a plan of structure" : want[k][0],
                          meta_or(f, want[k][0]), want[k][1]);
    /* a run that ended (all its steps, or stopped early) has nothing left to resume */
    long had_step = strtol(meta_or(f, "step"), NULL, 10);
    if (!st && (had_step >= tr->steps || strcmp(meta_or(f, "finished"), "1") == 0))
        st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                      "cannot resume: that run is finished (its last checkpoint is at step %ld of "
                      "%ld%s); start a new run without --resume",
                      had_step, tr->steps, had_step < tr->steps ? ", stopped early" : "");
    const void *w = NULL, *s = NULL, *b = NULL;
    size_t wn = 0, sn = 0, bn = 0;
    int hw = ck_blob(f, "weights", &w, &wn), hs = ck_blob(f, "state", &s, &sn),
        hb = ck_blob(f, "best", &b, &bn);
    if (!st && (!hw || wn != tr->wbytes || (tr->sbytes && (!hs || sn != tr->sbytes))))
        st = ntg__err(err, NTG_ERR_DATA, path, 0, 0, "checkpoint tensors do not fit the plan");
    if (!st) st = ntg__session_write_storage(tr->s, NTG_STORE_WEIGHTS, w, err);
    if (!st && tr->sbytes) st = ntg__session_write_storage(tr->s, NTG_STORE_STATE, s, err);
    if (!st && hb && tr->best && bn == tr->wbytes) memcpy(tr->best, b, tr->wbytes);
    if (!st) {
        tr->step = strtol(meta_or(f, "step"), NULL, 10);
        tr->best_step = strtol(meta_or(f, "best_step"), NULL, 10);
        tr->best_val = strtod(meta_or(f, "best_val"), NULL);
        tr->bad = strtol(meta_or(f, "bad"), NULL, 10);
        if (tr->step < 1 || tr->step > tr->steps)
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0, "checkpoint step %ld is outside 1..%ld",
                          tr->step, tr->steps);
        *from = tr->step;
    }
    return st;
}

static ntg_status ckpt_resume(trainer *tr, long *from, ntg_error *err)
{
    *from = 0;
    if (tr->o->checkpoint_get) {
        ntg_train_checkpoint ck;
        memset(&ck, 0, sizeof ck);
        ck.size = sizeof ck;
        /* in: this run's configuration, so a source holding several runs can pick the one
         * this run continues */
        conf_item conf[N_CONF];
        const char *want[2 * N_CONF];
        run_config(tr, conf);
        for (int k = 0; k < N_CONF; k++) {
            want[2 * k] = conf[k].key;
            want[2 * k + 1] = conf[k].value;
        }
        ck.n_meta = N_CONF;
        ck.meta = want;
        ntg_status st = tr->o->checkpoint_get(tr->o->checkpoint_user, &ck, err);
        if (st || ck.step == 0) return st; /* step 0: nothing to resume, start fresh */
        return ckpt_apply(tr, &ck, "newest checkpoint", from, err);
    }
    long have[4096];
    size_t n = ckpt_list(tr->o->checkpoint_dir, have, 4096);
    if (n == 0) return NTG_OK; /* nothing to resume: start fresh */
    char path[4096];
    ckpt_path(tr->o->checkpoint_dir, have[n - 1], path, sizeof path);
    ntg_st_file *f = NULL;
    ntg_status st = ntg__st_load(path, &f, err);
    if (st) return st;
    /* the file as a checkpoint view */
    size_t nb = ntg__st_count(f), nm = ntg__st_meta_count(f);
    const char **names = calloc(nb + 1, sizeof *names), **meta = calloc(2 * nm + 1, sizeof *meta);
    const void **data = calloc(nb + 1, sizeof *data);
    size_t *bytes = calloc(nb + 1, sizeof *bytes);
    if (!names || !meta || !data || !bytes) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < nb; i++) {
        const ntg_st_tensor *t = ntg__st_get(f, i);
        names[i] = t->name;
        data[i] = t->data;
        bytes[i] = (size_t)t->nbytes;
    }
    for (size_t i = 0; !st && i < nm; i++) ntg__st_meta_at(f, i, &meta[2 * i], &meta[2 * i + 1]);
    if (!st) {
        ntg_train_checkpoint ck = {.size = sizeof ck,
                                   .train_loss = NAN,
                                   .val_loss = NAN,
                                   .n_blobs = nb,
                                   .blob_names = names,
                                   .blob_data = data,
                                   .blob_bytes = bytes,
                                   .n_meta = nm,
                                   .meta = meta};
        st = ckpt_apply(tr, &ck, path, from, err);
    }
    free(names);
    free(meta);
    free(data);
    free(bytes);
    ntg__st_free(f);
    return st;
}

/* ------------------------------------------------------------ the trained plan */

static ntg_status finish_plan(trainer *tr, const uint8_t *weights, const ntg_train_report *r,
                              ntg_plan **out, ntg_error *err)
{
    ntg_pool *pool = ntg__pool_create();
    if (!pool) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *meta[2 * 32];
    size_t n = 0;
    const char *sk[NTG_SCALER_META_KEYS], *sv[NTG_SCALER_META_KEYS];
    ntg_status st = ntg__scaler_to_meta(tr->scaler, tr->wscaler, pool, sk, sv, err);
    for (size_t i = 0; !st && i < NTG_SCALER_META_KEYS; i++) {
        meta[2 * n] = sk[i];
        meta[2 * n + 1] = sv[i];
        n++;
    }
    /* the covariates with their fitted normalization: forecasts apply the same */
    const char *xk[NTG_EXOG_META_KEYS], *xv[NTG_EXOG_META_KEYS];
    if (!st && tr->exog) st = ntg__exog_to_meta(tr->exog, pool, xk, xv, err);
    for (size_t i = 0; !st && tr->exog && i < NTG_EXOG_META_KEYS; i++) {
        meta[2 * n] = xk[i];
        meta[2 * n + 1] = xv[i];
        n++;
    }
#define ADD(k, ...)                                                                                \
    do {                                                                                           \
        meta[2 * n] = k;                                                                           \
        meta[2 * n + 1] = ntg__pool_fmt(pool, __VA_ARGS__);                                        \
        n++;                                                                                       \
    } while (0)
    if (!st) {
        ADD("train.steps", "%ld", tr->steps);
        ADD("train.batch", "%d", tr->batch);
        ADD("train.lr", "%.17g", tr->lr);
        ADD("train.lr_decays", "%ld", tr->lr_decays);
        ADD("train.val_every", "%ld", tr->val_every);
        ADD("train.patience", "%ld", tr->patience);
        ADD("train.seed", "%llu", (unsigned long long)tr->seed);
        ADD("train.split_rows", "%zu,%zu,%zu", tr->split.train, tr->split.val, tr->split.test);
        ADD("trained.steps", "%ld", r->steps);
        ADD("trained.best_step", "%ld", r->best_step);
        ADD("trained.best_val_loss", "%.9g", r->best_val_loss);
        ADD("trained.final_train_loss", "%.9g", r->final_train_loss);
        ADD("trained.stopped_early", "%d", r->stopped_early);
        ADD("trained.seconds", "%.3f", r->seconds);
        for (size_t i = 0; i < 2 * n; i++)
            if (!meta[i]) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
#undef ADD
    if (!st) st = ntg__plan_rewrite(tr->plan, weights, meta, n, out, err);
    ntg__pool_destroy(pool);
    return st;
}

/* ----------------------------------------------------------------- ntg_train */

/* Covariates from the settings (--hist-exog, --futr-exog, --static or the train keys),
 * bound to the data and normalized with statistics of the train rows; they must match the
 * plan's covariate inputs. */
static ntg_status exog_setup(trainer *tr, ntg_error *err)
{
    const ntg_train_options *o = tr->o;
    const char *hv = ntg__setting(tr->plan, o->settings, o->n_settings, "hist_exog");
    const char *fv = ntg__setting(tr->plan, o->settings, o->n_settings, "futr_exog");
    const char *sv = ntg__setting(tr->plan, o->settings, o->n_settings, "static");
    ntg_status st = ntg__exog_parse(hv, fv, sv, &tr->exog, err);
    if (!st && tr->exog) st = ntg__exog_bind(tr->exog, tr->data, 1, tr->split.train, err);
    if (!st) st = ntg__exog_check_io(tr->exog, &tr->io, err);
    if (st || !tr->exog) return st;
    /* what a resume must match of them (run_config): a checkpoint of a run with other
     * covariate columns, normalizations or values is refused */
    const ntg_exog *ex = tr->exog;
    uint32_t fp = 0;
    for (int part = 0; part < 2; part++) {
        const ntg_xfeat *fs = part ? ex->futr : ex->hist;
        size_t nf = part ? ex->n_futr : ex->n_hist;
        for (size_t k = 0; k < nf; k++) {
            fp = ntg__crc32c(fp, fs[k].name, strlen(fs[k].name) + 1);
            fp = ntg__crc32c(fp, &fs[k].norm, sizeof fs[k].norm);
            /* a long file's covariates are per series (a wide file's shared: one pass) */
            size_t ncs = tr->data->is_long ? tr->data->n_cols : 1;
            for (size_t c = 0; c < ncs; c++)
                for (size_t r = ntg__series_first(tr->data, c); r < tr->data->n_rows; r++) {
                    double v = ntg__exog_value_at(&fs[k], tr->data, c, r);
                    fp = ntg__crc32c(fp, &v, sizeof v);
                }
        }
    }
    for (size_t k = 0; k < ex->n_stat; k++)
        fp = ntg__crc32c(fp, ex->stat_names[k], strlen(ex->stat_names[k]) + 1);
    for (size_t r = 0; r < ex->n_stat_rows; r++)
        fp = ntg__crc32c(fp, ex->stat_ids[r], strlen(ex->stat_ids[r]) + 1);
    if (ex->n_stat_rows && ex->n_stat)
        fp = ntg__crc32c(fp, ex->stat, ex->n_stat_rows * ex->n_stat * sizeof *ex->stat);
    snprintf(tr->exog_fp, sizeof tr->exog_fp, "%zu/%zu/%zu %08x", ex->n_hist, ex->n_futr,
             ex->n_stat, fp);
    /* every window's static row must exist before the first step */
    for (size_t j = 0; tr->exog->n_stat && j < tr->n_cols; j++)
        if (!ntg__exog_static(tr->exog, tr->data->names[tr->cols[j]], err))
            return NTG_ERR_NOT_FOUND;
    tr->xbuf = malloc(((size_t)tr->chunk * ntg__exog_per_window(&tr->io) + 1) * sizeof(float));
    if (!tr->xbuf) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    return NTG_OK;
}

static ntg_status setup(trainer *tr, ntg_error *err)
{
    const ntg_plan *p = tr->plan;
    const ntg_train_options *o = tr->o;
    ntg_status st = ntg__model_io(p, &tr->io, err);
    if (st) return st;
    if (tr->io.g_train < 0 || tr->io.g_eval < 0 || tr->io.t == NTG_NONE || tr->io.ctl == NTG_NONE)
        return ntg__fail(err, NTG_ERR_STATE,
                         "the plan has no train_step program (compiled with --infer-only?)");
    if (!o->split) return ntg__fail(err, NTG_ERR_INVALID_ARG, "training needs a split");
    if ((st = check_setting_names(o, err))) return st;
    long batch, seed;
    if ((st = setting_long(tr, "steps", o->init ? 0 : 1, &tr->steps, err)) ||
        (st = setting_long(tr, "batch", 1, &batch, err)) ||
        (st = setting_double(tr, "lr", &tr->lr, err)) ||
        (st = setting_long(tr, "lr_decays", 0, &tr->lr_decays, err)) ||
        (st = setting_long(tr, "val_every", 0, &tr->val_every, err)) ||
        (st = setting_long(tr, "patience", -1, &tr->patience, err)) ||
        (st = setting_long(tr, "seed", 0, &seed, err)))
        return st;
    tr->seed = (uint64_t)seed;
    tr->rng = ntg__plan_io(p, tr->io.g_train, 0, "train.rng");
    if (tr->rng != NTG_NONE && tr->steps >= (1L << 24))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "steps %ld: a plan with dropout counts steps exactly up to 2^24 - 1",
                         tr->steps);
    int max = (int)p->img.info.max_batch;
    if (batch > max)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "batch %ld is above the plan's maximum batch %d (compile with --batch)",
                         batch, max);
    tr->batch = (int)batch;
    tr->chunk = max;
    tr->checkpoint_every = o->checkpoint_every;
    if (o->resume && !o->checkpoint_dir && !o->checkpoint_get && (!tr->dp || tr->dp->rank == 0))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "resume needs a checkpoint directory");

    const ntg_series *d = tr->data;
    if ((st = ntg__select_columns(d, o->columns, &tr->cols, &tr->n_cols, err))) return st;
    if ((st = ntg__split_parse(o->split, d->n_rows, &tr->split, err))) return st;
    /* what a checkpoint remembers of the data: the chosen columns, by name and by value */
    uint32_t dfp = 0;
    size_t at = 0;
    tr->columns[0] = 0;
    for (size_t i = 0; i < tr->n_cols; i++) {
        const char *nm = d->names[tr->cols[i]];
        dfp = ntg__crc32c(dfp, nm, strlen(nm) + 1);
        dfp = ntg__crc32c(dfp, d->values + (size_t)tr->cols[i] * d->n_rows,
                          d->n_rows * sizeof *d->values);
        if (at + strlen(nm) + 2 < sizeof tr->columns)
            at += (size_t)snprintf(tr->columns + at, sizeof tr->columns - at, "%s%s", i ? "," : "",
                                   nm);
    }
    snprintf(tr->data_fp, sizeof tr->data_fp, "%08x", dfp);
    /* early stopping counts validations: without any it would silently never stop */
    if (tr->patience > 0 && (tr->val_every == 0 || tr->split.val == 0))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "patience %ld stops after validations without improvement, but %s: "
                         "nothing is ever validated (set val_every and a validation split, or "
                         "patience -1)",
                         tr->patience,
                         tr->val_every == 0 ? "val_every is 0"
                                            : "the split has no validation rows");
    const char *sk = ntg__setting(p, o->settings, o->n_settings, "scaler");
    const char *wk = ntg__setting(p, o->settings, o->n_settings, "window_scaler");
    ntg_scaler_kind kind;
    if ((st = ntg__scaler_parse(sk ? sk : "zscore", &kind, err))) return st;
    if ((st = ntg__window_scaler_parse(wk ? wk : "identity", &tr->wscaler, err))) return st;
    /* a fresh fit on this data's train rows: training defines the scaler; fine-tuning keeps
     * the one its source plan was trained with (warm_start.c put it into the plan) */
    if (o->init && !o->refit_scaler && ntg_plan_meta(p, "scaler.kind")) {
        ntg_window_scaler kept;
        if ((st = ntg__model_scaler(p, d, tr->cols, tr->n_cols, tr->split.train, NULL, NULL,
                                    &tr->scaler, &kept, err))) {
            if (st != NTG_ERR_NOT_FOUND) return st;
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err ? err->message : "a column is not in the scaler");
            return ntg__fail(err, st,
                             "%s: fine-tuning keeps the source plan's scaler, fitted on other "
                             "columns (refit_scaler, `train --refit-scaler`, fits a new one)",
                             why);
        }
        /* the source's per-window scaler too, unless this run names one */
        int named = 0;
        for (size_t i = 0; i < o->n_settings; i++)
            named |= strcmp(o->settings[i].name, "window_scaler") == 0;
        if (!named) tr->wscaler = kept;
    } else if ((st = ntg__scaler_fit(d, kind, tr->cols, tr->n_cols, tr->split.train, &tr->scaler,
                                     err))) {
        return st;
    }
    if ((st = ntg__windows_make(&tr->split, NTG_SPLIT_TRAIN, tr->io.L, tr->io.h, tr->cols,
                                tr->n_cols, &tr->wtrain, err)) ||
        (st = ntg__windows_panel(&tr->wtrain, d, NULL, err)))
        return st;
    tr->has_val = tr->val_every > 0 && tr->split.val > 0;
    if (tr->has_val && (st = ntg__windows_make(&tr->split, NTG_SPLIT_VAL, tr->io.L, tr->io.h,
                                               tr->cols, tr->n_cols, &tr->wval, err)))
        return st;
    if (tr->has_val && (st = ntg__windows_panel(&tr->wval, d, NULL, err))) return st;
    /* values the scaler cannot bring into float32's range: refused now, as eval and run
     * refuse them, rather than as a diverged loss later */
    if ((st = ntg__windows_check(d, tr->scaler, &tr->wtrain, 1, err)) ||
        (tr->has_val && (st = ntg__windows_check(d, tr->scaler, &tr->wval, 1, err))))
        return st;

    ntg_session_options so;
    ntg_session_options_init(&so);
    so.backend = o->backend;
    so.threads = o->threads;
    so.flags = NTG_SESSION_TRAINABLE;
    if ((st = ntg_session_create(p, &so, &tr->s, err))) return st;

    size_t nb = (size_t)max, L = tr->io.L, h = tr->io.h;
    tr->x = malloc(nb * L * sizeof(float));
    tr->t = malloc(nb * h * sizeof(float));
    tr->ones = malloc(nb * h * sizeof(float));
    tr->loc = malloc(nb * sizeof(float));
    tr->scale = malloc(nb * sizeof(float));
    tr->idx = malloc(nb * sizeof(uint64_t));
    tr->wbytes = (size_t)p->img.info.storage_bytes[NTG_STORE_WEIGHTS];
    tr->sbytes = (size_t)p->img.info.storage_bytes[NTG_STORE_STATE];
    if (tr->patience > 0) tr->best = malloc(tr->wbytes + 1);
    if (!tr->x || !tr->t || !tr->ones || !tr->loc || !tr->scale || !tr->idx ||
        (tr->patience > 0 && !tr->best))
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nb * h; i++) tr->ones[i] = 1.0f;
    tr->best_val = NAN;
    tr->fingerprint = plan_fingerprint(p);
    tr->grad_norm = ntg__plan_io(p, tr->io.g_train, 1, "grad_norm");
    return exog_setup(tr, err);
}

/* ------------------------------------------------------------ data parallel */

/* Worker r's contiguous shard of a global batch of B windows over `world` workers: the first
 * B mod world workers take one window more. */
static void dp_shard(int B, int world, int r, size_t *lo, size_t *n)
{
    size_t q = (size_t)(B / world), rem = (size_t)(B % world), ur = (size_t)r;
    *lo = ur * q + (ur < rem ? ur : rem);
    *n = q + (ur < rem ? 1 : 0);
}

/* 1 when op `op` writes bytes of tensor `t` (an output operand, or any operand of an op that
 * updates its inputs in place). */
static int op_writes(const ntg_plan *p, uint32_t op, const ntg_tensor_rec *t)
{
    const ntg_op_rec *r = &p->img.ops[op];
    int inplace = (ntg__op_info(r->code)->cls->flags & NTG_OPF_INPLACE) != 0;
    for (int i = inplace ? 0 : r->n_in; i < r->n_in + r->n_out; i++) {
        uint32_t id = p->img.operands[r->operands + (uint32_t)i];
        if (id == NTG_NONE) continue;
        const ntg_tensor_rec *w = &p->img.tensors[id];
        if (w->storage == t->storage && w->offset < t->offset + t->nbytes &&
            t->offset < w->offset + w->nbytes)
            return 1;
    }
    return 0;
}

/* 1 when an operand of op `op` that it reads or writes shares bytes with tensor `t` (a
 * backward op's forward operands that it does not keep are bound to no memory, and the memory
 * planner may give their bytes to others: ntg__bwd_has_value). */
static int op_touches(const ntg_plan *p, uint32_t op, const ntg_tensor_rec *t)
{
    const ntg_op_rec *r = &p->img.ops[op];
    for (int i = 0; i < r->n_in + r->n_out; i++) {
        uint32_t id = p->img.operands[r->operands + (uint32_t)i];
        if (id == NTG_NONE || !ntg__bwd_has_value(r, i)) continue;
        const ntg_tensor_rec *w = &p->img.tensors[id];
        if (w->storage == t->storage && w->offset < t->offset + t->nbytes &&
            t->offset < w->offset + w->nbytes)
            return 1;
    }
    return 0;
}

/* How many of program g's ops run before tensor id is final: one past the position of the last
 * op that writes any of its bytes (0: none does); with `reads`, that reads or writes them. */
static uint32_t last_use(const ntg_plan *p, int g, uint32_t id, int reads)
{
    const ntg_program_rec *pr = &p->img.programs[g];
    const ntg_tensor_rec *t = &p->img.tensors[id];
    for (uint32_t k = pr->n_ops; k > 0; k--) {
        uint32_t op = p->img.indices[pr->ops + k - 1];
        if (reads ? op_touches(p, op, t) : op_writes(p, op, t)) return k;
    }
    return 0;
}

static uint32_t final_after(const ntg_plan *p, int g, uint32_t id)
{
    return last_use(p, g, id, 0);
}

/* In place (docs/internals.md, "In place"): when the transport sums pieces where they lie and
 * every gradient is in the session's host memory, the all-reduce runs on the arena itself, in
 * gbuf's layout (so the sums are the same bits); with buckets only when no op after a bucket's
 * start reads or writes its gradients' bytes (the transport writes them meanwhile). */
static ntg_status dp_inplace(trainer *tr, ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    size_t n = tr->n_grads;
    tr->inplace = 0;
    if (!dp->allreduce_startv || !dp->allreduce_wait || n == 0) return NTG_OK;
    tr->sp_ptr = calloc(n + 1, sizeof *tr->sp_ptr);
    tr->sp_len = calloc(n + 1, sizeof *tr->sp_len);
    if (!tr->sp_ptr || !tr->sp_len) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    const char *why = NULL;
    char detail[200];
    for (uint32_t j = 0, i = 0; !why && i < n; i++) {
        uint32_t g = tr->n_buckets ? tr->order[i] : i;
        while (tr->n_buckets && i >= tr->bk_first[j + 1]) j++;
        tr->sp_ptr[i] = ntg__session_host_tensor(tr->s, tr->grad_ids[g]);
        tr->sp_len[i] = tr->grad_len[g];
        if (!tr->sp_ptr[i])
            why = "the backend keeps the gradients off the host";
        else if (tr->n_buckets) {
            uint32_t use = last_use(tr->plan, tr->g_grad, tr->grad_ids[g], 1);
            if (use > tr->bk_end[j]) {
                const ntg_plan *p = tr->plan;
                uint32_t op = p->img.indices[p->img.programs[tr->g_grad].ops + use - 1];
                snprintf(detail, sizeof detail,
                         "op %u (%s) of grad uses the bytes of '%s' after its bucket starts at op "
                         "%u",
                         use, ntg__op_info(p->img.ops[op].code)->cls->name,
                         ntg__plan_str(p, p->img.tensors[tr->grad_ids[g]].name), tr->bk_end[j]);
                why = detail;
            }
        }
    }
    tr->sp_ptr[n] = tr->gbuf + tr->gsum;
    tr->sp_len[n] = 2;
    tr->inplace = !why;
    if (dp->info) {
        char line[300];
        snprintf(line, sizeof line, "gradients: summed %s%s%s", why ? "in a copy (" : "in place",
                 why ? why : ", in the arena", why ? ")" : "");
        dp->info(dp->user, line);
    }
    return NTG_OK;
}

/* Where the grad run is cut and which gradients each all-reduce carries (docs/internals.md,
 * "Overlap"): the gradients in the order backward finishes them (ties: the later parameter
 * first, as backward runs), laid out in gbuf so, and cut into buckets of at least
 * dp->bucket_bytes; a bucket is started once its last gradient is final, and never between two
 * gradients that become final after the same op.  The last bucket also carries the loss and
 * the stop flag and starts after the whole program.  At most NTG__TRAIN_DP_MAX_BUCKETS (the
 * target grows until they fit).  Without a bucket size, an asynchronous all-reduce or a backend
 * that runs op ranges, or when everything makes one bucket: one all-reduce of everything in
 * parameter order after the program. */
static ntg_status dp_buckets(trainer *tr, ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    size_t n = tr->n_grads;
    tr->goff = calloc(n + 1, sizeof *tr->goff);
    if (!tr->goff) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (size_t k = 1; k < n; k++) tr->goff[k] = tr->goff[k - 1] + tr->grad_len[k - 1];
    tr->n_buckets = 0;
    const char *why = NULL;
    if (!dp->bucket_bytes)
        why = "bucket size 0";
    else if (!dp->allreduce_start || !dp->allreduce_wait)
        why = "the transport has no asynchronous all-reduce";
    else if (!ntg__session_can_run_range(tr->s))
        why = "the backend runs programs only as a whole";
    else if (n == 0)
        why = "no gradients";
    if (why) {
        if (dp->info) {
            char line[200];
            snprintf(line, sizeof line,
                     "gradients: one all-reduce of %zu floats after backward (no overlap: %s)",
                     tr->gsum + 2, why);
            dp->info(dp->user, line);
        }
        return NTG_OK;
    }
    const ntg_plan *p = tr->plan;
    uint32_t n_ops = p->img.programs[tr->g_grad].n_ops;
    uint32_t *fin = malloc(n * sizeof *fin);
    tr->order = malloc(n * sizeof *tr->order);
    tr->bk_end = malloc((n + 1) * sizeof *tr->bk_end);
    tr->bk_first = malloc((n + 1) * sizeof *tr->bk_first);
    tr->bk_off = malloc((n + 1) * sizeof *tr->bk_off);
    tr->bk_len = malloc((n + 1) * sizeof *tr->bk_len);
    if (!fin || !tr->order || !tr->bk_end || !tr->bk_first || !tr->bk_off || !tr->bk_len) {
        free(fin);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < n; k++) fin[k] = final_after(p, tr->g_grad, tr->grad_ids[k]);
    /* insertion sort (a few hundred gradients at most): final position, then later parameter */
    for (size_t k = 0; k < n; k++) {
        uint32_t g = (uint32_t)(n - 1 - k);
        size_t j = k;
        while (j > 0 && fin[tr->order[j - 1]] > fin[g]) {
            tr->order[j] = tr->order[j - 1];
            j--;
        }
        tr->order[j] = g;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        tr->goff[tr->order[i]] = off;
        off += tr->grad_len[tr->order[i]];
    }
    double target = (double)dp->bucket_bytes / sizeof(float);
    for (;;) {
        uint32_t nb = 0;
        double acc = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t g = tr->order[i];
            if (acc == 0) {
                tr->bk_first[nb] = (uint32_t)i;
                tr->bk_off[nb] = tr->goff[g];
            }
            acc += (double)tr->grad_len[g];
            int closes = i + 1 == n || (acc >= target && fin[tr->order[i + 1]] > fin[g]);
            if (closes) {
                tr->bk_end[nb] = fin[g];
                tr->bk_len[nb] = (size_t)acc;
                nb++;
                acc = 0;
            }
        }
        if (nb <= NTG__TRAIN_DP_MAX_BUCKETS) {
            tr->n_buckets = nb;
            break;
        }
        target *= 2;
    }
    free(fin);
    if (tr->n_buckets == 1) {
        /* everything is final only at the end: nothing to overlap; keep the parameter order
         * (and so the sums) of the single all-reduce after backward */
        tr->n_buckets = 0;
        for (size_t k = 0; k < n; k++) tr->goff[k] = k ? tr->goff[k - 1] + tr->grad_len[k - 1] : 0;
        if (dp->info) {
            char line[200];
            snprintf(line, sizeof line,
                     "gradients: one all-reduce of %zu floats after backward (no overlap: "
                     "buckets of %.2f MB make one, final only when backward ends)",
                     tr->gsum + 2, (double)dp->bucket_bytes / 1e6);
            dp->info(dp->user, line);
        }
        return NTG_OK;
    }
    tr->bk_first[tr->n_buckets] = (uint32_t)n;
    tr->bk_end[tr->n_buckets - 1] = n_ops;
    tr->bk_len[tr->n_buckets - 1] += 2; /* loss, stop flag */
    if (dp->info) {
        char line[400];
        size_t big = 0;
        for (uint32_t j = 0; j < tr->n_buckets; j++)
            if (tr->bk_len[j] > big) big = tr->bk_len[j];
        int w = snprintf(line, sizeof line,
                         "gradients: %u bucket%s (largest %.2f MB) all-reduced while backward "
                         "runs; the grad program is cut after op",
                         tr->n_buckets, tr->n_buckets == 1 ? "" : "s",
                         (double)big * sizeof(float) / 1e6);
        for (uint32_t j = 0; j < tr->n_buckets && w > 0 && (size_t)w < sizeof line - 40; j++)
            w += snprintf(line + w, sizeof line - (size_t)w, "%s %u", j ? "," : "", tr->bk_end[j]);
        if (w > 0 && (size_t)w < sizeof line - 20)
            snprintf(line + w, sizeof line - (size_t)w, " of %u", n_ops);
        dp->info(dp->user, line);
    }
    return NTG_OK;
}

/* Bucket ids of a sharded step's other all-reduces (the buckets are 0 .. 59): the all-gather of
 * unit u, the step's flags, and the state gather of unit u (2 per unit). */
#define BK_GATHER 64u
#define BK_FLAGS 127u
#define BK_STATE 128u

/* ZeRO-1 (docs/internals.md, "Sharded optimizer"): possible when the gradients are summed in
 * place, the transport runs the parts of an all-reduce, and the apply program is one
 * elementwise optimizer op per parameter (no clipping, which needs the whole gradient's norm)
 * whose weights and state are in host memory.  Sets tr->shard and the pointers. */
static ntg_status dp_shard_setup(trainer *tr, ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    const ntg_plan *p = tr->plan;
    size_t n = tr->n_grads;
    tr->shard = 0;
    if (!dp->shard_optimizer) return NTG_OK;
    const char *why = NULL;
    char detail[200];
    if (!dp->allreduce_startx || !dp->allreduce_start)
        why = "the transport does not run the parts of an all-reduce";
    else if (!tr->inplace)
        why = "the gradients are not summed in place";
    tr->n_units = tr->n_buckets ? tr->n_buckets : 1;
    tr->un_first = calloc(tr->n_units + 1, sizeof *tr->un_first);
    tr->wp_ptr = calloc(n + 1, sizeof *tr->wp_ptr);
    tr->stp_ptr[0] = calloc(n + 1, sizeof *tr->stp_ptr[0]);
    tr->stp_ptr[1] = calloc(n + 1, sizeof *tr->stp_ptr[1]);
    tr->aop = calloc(n + 1, sizeof *tr->aop);
    if (!tr->un_first || !tr->wp_ptr || !tr->stp_ptr[0] || !tr->stp_ptr[1] || !tr->aop)
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    for (uint32_t u = 0; u < tr->n_units; u++)
        tr->un_first[u] = tr->n_buckets ? tr->bk_first[u] : 0;
    tr->un_first[tr->n_units] = (uint32_t)n;
    /* the apply program's ops: one optimizer op per gradient */
    const ntg_program_rec *ap = &p->img.programs[tr->g_apply];
    size_t found = 0;
    int n_state = -1;
    for (size_t k = 0; k < n; k++) tr->aop[k] = UINT32_MAX;
    for (uint32_t k = 0; !why && k < ap->n_ops; k++) {
        const ntg_op_rec *r = &p->img.ops[p->img.indices[ap->ops + k]];
        int ns = r->code == NTG_OP_adam ? 2 : r->code == NTG_OP_sgd ? r->n_in - 3 : -1;
        if (ns < 0) {
            snprintf(detail, sizeof detail,
                     "the update has a %s op (%s), not one optimizer op "
                     "per parameter",
                     ntg__op_info(r->code)->cls->name,
                     r->code == NTG_OP_clip_grad_norm ? "clipping needs the whole gradient's norm"
                                                      : "not elementwise");
            why = detail;
            break;
        }
        if (n_state >= 0 && ns != n_state) {
            why = "the optimizer ops differ in their state";
            break;
        }
        n_state = ns;
        uint32_t gid = p->img.operands[r->operands + 1];
        size_t g = 0;
        while (g < n && tr->grad_ids[g] != gid) g++;
        if (g == n || tr->aop[g] != UINT32_MAX) {
            why = "an optimizer op reads no gradient of grad, or one another op reads";
            break;
        }
        tr->aop[g] = k;
        found++;
        uint32_t pid = p->img.operands[r->operands];
        uint32_t sid[2] = {NTG_NONE, NTG_NONE};
        if (r->code == NTG_OP_adam) {
            sid[0] = p->img.operands[r->operands + 2];
            sid[1] = p->img.operands[r->operands + 3];
        } else if (ns == 1) {
            sid[0] = p->img.operands[r->operands + 3];
        }
        /* the pieces are in sp_ptr's order: find gradient g's place there */
        size_t i = 0;
        while (i < n && (tr->n_buckets ? tr->order[i] : i) != g) i++;
        tr->wp_ptr[i] = ntg__session_host_tensor(tr->s, pid);
        for (int q = 0; q < ns; q++) tr->stp_ptr[q][i] = ntg__session_host_tensor(tr->s, sid[q]);
        if (!tr->wp_ptr[i] || (ns > 0 && !tr->stp_ptr[0][i]) || (ns > 1 && !tr->stp_ptr[1][i]))
            why = "the backend keeps the weights or the optimizer state off the host";
        else if (p->img.tensors[pid].nbytes != tr->grad_len[g] * sizeof(float))
            why = "a parameter's size differs from its gradient's";
    }
    if (!why && found != n) why = "some gradient has no optimizer op";
    if (!why && ntg__plan_io(p, tr->g_apply, 1, "grad_norm") != NTG_NONE)
        why = "the update reports the gradient norm";
    tr->n_state = n_state > 0 ? n_state : 0;
    tr->wp_ptr[n] = tr->stp_ptr[0][n] = tr->stp_ptr[1][n] = tr->gbuf + tr->gsum;
    tr->shard = !why;
    tr->state_whole = 1;
    /* the storages the parts' pieces lie in, offered to the workers on this host: they read
     * them in place (a failure here only means copies, as before) */
    for (int sto = NTG_STORE_ARENA; tr->shard && dp->share && sto <= NTG_STORE_STATE; sto++) {
        int fd;
        void *base;
        size_t bytes;
        ntg_error e;
        if (ntg__session_share(tr->s, sto, &fd, &base, &bytes, &e) != NTG_OK ||
            dp->share(dp->user, (unsigned)sto, base, bytes, fd, &e) != NTG_OK) {
            if (dp->info) {
                char line[700];
                snprintf(line, sizeof line,
                         "gradients and weights copied, not read in place: %.600s", e.message);
                dp->info(dp->user, line);
            }
            break;
        }
    }
    if (why && dp->info) {
        char line[300];
        snprintf(line, sizeof line, "optimizer: every worker updates all weights (not sharded: %s)",
                 why);
        dp->info(dp->user, line);
    }
    return NTG_OK;
}

/* The segments of each unit for the current world.  Where the backend runs part of an
 * optimizer op (ntg__session_run_elems: cpu, xnnpack), segment j of unit u starts at element
 * round(j/world of the unit's elements), moved to the nearest multiple of 16 elements (64
 * bytes) from the start of the parameter it falls in (a parameter's end when that is nearer):
 * every owner gets 1/world of the elements to within 16, parameters are cut between owners.
 * Otherwise at the piece boundary nearest to j/world (ties: the earlier).  Segment
 * (rank + 1) mod world is this worker's. */
static ntg_status dp_shard_bounds(trainer *tr, ntg_error *err)
{
    if (!tr->shard) return NTG_OK;
    size_t w = (size_t)tr->world, nu = tr->n_units;
    free(tr->un_bounds);
    tr->un_bounds = calloc(nu * (w + 1), sizeof *tr->un_bounds);
    if (!tr->un_bounds) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    size_t own = (size_t)((tr->rank + 1) % tr->world), split = 0;
    int elems = ntg__session_can_run_elems(tr->s);
    tr->own_elems = tr->own_params = 0;
    for (size_t u = 0; u < nu; u++) {
        uint32_t a = tr->un_first[u], b = tr->un_first[u + 1] + (u + 1 == nu ? 1u : 0u);
        uint64_t *bd = tr->un_bounds + u * (w + 1);
        uint64_t total = 0;
        for (uint32_t i = a; i < b; i++) total += tr->sp_len[i];
        bd[0] = 0;
        uint32_t i = a;
        uint64_t at = 0; /* where piece i starts */
        for (size_t j = 1; j < w; j++) {
            if (elems) {
                uint64_t target = (total * j + w / 2) / w;
                while (i < b && at + tr->sp_len[i] <= target) at += tr->sp_len[i++];
                uint64_t cut = at;
                if (i < b) {
                    uint64_t r = (target - at + 8) / 16 * 16;
                    cut = r >= tr->sp_len[i] ? at + tr->sp_len[i] : at + r;
                }
                bd[j] = cut > bd[j - 1] ? cut : bd[j - 1];
                continue;
            }
            double target = (double)total * (double)j / (double)w;
            /* advance while the next boundary is nearer the target */
            while (i < b &&
                   fabs((double)(at + tr->sp_len[i]) - target) < fabs((double)at - target)) {
                at += tr->sp_len[i];
                i++;
            }
            bd[j] = at;
        }
        bd[w] = total;
        at = 0;
        for (uint32_t k = a; k < b && k < tr->n_grads; at += tr->sp_len[k], k++) {
            uint64_t lo = bd[own] > at ? bd[own] : at,
                     hi = bd[own + 1] < at + tr->sp_len[k] ? bd[own + 1] : at + tr->sp_len[k];
            if (hi <= lo) continue;
            tr->own_elems += hi - lo;
            tr->own_params++;
            split += hi - lo < tr->sp_len[k];
        }
    }
    if (tr->dp->info) {
        char line[300];
        snprintf(line, sizeof line,
                 "optimizer: sharded (ZeRO-1): this worker updates %zu of %zu parameters, %zu of "
                 "them in part (%.2f of %.2f M floats); the all-gather carries the updated weights",
                 tr->own_params, tr->n_grads, split, (double)tr->own_elems / 1e6,
                 (double)tr->gsum / 1e6);
        tr->dp->info(tr->dp->user, line);
    }
    return NTG_OK;
}

/* Make every worker's optimizer state whole: an all-gather of each state tensor from its
 * owner, unit by unit (before a checkpoint, and before rank 0 re-forms the mesh with its own
 * state).  Every worker calls it at the same point. */
static ntg_status dp_gather_state(trainer *tr, long step, ntg_error *err)
{
    if (!tr->shard || tr->state_whole) return NTG_OK;
    const ntg__train_dp *dp = tr->dp;
    size_t w1 = (size_t)tr->world + 1;
    for (int q = 0; q < tr->n_state; q++)
        for (uint32_t u = 0; u < tr->n_units; u++) {
            uint32_t a = tr->un_first[u],
                     b = tr->un_first[u + 1] + (u + 1 == tr->n_units ? 1u : 0u);
            unsigned id = BK_STATE + 2 * u + (unsigned)q;
            ntg_status st =
                dp->allreduce_startx(dp->user, step, id, tr->stp_ptr[q] + a, tr->sp_len + a, b - a,
                                     1.0, tr->un_bounds + u * w1, NTG__TRAIN_DP_GATHER, err);
            if (!st) st = dp->allreduce_wait(dp->user, id, err);
            if (st) return st;
        }
    tr->state_whole = 1;
    return NTG_OK;
}

/* The grad and apply programs and the all-reduce buffer. */
static ntg_status dp_setup(trainer *tr, ntg_error *err)
{
    const ntg_plan *p = tr->plan;
    const ntg__train_dp *dp = tr->dp;
    if (dp->world < 1 || dp->rank < 0 || dp->rank >= dp->world || !dp->allreduce || !dp->broadcast)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "data-parallel training: rank %d of world %d (or a callback) is invalid",
                         dp->rank, dp->world);
    tr->g_grad = ntg__plan_program(p, "grad");
    tr->g_apply = ntg__plan_program(p, "apply");
    if (tr->g_grad < 0 || tr->g_apply < 0)
        return ntg__fail(err, NTG_ERR_STATE,
                         "the plan has no %s program, which data-parallel training needs "
                         "(compiled by an older ntgraph: compile the graph again)",
                         tr->g_grad < 0 ? "grad" : "apply");
    /* batchnorm normalizes by its batch's statistics: each worker would use its shard's, so
     * the result would not be the one-process model (and the running statistics would differ
     * between workers).  Refused until the statistics are all-reduced (a SyncBatchNorm). */
    for (uint32_t k = 0; k < p->img.n_ops && dp->world > 1; k++)
        if (p->img.ops[k].code == NTG_OP_batchnorm)
            return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                             "data-parallel training of a graph with batchnorm (%s) is not "
                             "supported: each worker would normalize by its own shard's "
                             "statistics; train it in one process (docs/mesh.md)",
                             ntg__plan_str(p, p->img.ops[k].loc));
    tr->rank = dp->rank;
    tr->world = dp->world;
    if (tr->batch < dp->world)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "batch %d is smaller than the mesh's world size %d: every worker needs "
                         "at least one window of each step's batch",
                         tr->batch, dp->world);
    const ntg_program_rec *gr = &p->img.programs[tr->g_grad];
    tr->grad_ids = calloc((size_t)gr->n_outputs + 1, sizeof *tr->grad_ids);
    tr->grad_len = calloc((size_t)gr->n_outputs + 1, sizeof *tr->grad_len);
    if (!tr->grad_ids || !tr->grad_len) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    tr->gsum = 0;
    for (uint32_t k = 0; k < gr->n_outputs; k++) {
        uint32_t id = p->img.indices[gr->outputs + k];
        const ntg_tensor_rec *t = &p->img.tensors[id];
        if (t->role != NTG_ROLE_GRAD) continue; /* the loss */
        ntg_tdesc d;
        ntg__tdesc_from_rec(t, &d);
        if (d.batched || t->storage != NTG_STORE_ARENA)
            return ntg__fail(err, NTG_ERR_STATE, "gradient '%s' is not a plain arena tensor",
                             ntg__plan_str(p, t->name));
        /* every gradient the update reads must be one grad computes, and the reverse */
        if (ntg__plan_io(p, tr->g_apply, 0, ntg__plan_str(p, t->name)) != id)
            return ntg__fail(err, NTG_ERR_STATE,
                             "gradient '%s' of the grad program is no input of the apply program",
                             ntg__plan_str(p, t->name));
        tr->grad_ids[tr->n_grads] = id;
        tr->grad_len[tr->n_grads] = (size_t)ntg__tdesc_inner(&d);
        tr->gsum += tr->grad_len[tr->n_grads];
        tr->n_grads++;
    }
    if (tr->n_grads + 1 != p->img.programs[tr->g_apply].n_inputs)
        return ntg__fail(err, NTG_ERR_STATE,
                         "the apply program takes %u inputs, grad gives %zu gradients (+ ctl)",
                         p->img.programs[tr->g_apply].n_inputs, tr->n_grads);
    tr->gbuf = malloc((tr->gsum + 2) * sizeof(float));
    if (!tr->gbuf) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg_status st = dp_buckets(tr, err);
    if (!st) st = dp_inplace(tr, err);
    return st ? st : dp_shard_setup(tr, err);
}

/* What rank 0 tells the others at the start: what it trains (checked by each), and where it
 * starts (a resumed checkpoint's counters). */
enum {
    H_FINGERPRINT,
    H_STEPS,
    H_BATCH,
    H_SEED,
    H_SPLIT0,
    H_SPLIT1,
    H_SPLIT2,
    H_WBYTES,
    H_SBYTES,
    H_GSUM,
    H_DATA,
    H_LR,
    H_BUCKETS,
    H_CHECKED, /* the fields above must agree */
    H_STEP = H_CHECKED,
    H_BEST_STEP,
    H_BAD,
    H_BEST_VAL,
    H_RESUMED,
    H_CKPT, /* rank 0 writes checkpoints (a sharded optimizer gathers its state before each) */
    H_COUNT
};

static const char *const head_names[H_CHECKED] = {"plan structure",
                                                  "steps",
                                                  "batch",
                                                  "seed",
                                                  "train rows",
                                                  "val rows",
                                                  "test rows",
                                                  "weights bytes",
                                                  "optimizer state bytes",
                                                  "gradient size",
                                                  "data (CRC32C of the chosen columns)",
                                                  "learning rate",
                                                  "gradient buckets (--mesh-bucket-mb; a "
                                                  "backend without op ranges has none) or "
                                                  "optimizer sharding (--mesh-shard-optimizer)"};

static void dp_head(const trainer *tr, long resumed, uint64_t h[H_COUNT])
{
    memset(h, 0, H_COUNT * sizeof *h);
    uint32_t crc = 0;
    for (size_t c = 0; c < tr->n_cols; c++)
        crc = ntg__crc32c(crc, tr->data->values + (size_t)tr->cols[c] * tr->data->n_rows,
                          tr->data->n_rows * sizeof(double));
    double lr = tr->lr, bv = tr->best_val;
    h[H_FINGERPRINT] = tr->fingerprint;
    h[H_STEPS] = (uint64_t)tr->steps;
    h[H_BATCH] = (uint64_t)tr->batch;
    h[H_SEED] = tr->seed;
    h[H_SPLIT0] = tr->split.train;
    h[H_SPLIT1] = tr->split.val;
    h[H_SPLIT2] = tr->split.test;
    h[H_WBYTES] = tr->wbytes;
    h[H_SBYTES] = tr->sbytes;
    h[H_GSUM] = tr->gsum;
    h[H_DATA] = crc;
    memcpy(&h[H_LR], &lr, sizeof lr);
    uint32_t bk = ntg__crc32c(0, &tr->n_buckets, sizeof tr->n_buckets);
    if (tr->n_buckets) bk = ntg__crc32c(bk, tr->bk_len, tr->n_buckets * sizeof *tr->bk_len);
    bk = ntg__crc32c(bk, &tr->shard, sizeof tr->shard);
    h[H_BUCKETS] = bk;
    h[H_STEP] = (uint64_t)tr->step;
    h[H_BEST_STEP] = (uint64_t)tr->best_step;
    h[H_BAD] = (uint64_t)tr->bad;
    memcpy(&h[H_BEST_VAL], &bv, sizeof bv);
    h[H_RESUMED] = (uint64_t)resumed;
    h[H_CKPT] = tr->o->checkpoint_dir || tr->o->checkpoint_put;
}

/* Rank 0's header, weights, optimizer state and best weights to every worker, after each
 * checked that it trains the same thing. */
static ntg_status dp_start(trainer *tr, uint8_t *wbuf, uint8_t *sbuf, long *resumed, ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    uint64_t mine[H_COUNT], head[H_COUNT];
    dp_head(tr, *resumed, mine);
    memcpy(head, mine, sizeof head);
    ntg_status st = dp->broadcast(dp->user, head, sizeof head, err);
    if (st) return st;
    int bad = -1;
    for (int k = 0; k < H_CHECKED && bad < 0; k++)
        if (head[k] != mine[k]) bad = k;
    /* everyone learns whether anyone differs, so that all fail together */
    float flag[1] = {bad >= 0 ? 1.0f : 0.0f};
    if ((st = dp->allreduce(dp->user, 0, flag, 1, err))) return st;
    if (bad >= 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "worker %d of %d trains something else than rank 0: its %s differs "
                         "(every worker needs the same graph, -D/-T flags, data, split and "
                         "settings)",
                         tr->rank, tr->world, head_names[bad]);
    if (flag[0] > 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "%.0f worker(s) train something else than rank 0 (see their errors): "
                         "every worker needs the same graph, -D/-T flags, data, split and "
                         "settings",
                         (double)flag[0]);
    tr->step = (long)head[H_STEP];
    tr->best_step = (long)head[H_BEST_STEP];
    tr->bad = (long)head[H_BAD];
    memcpy(&tr->best_val, &head[H_BEST_VAL], sizeof tr->best_val);
    *resumed = (long)head[H_RESUMED];
    tr->ckpt0 = head[H_CKPT] != 0;
    tr->state_whole = 1;
    if ((st = dp_shard_bounds(tr, err))) return st;
    if (tr->rank == 0) st = ntg__session_read_storage(tr->s, NTG_STORE_WEIGHTS, wbuf, err);
    if (!st) st = dp->broadcast(dp->user, wbuf, tr->wbytes, err);
    if (!st && tr->rank != 0) st = ntg__session_write_storage(tr->s, NTG_STORE_WEIGHTS, wbuf, err);
    if (!st && tr->sbytes) {
        if (tr->rank == 0) st = ntg__session_read_storage(tr->s, NTG_STORE_STATE, sbuf, err);
        if (!st) st = dp->broadcast(dp->user, sbuf, tr->sbytes, err);
        if (!st && tr->rank != 0)
            st = ntg__session_write_storage(tr->s, NTG_STORE_STATE, sbuf, err);
    }
    /* the best weights so far: only a resumed run has any (best_step came from rank 0) */
    if (!st && tr->best && tr->best_step > 0)
        st = dp->broadcast(dp->user, tr->best, tr->wbytes, err);
    return st;
}

/* Dropout's random stream for this step: the seed, the step and the global index of the first
 * window this process runs (a mesh worker's shard starts at `row0` of the step's batch), so that
 * every worker draws the masks one process would (docs/internals.md, "Dropout"). */
static ntg_status set_rng(trainer *tr, long step, size_t row0, ntg_error *err)
{
    if (tr->rng == NTG_NONE) return NTG_OK;
    float w[NTG_RNG_SIZE];
    ntg__rng_fill(w, tr->seed, (uint64_t)step, (uint64_t)row0);
    return ntg__session_set_tensor(tr->s, tr->rng, w, NTG_RNG_SIZE, err);
}

static ntg_status dp_apply(trainer *tr, const float ctl[NTG_CTL_SIZE], float *loss, int *stop,
                           ntg_error *err);

/* dp_step with overlap: the grad program in ranges; after each, the gradients it finished are
 * copied out, scaled by this worker's share and their bucket's all-reduce started, so that it
 * runs on the transport's thread while the next range computes.  Every started bucket is
 * waited for, also after a failure (until then the transport owns its part of gbuf). */
static ntg_status dp_step_overlap(trainer *tr, long step, const float ctl[NTG_CTL_SIZE],
                                  float pending_stop, size_t b, float *loss, int *stop,
                                  ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    double share = (double)b / (double)tr->batch;
    uint32_t pos = 0, started = 0;
    ntg_status st = NTG_OK;
    for (uint32_t j = 0; !st && j < tr->n_buckets; j++) {
        if (j == 0 || tr->bk_end[j] > pos)
            st = ntg__session_run_range(tr->s, tr->g_grad, (int)b, pos, tr->bk_end[j], err);
        pos = tr->bk_end[j];
        /* in place, the transport scales them as it first touches them */
        for (uint32_t i = tr->bk_first[j]; !st && !tr->inplace && i < tr->bk_first[j + 1]; i++) {
            uint32_t g = tr->order[i];
            float *dst = tr->gbuf + tr->goff[g];
            st = ntg__session_get_tensor(tr->s, tr->grad_ids[g], dst, tr->grad_len[g], err);
            if (!st && b != (size_t)tr->batch)
                for (size_t e = 0; e < tr->grad_len[g]; e++)
                    dst[e] = (float)((double)dst[e] * share);
        }
        if (!st && j + 1 == tr->n_buckets) {
            float l = NAN;
            st = ntg_session_get_output(tr->s, "loss", &l, 1, err);
            if (b != (size_t)tr->batch && !tr->inplace) l = (float)((double)l * share);
            tr->gbuf[tr->gsum] = l;
            tr->gbuf[tr->gsum + 1] = pending_stop;
        }
        if (!st && tr->inplace) {
            uint32_t first = tr->bk_first[j],
                     end = tr->bk_first[j + 1] + (j + 1 == tr->n_buckets ? 1u : 0u);
            st = dp->allreduce_startv(dp->user, step, j, tr->sp_ptr + first, tr->sp_len + first,
                                      end - first, b != (size_t)tr->batch ? share : 1.0, err);
        } else if (!st) {
            st = dp->allreduce_start(dp->user, step, j, tr->gbuf + tr->bk_off[j], tr->bk_len[j],
                                     err);
        }
        if (!st) started++;
    }
    for (uint32_t j = 0; j < started; j++) {
        ntg_error spare;
        ntg_status w = dp->allreduce_wait(dp->user, j, st ? &spare : err);
        if (!st) st = w;
    }
    if (st) return st;
    return dp_apply(tr, ctl, loss, stop, err);
}

/* dp_step without buckets, in place: the gradients grad left in the arena summed there in one
 * all-reduce (their pieces in parameter order, then loss and stop flag), scaled by this
 * worker's share as the transport first touches them (the stop flag too: it only counts
 * whether it is above 0). */
static ntg_status dp_step_inplace(trainer *tr, long step, const float ctl[NTG_CTL_SIZE],
                                  float pending_stop, size_t b, float l, float *loss, int *stop,
                                  ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    double share = b != (size_t)tr->batch ? (double)b / (double)tr->batch : 1.0;
    tr->gbuf[tr->gsum] = l;
    tr->gbuf[tr->gsum + 1] = pending_stop;
    ntg_status st = dp->allreduce_startv(dp->user, step, 0, tr->sp_ptr, tr->sp_len,
                                         (unsigned)tr->n_grads + 1, share, err);
    if (!st) st = dp->allreduce_wait(dp->user, 0, err);
    if (st) return st;
    return dp_apply(tr, ctl, loss, stop, err);
}

/* dp_step with a sharded optimizer (docs/internals.md, "Sharded optimizer"): the step's flags
 * (a worker's stop request, rank 0's join request) all-reduced first; the grad program in the
 * units' ranges, each unit's reduce-scatter started as backward finishes it; then, unit by
 * unit, the optimizer ops of the parameters this worker owns (the summed gradients are there)
 * and the all-gather of the unit's weights.  *stop: as dp_step; *redo: joiners wait, the state
 * was gathered and the step not applied (rank 0 re-forms before running it again). */
static ntg_status dp_step_sharded(trainer *tr, long step, const float ctl[NTG_CTL_SIZE],
                                  float pending_stop, size_t b, float *loss, int *stop, int *redo,
                                  ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    double share = b != (size_t)tr->batch ? (double)b / (double)tr->batch : 1.0;
    size_t w1 = (size_t)tr->world + 1;
    uint32_t n_ops = tr->plan->img.programs[tr->g_grad].n_ops, nu = tr->n_units;
    tr->flags[0] = pending_stop;
    tr->flags[1] = tr->join ? 1.0f : 0.0f;
    ntg_status st = dp->allreduce_start(dp->user, step, BK_FLAGS, tr->flags, 2, err);
    int flags_started = !st;
    uint32_t pos = 0, started = 0, gathered = 0;
    for (uint32_t u = 0; !st && u < nu; u++) {
        uint32_t end = tr->n_buckets ? tr->bk_end[u] : n_ops;
        if (!tr->n_buckets)
            st = ntg__session_run_index(tr->s, tr->g_grad, (int)b, err);
        else if (u == 0 || end > pos)
            st = ntg__session_run_range(tr->s, tr->g_grad, (int)b, pos, end, err);
        pos = end;
        if (!st && u + 1 == nu) {
            float l = NAN;
            st = ntg_session_get_output(tr->s, "loss", &l, 1, err);
            tr->gbuf[tr->gsum] = l;
            tr->gbuf[tr->gsum + 1] = 0;
        }
        uint32_t a = tr->un_first[u], e = tr->un_first[u + 1] + (u + 1 == nu ? 1u : 0u);
        if (!st)
            st = dp->allreduce_startx(dp->user, step, u, tr->sp_ptr + a, tr->sp_len + a, e - a,
                                      share, tr->un_bounds + u * w1, NTG__TRAIN_DP_REDUCE, err);
        if (!st) started++;
    }
    ntg_error spare;
    if (flags_started) {
        ntg_status w = dp->allreduce_wait(dp->user, BK_FLAGS, st ? &spare : err);
        if (!st) st = w;
    }
    *stop = !st && tr->flags[0] > 0;
    *redo = !st && !*stop && tr->flags[1] > 0;
    int apply = !st && !*stop && !*redo;
    if (apply) st = ntg__session_set_tensor(tr->s, tr->io.ctl, ctl, NTG_CTL_SIZE, err);
    /* the apply program's ops are run one by one below: open its run with an empty range */
    if (apply && !st) st = ntg__session_run_range(tr->s, tr->g_apply, 1, 0, 0, err);
    size_t own = (size_t)((tr->rank + 1) % tr->world);
    for (uint32_t u = 0; u < started; u++) {
        ntg_status w = dp->allreduce_wait(dp->user, u, st ? &spare : err);
        if (!st) st = w;
        if (st || !apply) continue;
        uint32_t a = tr->un_first[u], e = tr->un_first[u + 1] + (u + 1 == nu ? 1u : 0u);
        /* the optimizer on this worker's segment [lo_own, hi_own) of the unit: whole
         * parameters by their op, a parameter cut between owners on its part alone */
        const uint64_t *bd = tr->un_bounds + u * w1;
        uint64_t at = 0;
        for (uint32_t k = a; !st && k < e && k < tr->n_grads; at += tr->sp_len[k], k++) {
            uint64_t lo = bd[own] > at ? bd[own] : at,
                     hi = bd[own + 1] < at + tr->sp_len[k] ? bd[own + 1] : at + tr->sp_len[k];
            if (hi <= lo) continue;
            uint32_t g = tr->n_buckets ? tr->order[k] : k;
            if (hi - lo == tr->sp_len[k])
                st = ntg__session_run_range(tr->s, tr->g_apply, 1, tr->aop[g], tr->aop[g] + 1, err);
            else
                st = ntg__session_run_elems(tr->s, tr->g_apply, tr->aop[g], lo - at, hi - at, err);
        }
        if (!st)
            st =
                dp->allreduce_startx(dp->user, step, BK_GATHER + u, tr->wp_ptr + a, tr->sp_len + a,
                                     e - a, 1.0, tr->un_bounds + u * w1, NTG__TRAIN_DP_GATHER, err);
        if (!st) gathered++;
    }
    for (uint32_t u = 0; u < gathered; u++) {
        ntg_status w = dp->allreduce_wait(dp->user, BK_GATHER + u, st ? &spare : err);
        if (!st) st = w;
    }
    if (st) return st;
    if (apply) tr->state_whole = tr->world == 1;
    *loss = tr->gbuf[tr->gsum];
    if (*redo) st = dp_gather_state(tr, step, err);
    return st;
}

/* One data-parallel step: this worker's shard of the global batch (already sampled into
 * tr->idx) through the grad program, the gradients summed across workers (each scaled by its
 * share of the batch, so that the sum is the gradient of the global batch's mean loss), then
 * the apply program.  *stop: some worker asked to stop before this step (it is not applied). */
static ntg_status dp_step(trainer *tr, long step, const float ctl[NTG_CTL_SIZE], float pending_stop,
                          float *loss, int *stop, int *redo, ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    size_t lo, b;
    *redo = 0;
    dp_shard(tr->batch, tr->world, tr->rank, &lo, &b);
    ntg_status st = ntg__windows_fill(tr->data, tr->scaler, tr->wscaler, &tr->wtrain, tr->idx + lo,
                                      b, tr->x, tr->t, tr->loc, tr->scale, err);
    if (!st && tr->io.classes) ntg__model_labels(&tr->io, tr->x, tr->t, b);
    if (!st) st = set_rng(tr, step, lo, err);
    if (!st) st = ntg__session_set_tensor(tr->s, tr->io.x, tr->x, b * tr->io.L, err);
    if (!st)
        st = ntg__exog_feed(tr->exog, &tr->io, tr->s, tr->data, &tr->wtrain, tr->idx + lo, b,
                            tr->xbuf, err);
    if (!st) st = ntg__session_set_tensor(tr->s, tr->io.t, tr->t, b * tr->io.h, err);
    if (!st && tr->io.mask != NTG_NONE)
        st = ntg__session_set_tensor(tr->s, tr->io.mask, tr->ones, b * tr->io.h, err);
    if (!st && tr->shard)
        return dp_step_sharded(tr, step, ctl, pending_stop, b, loss, stop, redo, err);
    if (!st && tr->n_buckets)
        return dp_step_overlap(tr, step, ctl, pending_stop, b, loss, stop, err);
    if (!st) st = ntg__session_run_index(tr->s, tr->g_grad, (int)b, err);
    float l = NAN;
    if (!st) st = ntg_session_get_output(tr->s, "loss", &l, 1, err);
    if (!st && tr->inplace)
        return dp_step_inplace(tr, step, ctl, pending_stop, b, l, loss, stop, err);
    for (size_t k = 0; !st && k < tr->n_grads; k++)
        st = ntg__session_get_tensor(tr->s, tr->grad_ids[k], tr->gbuf + tr->goff[k],
                                     tr->grad_len[k], err);
    if (st) return st;
    /* the loss is a mean over the shard's windows (each has h target values): weight by the
     * shard's share; with one worker the factor is 1 and nothing changes */
    if (b != (size_t)tr->batch) {
        double share = (double)b / (double)tr->batch;
        for (size_t i = 0; i < tr->gsum; i++) tr->gbuf[i] = (float)((double)tr->gbuf[i] * share);
        l = (float)((double)l * share);
    }
    tr->gbuf[tr->gsum] = l;
    tr->gbuf[tr->gsum + 1] = pending_stop;
    if ((st = dp->allreduce(dp->user, step, tr->gbuf, tr->gsum + 2, err))) return st;
    return dp_apply(tr, ctl, loss, stop, err);
}

/* The summed gradients back into the session and the apply program (unless a worker asked to
 * stop: then nothing is applied). */
static ntg_status dp_apply(trainer *tr, const float ctl[NTG_CTL_SIZE], float *loss, int *stop,
                           ntg_error *err)
{
    ntg_status st = NTG_OK;
    *loss = tr->gbuf[tr->gsum];
    *stop = tr->gbuf[tr->gsum + 1] > 0;
    if (*stop) return NTG_OK;
    for (size_t k = 0; !st && !tr->inplace && k < tr->n_grads; k++)
        st = ntg__session_set_tensor(tr->s, tr->grad_ids[k], tr->gbuf + tr->goff[k],
                                     tr->grad_len[k], err);
    if (!st) st = ntg__session_set_tensor(tr->s, tr->io.ctl, ctl, NTG_CTL_SIZE, err);
    if (!st) st = ntg__session_run_index(tr->s, tr->g_apply, 1, err);
    return st;
}

static void teardown(trainer *tr)
{
    ntg_session_destroy(tr->s);
    ntg__scaler_free(tr->scaler);
    free(tr->cols);
    free(tr->x);
    free(tr->t);
    free(tr->ones);
    free(tr->loc);
    free(tr->scale);
    free(tr->idx);
    free(tr->best);
    free(tr->grad_ids);
    free(tr->grad_len);
    free(tr->gbuf);
    free(tr->goff);
    free(tr->bk_end);
    free(tr->bk_first);
    free(tr->bk_off);
    free(tr->bk_len);
    free(tr->order);
    free(tr->xbuf);
    ntg__exog_free(tr->exog);
    free(tr->sp_ptr);
    free(tr->sp_len);
    free(tr->un_first);
    free(tr->un_bounds);
    free(tr->wp_ptr);
    free(tr->stp_ptr[0]);
    free(tr->stp_ptr[1]);
    free(tr->aop);
}

/* Elastic continuation: after a lost worker (or rank 0's request to admit joiners) every worker
 * re-forms the mesh; rank 0 takes up the newest checkpoint (after a loss: workers may have
 * applied different steps) or keeps its weights (a requested re-form happens between steps),
 * and starts everyone from there with the new world, as at the start. */
static ntg_status dp_recover(trainer *tr, int requested, uint8_t *wbuf, uint8_t *sbuf,
                             ntg_error *err)
{
    const ntg__train_dp *dp = tr->dp;
    int rank = -1, world = 0;
    ntg_status st = dp->reform(dp->user, &rank, &world, err);
    if (st) return st;
    if (rank != 0 && tr->rank == 0)
        return ntg__fail(err, NTG_ERR_STATE, "mesh re-formed with rank 0 as rank %d", rank);
    tr->rank = rank;
    tr->world = world;
    if (tr->batch < world)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "batch %d is smaller than the re-formed mesh's world size %d", tr->batch,
                         world);
    long from = 0;
    if (rank == 0 && !requested) {
        if (tr->o->checkpoint_dir || tr->o->checkpoint_get) st = ckpt_resume(tr, &from, err);
        if (!st && from == 0) {
            /* no checkpoint yet: from the plan's initial weights */
            st = ntg__session_write_storage(tr->s, NTG_STORE_WEIGHTS, tr->plan->img.weights, err);
            if (!st && tr->sbytes) {
                memset(sbuf, 0, tr->sbytes);
                st = ntg__session_write_storage(tr->s, NTG_STORE_STATE, sbuf, err);
            }
            tr->step = tr->best_step = tr->bad = 0;
            tr->best_val = NAN;
        }
    }
    if (!st) st = dp_start(tr, wbuf, sbuf, &from, err);
    return st;
}

ntg_status ntg_train(const ntg_plan *plan, const ntg_series *data, const ntg_train_options *opts,
                     ntg_plan **trained, ntg_train_report *report, ntg_error *err)
{
    return ntg__train_dp_run(plan, data, opts, NULL, trained, report, err);
}

ntg_status ntg__train_dp_run(const ntg_plan *plan, const ntg_series *data,
                             const ntg_train_options *opts, const ntg__train_dp *dp,
                             ntg_plan **trained, ntg_train_report *report, ntg_error *err)
{
    if (trained) *trained = NULL;
    if (!plan || !data || !opts || !trained)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_train: NULL argument");
    ntg_train_options o;
    ntg_train_options_init(&o);
    ntg_status ost = NTG__ABI_IN(&o, opts, ntg_train_options, refit_scaler, "ntg_train", err);
    if (!ost && report)
        ost = NTG__ABI_CHECK(report, ntg_train_report, windows_per_s, "ntg_train", err);
    if (ost) return ost;
    opts = &o;
    /* fine-tuning: the graph's plan with init's parameters and scaler (warm_start.h) */
    ntg_plan *warm = NULL;
    if (o.init && (ost = ntg__plan_warm_start(plan, o.init, &warm, err))) return ost;
    if (warm) plan = warm;
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.plan = plan;
    tr.data = data;
    tr.o = opts;
    tr.dp = dp;
    /* only rank 0 reads and writes checkpoints */
    int lead = !dp || dp->rank == 0;
    ntg_train_report r;
    ntg_train_report_init(&r);
    uint8_t *wbuf = NULL, *sbuf = NULL;
    ntg_status st = setup(&tr, err);
    if (!st && dp) st = dp_setup(&tr, err);
    if (!st) {
        wbuf = malloc(tr.wbytes + 1);
        sbuf = malloc(tr.sbytes + 1);
        if (!wbuf || !sbuf) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    if (!st && opts->resume && lead) st = ckpt_resume(&tr, &r.resumed_from, err);
    if (!st && dp) st = dp_start(&tr, wbuf, sbuf, &r.resumed_from, err);
    double t0 = now_s();
    long first = tr.step + 1;
    float loss = NAN;
    float pending_stop = 0; /* data parallel: this worker's progress callback asked to stop */
    int requested = 0;      /* rank 0 broke the generation to admit joiners */
    int ckpt_at_stop = 0;   /* the progress callback asked for a checkpoint where it stops */
    long next = first;      /* the step to run next (after a re-form: rank 0's step + 1) */
    /* the outer loop runs again after the mesh re-formed (elastic continuation) */
    for (int reforms = 0; !st; reforms++) {
        for (long step = next; !st && step <= tr.steps; step++) {
            /* rank 0, between steps: workers wait to join; a re-form takes them in */
            tr.join = 0;
            if (dp && dp->joiners && tr.rank == 0 && !requested && dp->joiners(dp->user) > 0) {
                if (tr.shard && !tr.state_whole) {
                    tr.join = 1; /* first everyone gathers the sharded optimizer state */
                } else {
                    if ((st = dp->request_reform(dp->user, err))) break;
                    requested = 1;
                }
            }
            tr.step = step;
            size_t b = (size_t)tr.batch;
            ntg__windows_sample(&tr.wtrain, tr.seed, (uint64_t)step, b, tr.idx);
            float ctl[NTG_CTL_SIZE] = {(float)lr_at(&tr, step), (float)step, 0, 0};
            if (dp) {
                int stop_all = 0, redo = 0;
                st = dp_step(&tr, step, ctl, pending_stop, &loss, &stop_all, &redo, err);
                if (st) break;
                if (redo) { /* the state is whole now: rank 0 re-forms, then this step runs */
                    step--;
                    continue;
                }
                if (stop_all) { /* a worker stopped after the previous step: this one never ran */
                    tr.step = step - 1;
                    break;
                }
            } else {
                st = ntg__windows_fill(data, tr.scaler, tr.wscaler, &tr.wtrain, tr.idx, b, tr.x,
                                       tr.t, tr.loc, tr.scale, err);
                if (!st && tr.io.classes) ntg__model_labels(&tr.io, tr.x, tr.t, b);
                if (!st) st = ntg__session_set_tensor(tr.s, tr.io.x, tr.x, b * tr.io.L, err);
                if (!st)
                    st = ntg__exog_feed(tr.exog, &tr.io, tr.s, data, &tr.wtrain, tr.idx, b, tr.xbuf,
                                        err);
                if (!st) st = ntg__session_set_tensor(tr.s, tr.io.t, tr.t, b * tr.io.h, err);
                if (!st && tr.io.mask != NTG_NONE)
                    st = ntg__session_set_tensor(tr.s, tr.io.mask, tr.ones, b * tr.io.h, err);
                if (!st) st = ntg__session_set_tensor(tr.s, tr.io.ctl, ctl, NTG_CTL_SIZE, err);
                if (!st) st = set_rng(&tr, step, 0, err);
                if (!st) st = ntg__session_run_index(tr.s, tr.io.g_train, (int)b, err);
                if (!st) st = ntg_session_get_output(tr.s, "loss", &loss, 1, err);
                if (st) break;
            }
            if (!isfinite(loss)) {
                st = ntg__fail(err, NTG_ERR_DATA,
                               "training diverged at step %ld (loss %g): lower the learning rate",
                               step, (double)loss);
                break;
            }
            float gnorm = NAN;
            if (tr.grad_norm != NTG_NONE &&
                (st = ntg__session_get_tensor(tr.s, tr.grad_norm, &gnorm, 1, err)))
                break;
            ntg_train_progress pr = {.size = sizeof pr,
                                     .step = step,
                                     .steps = tr.steps,
                                     .train_loss = loss,
                                     .val_loss = NAN,
                                     .best_val_loss = tr.best_val,
                                     .best_step = tr.best_step,
                                     .lr = ctl[NTG_CTL_LR],
                                     .grad_norm = gnorm,
                                     .world = dp ? tr.world : 1};
            int validated = tr.has_val && step % tr.val_every == 0;
            if (validated) {
                double v = NAN;
                /* data parallel: rank 0 validates and tells the others, who then decide alike */
                if (lead && (st = validate(&tr, &v, err))) break;
                if (dp && (st = dp->broadcast(dp->user, &v, sizeof v, err))) break;
                pr.val_loss = v;
                if (!(v >= tr.best_val)) { /* also true for the first (best_val NaN) */
                    tr.best_val = v;
                    tr.best_step = step;
                    tr.bad = 0;
                    if (tr.best &&
                        (st = ntg__session_read_storage(tr.s, NTG_STORE_WEIGHTS, tr.best, err)))
                        break;
                } else {
                    tr.bad++;
                }
                pr.best_val_loss = tr.best_val;
                pr.best_step = tr.best_step;
            }
            pr.elapsed_s = now_s() - t0;
            pr.windows_per_s = (double)(step - first + 1) * (double)b / (pr.elapsed_s + 1e-12);
            int stop = opts->progress ? opts->progress(opts->user, &pr) : 0;
            if (stop == NTG_TRAIN_STOP_CHECKPOINT) ckpt_at_stop = 1;
            /* every worker knows when rank 0 checkpoints: a sharded optimizer's state is
             * gathered first */
            int ckpt_on = dp ? tr.ckpt0 : (opts->checkpoint_dir || opts->checkpoint_put);
            int ckpt_due =
                ckpt_on && (tr.checkpoint_every > 0 ? step % tr.checkpoint_every == 0 : validated);
            int ckpt = lead && ckpt_due;
            tr.last_loss = loss;
            tr.last_val = pr.val_loss;
            if (ckpt_due && dp && (st = dp_gather_state(&tr, step, err))) break;
            if (ckpt && (st = ckpt_write(&tr, wbuf, sbuf, err))) break;
            if (ckpt_due) tr.last_ckpt = step;
            if (tr.patience > 0 && tr.bad >= tr.patience) {
                r.stopped_early = 1;
                break;
            }
            if (stop && dp) {
                pending_stop = 1; /* told to everyone with the next step's gradients */
            } else if (stop) {
                break;
            }
        }
        /* a lost worker, or joiners rank 0 let in: re-form and go on from rank 0's state (the
         * failed step was not applied by rank 0; after a loss rank 0 takes up its newest
         * checkpoint, as other workers may be a step apart) */
        if (st != NTG_ERR_PEER_LOST || !dp || !dp->reform || reforms >= 64) break;
        tr.step--;
        st = dp_recover(&tr, requested, wbuf, sbuf, err);
        requested = 0;
        pending_stop = 0;
        next = tr.step + 1;
    }
    /* a run that ended leaves a checkpoint saying so: a --resume of it then refuses rather
     * than registering the same weights again; one that its progress callback stopped with
     * NTG_TRAIN_STOP_CHECKPOINT leaves its last step, from which --resume continues exactly
     * (every rank agrees on both: the state gather is collective) */
    int ended = tr.step >= tr.steps || (tr.patience > 0 && tr.bad >= tr.patience);
    int ckpt_end = (dp ? tr.ckpt0 : (opts->checkpoint_dir || opts->checkpoint_put)) &&
                   (ended || ckpt_at_stop) && tr.step > 0 && tr.last_ckpt != tr.step;
    if (!st && ckpt_end && dp) st = dp_gather_state(&tr, tr.step, err);
    if (!st && lead && ckpt_end) st = ckpt_write(&tr, wbuf, sbuf, err);
    if (!st) {
        r.steps = tr.step;
        r.best_step = tr.best_step;
        r.best_val_loss = tr.best_val;
        r.final_train_loss = loss;
        r.seconds = now_s() - t0;
        r.windows_per_s = (double)(tr.step - first + 1) * tr.batch / (r.seconds + 1e-12);
        /* early stopping restores the best weights (NeuralForecast keeps the last) */
        const uint8_t *final = NULL;
        if (tr.best && tr.best_step > 0) {
            final = tr.best;
        } else {
            st = ntg__session_read_storage(tr.s, NTG_STORE_WEIGHTS, wbuf, err);
            final = wbuf;
        }
        if (!st) st = finish_plan(&tr, final, &r, trained, err);
    }
    if (report) ntg__abi_out(report, &r);
    free(wbuf);
    free(sbuf);
    teardown(&tr);
    ntg_plan_destroy(warm);
    return st;
}
