/* store_train.c — ntg_train's checkpoints into a store, resume from it, the trained version. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define MAX_PARTS 8
#define MAX_META 64

#define RUN_MAX 64

struct ntg_store_trainer {
    char *path, *name;
    unsigned keep;
    char run[RUN_MAX + 1];  /* this run's id: its checkpoints carry it */
    char want[RUN_MAX + 1]; /* ntg_store_trainer_set_run: the run --resume continues */
    uint64_t parent;        /* the model's latest version when the run started (lineage) */
    char parent_s[24];
    ntg_store_ckpts *resume; /* kept until destroy: the trainer reads its memory */
    const char *names[MAX_PARTS];
    const void *data[MAX_PARTS];
    size_t bytes[MAX_PARTS];
    const char *meta[2 * (MAX_META + 2)];
    int lock_fd;              /* this run's lock file, held while the run lives (-1) */
    char locked[RUN_MAX + 1]; /* the run it is for */
};

/* ------------------------------------------------------------------ runs that live
 *
 * A run holds a shared flock on NTGRAPH-RUN-<id> in the store's directory for as long as its
 * trainer exists; the kernel drops it when the process ends, however it ends.  A run whose
 * file nobody holds is not running: if it is unfinished, it was killed or stopped, and a newer
 * run of its configuration supersedes it (superseded(), below). */

#define RUN_LOCK "NTGRAPH-RUN-"

static void run_lock_path(const char *store, const char *run, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/" RUN_LOCK "%s", store, run);
    if (n < 0 || (size_t)n >= cap) buf[0] = 0; /* too long a path: no lock, as without one */
}

/* Hold run `run`'s lock file (shared: a run resumed twice at once is the user's to sort out).
 * -1 when it cannot be had; the run then only looks dead to others, as before locks. */
static int run_lock(const char *store, const char *run)
{
    char path[4096];
    run_lock_path(store, run, path, sizeof path);
    for (int tries = 0; tries < 10; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return -1;
        int r;
        do r = flock(fd, LOCK_SH);
        while (r != 0 && errno == EINTR);
        /* another run may have unlinked the file (it held it, dead) between our open and
         * our lock: then lock the new one */
        struct stat a, b;
        if (r == 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return fd;
        close(fd);
        if (r != 0) return -1;
    }
    return -1;
}

/* 1 when a process holds run `run`'s lock file. */
static int run_live(const char *store, const char *run)
{
    char path[4096];
    run_lock_path(store, run, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int live = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* drops our lock, if we got it */
    return live;
}

/* Remove run `run`'s lock file if no process holds it (its checkpoints are gone). */
static void run_forget(const char *store, const char *run)
{
    char path[4096];
    run_lock_path(store, run, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) unlink(path);
    close(fd);
}

static void run_unlock(ntg_store_trainer *t)
{
    if (t->lock_fd < 0) return;
    /* a run that ends removes its file (nobody else holds it, or they keep their own) */
    if (flock(t->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        char path[4096];
        run_lock_path(t->path, t->locked, path, sizeof path);
        unlink(path);
    }
    close(t->lock_fd);
    t->lock_fd = -1;
    t->locked[0] = 0;
}

/* Hold the lock of the run the trainer is now (a resume switches to the resumed run's id). */
static void hold_run(ntg_store_trainer *t)
{
    if (t->lock_fd >= 0 && strcmp(t->locked, t->run) == 0) return;
    run_unlock(t);
    t->lock_fd = run_lock(t->path, t->run);
    if (t->lock_fd >= 0) snprintf(t->locked, sizeof t->locked, "%s", t->run);
}

static const char *meta_in(const ntg_define *m, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, key) == 0) return m[i].value;
    return NULL;
}

/* Metadata that changes from checkpoint to checkpoint of one run (the rest is its
 * configuration: settings, plan fingerprint, seed, split, data). */
static int per_step_key(const char *k)
{
    static const char *const keys[] = {"step",     "best_step", "best_val",  "bad",
                                       "finished", "run",       "run.parent"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i]) == 0) return 1;
    return 0;
}

