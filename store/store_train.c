/* store_train.c — ntg_train's checkpoints into a store, resume from it, the trained version. */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define MAX_PARTS 8
#define MAX_META 64

struct ntg_store_trainer {
    char *path, *name;
    unsigned keep;
    ntg_store_ckpts *resume; /* kept until destroy: the trainer reads its memory */
    const char *names[MAX_PARTS];
    const void *data[MAX_PARTS];
    size_t bytes[MAX_PARTS];
    const char *meta[2 * MAX_META];
};

static ntg_status put(void *user, const ntg_train_checkpoint *ck, ntg_error *err)
{
    ntg_store_trainer *t = user;
    ntg_store_blob blobs[MAX_PARTS];
    ntg_define meta[MAX_META];
    if (ck->n_blobs > MAX_PARTS || ck->n_meta > MAX_META)
        return ntg__fail(err, NTG_ERR_INTERNAL, "a checkpoint with too many parts");
    for (size_t i = 0; i < ck->n_blobs; i++)
        blobs[i] = (ntg_store_blob){ck->blob_names[i], ck->blob_data[i], ck->blob_bytes[i]};
    for (size_t i = 0; i < ck->n_meta; i++)
        meta[i] = (ntg_define){ck->meta[2 * i], ck->meta[2 * i + 1]};
    ntg_store_checkpoint c;
    memset(&c, 0, sizeof c);
    c.step = ck->step;
    c.train_loss = ck->train_loss;
    c.val_loss = ck->val_loss;
    c.meta = meta;
    c.n_meta = ck->n_meta;
    c.blobs = blobs;
    c.n_blobs = ck->n_blobs;
    /* open per checkpoint: between them other writers (tag, alias, import) get their turn */
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(t->path, NULL, &s, err);
    uint64_t id;
    if (!st) st = ntg_store_put_checkpoint(s, t->name, &c, t->keep, &id, err);
    ntg_store_close(s);
    return st;
}

static ntg_status get(void *user, ntg_train_checkpoint *ck, ntg_error *err)
{
    ntg_store_trainer *t = user;
    ntg_store_options o;
    ntg_store_options_init(&o);
    o.flags = NTG_STORE_OPEN_READONLY;
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(t->path, &o, &s, err);
    ntg_store_ckpts_destroy(t->resume);
    t->resume = NULL;
    if (!st) st = ntg_store_get_checkpoint(s, t->name, 0, &t->resume, err);
    ntg_store_close(s);
    if (st == NTG_ERR_NOT_FOUND) return NTG_OK; /* no model or checkpoint yet: start fresh */
    if (st) return st;
    const ntg_store_checkpoint *c = ntg_store_ckpts_at(t->resume, 0);
    if (c->n_blobs > MAX_PARTS || c->n_meta > MAX_META)
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

void ntg_store_trainer_destroy(ntg_store_trainer *t)
{
    if (!t) return;
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
    if (!ntg__valid_name(name))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "bad model name '%s': letters, digits, '_', '.', '-'", name);
    ntg_store_trainer *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path)) || !(t->name = strdup(name))) {
        ntg_store_trainer_destroy(t);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    t->keep = keep;
    /* a bad or busy store is refused now, not at the first checkpoint */
    ntg_store *s = NULL;
    ntg_status st = ntg_store_open(path, NULL, &s, err);
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
    char sha[65] = "";
    ntg_status st = data_path ? ntg_store_sha256_file(data_path, sha, err) : NTG_OK;
    if (st) return st;
    ntg_store_metric m[4];
    size_t nm = 0;
    m[nm++] = (ntg_store_metric){"final_train_loss", r->final_train_loss};
    if (r->best_step > 0) m[nm++] = (ntg_store_metric){"best_val_loss", r->best_val_loss};
    ntg_store_put_options o;
    ntg_store_put_options_init(&o);
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