/* 1 when checkpoint c has exactly the configuration of the metadata `meta` (every key of it
 * but the per-step ones, with the same value). */
static int same_run_config(const ntg_store_checkpoint *c, const ntg_define *meta, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (per_step_key(meta[i].name)) continue;
        const char *had = meta_in(c->meta, c->n_meta, meta[i].name);
        if (!had || strcmp(had, meta[i].value) != 0) return 0;
    }
    return 1;
}

#define MAX_DROP 64

/* The checkpoints a new checkpoint of this run reclaims (at most MAX_DROP; more go with the
 * next): of every other run that is unfinished, made with this run's configuration and not
 * running (nobody holds its lock), all but the newest checkpoint of the newest such run.  A
 * killed run restarted afresh thus leaves one checkpoint behind (for `--run ID`), and ten kills
 * no more than one.  Runs of other configurations, finished runs and runs that live are left
 * alone.  *gone lists the runs left without checkpoints (their lock files go too). */
static ntg_status superseded(ntg_store *s, const ntg_store_trainer *t, const ntg_define *meta,
                             size_t n_meta, uint64_t *drop, size_t *n_drop,
                             char (*gone)[RUN_MAX + 1], size_t *n_gone, ntg_error *err)
{
    *n_drop = 0;
    *n_gone = 0;
    ntg_store_ckpts *l = NULL;
    ntg_status st = ntg_store_checkpoints(s, t->name, &l, err);
    if (st == NTG_ERR_NOT_FOUND) return NTG_OK; /* no model yet */
    if (st) return st;
    size_t n = ntg_store_ckpts_count(l);
    int kept_one = 0;
    /* newest first: a run's first checkpoint met is its newest */
    for (size_t i = n; i-- > 0 && *n_drop < MAX_DROP;) {
        const ntg_store_checkpoint *c = ntg_store_ckpts_at(l, i);
        const char *run = meta_in(c->meta, c->n_meta, "run");
        if (!run || !*run || strlen(run) > RUN_MAX || strcmp(run, t->run) == 0) continue;
        int seen = 0;
        for (size_t j = i + 1; j < n && !seen; j++) {
            const char *r2 =
                meta_in(ntg_store_ckpts_at(l, j)->meta, ntg_store_ckpts_at(l, j)->n_meta, "run");
            seen = r2 && strcmp(r2, run) == 0;
        }
        if (seen) continue;
        const char *fin = meta_in(c->meta, c->n_meta, "finished");
        if ((fin && strcmp(fin, "1") == 0) || !same_run_config(c, meta, n_meta) ||
            run_live(t->path, run))
            continue;
        /* run `run` is superseded: its checkpoints, newest first */
        int keep = !kept_one, all = !kept_one ? 0 : 1;
        kept_one = 1;
        for (size_t j = i + 1; j-- > 0;) {
            const ntg_store_checkpoint *d = ntg_store_ckpts_at(l, j);
            const char *r2 = meta_in(d->meta, d->n_meta, "run");
            if (!r2 || strcmp(r2, run) != 0) continue;
            if (keep) {
                keep = 0;
            } else if (*n_drop < MAX_DROP) {
                drop[(*n_drop)++] = d->id;
            } else {
                all = 0; /* the rest go with the next checkpoint */
            }
        }
        if (all && *n_gone < MAX_DROP) snprintf(gone[(*n_gone)++], RUN_MAX + 1, "%s", run);
    }
    ntg_store_ckpts_destroy(l);
    return NTG_OK;
}

static ntg_status put(void *user, const ntg_train_checkpoint *ck, ntg_error *err)
{
    ntg_store_trainer *t = user;
    ntg_store_blob blobs[MAX_PARTS];
    ntg_define meta[MAX_META + 2];
    if (ck->n_blobs > MAX_PARTS || ck->n_meta > MAX_META)
        return ntg__fail(err, NTG_ERR_INTERNAL, "a checkpoint with too many parts");
    for (size_t i = 0; i < ck->n_blobs; i++)
        blobs[i] = (ntg_store_blob){ck->blob_names[i], ck->blob_data[i], ck->blob_bytes[i]};
    for (size_t i = 0; i < ck->n_meta; i++)
        meta[i] = (ntg_define){ck->meta[2 * i], ck->meta[2 * i + 1]};
    ntg_store_checkpoint c;
    ntg_store_checkpoint_init(&c);
    c.step = ck->step;
    c.train_loss = ck->train_loss;
    c.val_loss = ck->val_loss;
    /* the run: pruning keeps the newest `keep` of this run only; resume and lineage use it */
    snprintf(t->parent_s, sizeof t->parent_s, "%llu", (unsigned long long)t->parent);
    meta[ck->n_meta] = (ntg_define){"run", t->run};
    meta[ck->n_meta + 1] = (ntg_define){"run.parent", t->parent_s};
    c.meta = meta;
    c.n_meta = ck->n_meta + 2;
    c.blobs = blobs;
    c.n_blobs = ck->n_blobs;
    /* the run lives while it holds its lock: other runs leave its checkpoints alone */
    hold_run(t);
    /* open per checkpoint: between them other writers (tag, alias, import) get their turn */
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(t->path, NULL, &s, err);
    uint64_t id;
    uint64_t drop[MAX_DROP];
    char gone[MAX_DROP][RUN_MAX + 1];
    size_t n_drop = 0, n_gone = 0;
    /* abandoned runs of this configuration go as this one makes progress */
    if (!st) st = superseded(s, t, meta, c.n_meta, drop, &n_drop, gone, &n_gone, err);
    if (!st) st = ntg__store_put_checkpoint_drop(s, t->name, &c, t->keep, drop, n_drop, &id, err);
    ntg_store_close(s);
    for (size_t i = 0; !st && i < n_gone; i++) run_forget(t->path, gone[i]);
    return st;
}

static const char *meta_of(const ntg_store_checkpoint *c, const char *key)
{
    for (size_t i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta[i].name, key) == 0) return c->meta[i].value;
    return "";
}

/* Which checkpoint --resume continues: the newest of the run set_run chose; else the newest
 * checkpoint of the newest unfinished run made with this configuration (an older unfinished
 * run of it is superseded); else the newest unfinished run's, else the newest checkpoint (the
 * trainer then names the difference, or says the run is finished).  0: none. */
/* 1 when checkpoint c was made with the configuration `want` (key/value pairs; keys c lacks
 * are not compared: checkpoints from before they were written). */
static int same_config(const ntg_store_checkpoint *c, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *had = meta_of(c, want[2 * i]);
        if (*had && strcmp(had, want[2 * i + 1]) != 0) return 0;
    }
    return 1;
}

static uint64_t pick(const ntg_store_trainer *t, const ntg_store_ckpts *l, const char *const *want,
                     size_t n_want)
{
    size_t n = ntg_store_ckpts_count(l);
    uint64_t newest_open = 0; /* the newest unfinished run's newest checkpoint, any config */
    /* newest first: the first checkpoint of a run met is its newest, which says whether the
     * run finished */
    for (size_t i = n; i-- > 0;) {
        const ntg_store_checkpoint *c = ntg_store_ckpts_at(l, i);
        const char *run = meta_of(c, "run");
        int seen = 0;
        for (size_t j = i + 1; j < n && !seen; j++)
            seen = strcmp(meta_of(ntg_store_ckpts_at(l, j), "run"), run) == 0;
        if (seen) continue;
        if (t->want[0]) {
            if (strcmp(run, t->want) == 0) return c->id;
            continue;
        }
        if (strcmp(meta_of(c, "finished"), "1") == 0) continue;
        if (same_config(c, want, n_want)) return c->id;
        if (!newest_open) newest_open = c->id;
    }
    if (t->want[0]) return 0;
    /* no unfinished run of this configuration: the newest unfinished one, or else the newest
     * checkpoint, so the trainer names what differs or says the run is finished */
    if (newest_open) return newest_open;
    return n ? ntg_store_ckpts_at(l, n - 1)->id : 0;
}

static ntg_status get(void *user, ntg_train_checkpoint *ck, ntg_error *err)
{
    ntg_store_trainer *t = user;
    const char *const *want = ck->meta; /* in: this run's configuration */
    size_t n_want = ck->meta ? ck->n_meta : 0;
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = NTG_STORE_OPEN_READONLY;
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(t->path, &o, &s, err);
    ntg_store_ckpts_destroy(t->resume);
    t->resume = NULL;
    ntg_store_ckpts *all = NULL;
    uint64_t id = 0;
    if (!st) st = ntg_store_checkpoints(s, t->name, &all, err);
    if (!st) id = pick(t, all, want, n_want);
    if (!st && !id && t->want[0])
        st = ntg__fail(err, NTG_ERR_NOT_FOUND, "model '%s' has no checkpoint of run %s", t->name,
                       t->want);
    if (!st && id) st = ntg_store_get_checkpoint(s, t->name, id, &t->resume, err);
    ntg_store_ckpts_destroy(all);
    ntg_store_close(s);
    if (st == NTG_ERR_NOT_FOUND && !t->want[0]) return NTG_OK; /* no model yet: start fresh */
    if (st) return st;
    if (!id) return NTG_OK; /* no checkpoint: start fresh */
    const ntg_store_checkpoint *c = ntg_store_ckpts_at(t->resume, 0);
    if (c->n_blobs > MAX_PARTS || c->n_meta > MAX_META + 2)
        return ntg__fail(err, NTG_ERR_DATA, "a checkpoint with too many parts");
    for (size_t i = 0; i < c->n_blobs; i++) {
        t->names[i] = c->blobs[i].name;
        t->data[i] = c->blobs[i].data;
        t->bytes[i] = (size_t)c->blobs[i].nbytes;
    }
    for (size_t i = 0; i < c->n_meta; i++) {
        t->meta[2 * i] = c->meta[i].name;
        t->meta[2 * i + 1] = c->meta[i].value;
    }
    /* the resumed run goes on under its id, with the parent it started from; it lives again */
    const char *run = meta_of(c, "run");
    if (*run && strlen(run) <= RUN_MAX) snprintf(t->run, sizeof t->run, "%s", run);
    hold_run(t);
    const char *par = meta_of(c, "run.parent");
    if (*par) t->parent = strtoull(par, NULL, 10);
    ck->step = c->step;
    ck->train_loss = c->train_loss;
    ck->val_loss = c->val_loss;
    ck->n_blobs = c->n_blobs;
    ck->blob_names = t->names;
    ck->blob_data = t->data;
    ck->blob_bytes = t->bytes;
    ck->n_meta = c->n_meta;
    ck->meta = t->meta;
    return NTG_OK;
}

const char *ntg_store_trainer_run(const ntg_store_trainer *t)
{
    return t ? t->run : "";
}

ntg_status ntg_store_trainer_set_run(ntg_store_trainer *t, const char *run, ntg_error *err)
{
    if (!t || !run) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_trainer_set_run: NULL");
    size_t n = strlen(run);
    int ok = n > 0 && n <= RUN_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (run[i] >= '0' && run[i] <= '9') || (run[i] >= 'a' && run[i] <= 'z') ||
             (run[i] >= 'A' && run[i] <= 'Z') || run[i] == '-' || run[i] == '_';
    if (!ok)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "bad run id '%s': 1..%d letters, digits, '-', '_' (train prints it; "
                         "store checkpoints --json shows it)",
                         run, RUN_MAX);
    snprintf(t->want, sizeof t->want, "%s", run);
    snprintf(t->run, sizeof t->run, "%s", run);
    return NTG_OK;
}

void ntg_store_trainer_destroy(ntg_store_trainer *t)
{
    if (!t) return;
    run_unlock(t);
    ntg_store_ckpts_destroy(t->resume);
    free(t->path);
    free(t->name);
    free(t);
}

ntg_status ntg_store_trainer_create(const char *path, const char *name, unsigned keep,
                                    ntg_train_options *opts, ntg_store_trainer **out,
                                    ntg_error *err)
{
    if (out) *out = NULL;
    if (!path || !name || !opts || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_trainer_create: NULL argument");
    ntg_status cst =
        NTG__ABI_CHECK(opts, ntg_train_options, checkpoint_user, "ntg_store_trainer_create", err);
    if (cst) return cst;
    if (!ntg__valid_name(name))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "bad model name '%s': letters, digits, '_', '.', '-'", name);
    ntg_store_trainer *t = calloc(1, sizeof *t);
    if (t) t->lock_fd = -1;
    if (!t || !(t->path = strdup(path)) || !(t->name = strdup(name))) {
        ntg_store_trainer_destroy(t);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    t->keep = keep;
    /* a run id: 16 random hex digits */
    uint8_t rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    t->run[0] = 'r';
    ntg__hex(rnd, sizeof rnd, t->run + 1);
    /* a bad or busy store is refused now, not at the first checkpoint; the lineage parent is
     * the model's latest version now, whatever other runs register meanwhile */
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(path, NULL, &s, err);
    ntg_pool *pool = st ? NULL : ntg__pool_create();
    if (!st && !pool) st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    ntg__model_rec m;
    int found = 0;
    if (!st) st = ntg__get_model(s, NULL, name, pool, &m, &found, err);
    if (!st && found && m.n_versions) t->parent = m.next_version - 1;
    ntg__pool_destroy(pool);
    ntg_store_close(s);
    if (st) {
        ntg_store_trainer_destroy(t);
        return st;
    }
    opts->checkpoint_put = put;
    opts->checkpoint_get = get;
    opts->checkpoint_user = t;
    *out = t;
    return NTG_OK;
}

ntg_status ntg_store_trainer_register(ntg_store_trainer *t, const ntg_plan *trained,
                                      const ntg_train_report *r, const char *data_path,
                                      const char *split, uint64_t *version, ntg_error *err)
{
    if (version) *version = 0;
    if (!t || !trained || !r || !version)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_store_trainer_register: NULL argument");
    ntg_train_report rl;
    ntg_train_report_init(&rl);
    ntg_status st =
        NTG__ABI_IN(&rl, r, ntg_train_report, windows_per_s, "ntg_store_trainer_register", err);
    if (st) return st;
    r = &rl;
    char sha[65] = "";
    st = data_path ? ntg_store_sha256_file(data_path, sha, err) : NTG_OK;
    if (st) return st;
    ntg_store_metric m[4];
    size_t nm = 0;
    m[nm++] = (ntg_store_metric){"final_train_loss", r->final_train_loss};
    if (r->best_step > 0) m[nm++] = (ntg_store_metric){"best_val_loss", r->best_val_loss};
    ntg_store_put_options o;
    ntg_store_put_options_init(&o);
    /* lineage: the version this run started from, not whatever another run registered since */
    o.parent = (int64_t)t->parent;
    ntg_define tag = {"train.run", t->run};
    o.tags = &tag;
    o.n_tags = 1;
    o.metrics = m;
    o.n_metrics = nm;
    o.data_sha256 = sha;
    o.data_split = split;
    ntg_store *s = NULL;
    if ((st = ntg_store_open(t->path, NULL, &s, err))) return st;
    st = ntg_store_put(s, t->name, trained, &o, version, err);
    /* pruned checkpoints left chunks behind; blob files that hold nothing live go now */
    ntg_store_gc_report g;
    if (!st) st = ntg__store_gc(s, 0, &g, err);
    ntg_store_close(s);
    return st;
}
