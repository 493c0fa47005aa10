/* store_stub.c — the model store API in builds without RocksDB: every call is NTG_ERR_UNSUPPORTED.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ntg_error.h"
#include "store.h"

#define NO_STORE(err)                                                                              \
    ntg__fail((err), NTG_ERR_UNSUPPORTED,                                                          \
              "this ntgraph was built without the model store "                                    \
              "(it needs RocksDB and libsodium)")

ntg_status ntg_store_open(const char *path, const ntg_store_options *opts, ntg_store **out,
                          ntg_error *err)
{
    (void)path;
    (void)opts;
    if (out) *out = NULL;
    return NO_STORE(err);
}

void ntg_store_close(ntg_store *store)
{
    (void)store;
}

ntg_status ntg_store_refresh(ntg_store *store, ntg_error *err)
{
    (void)store;
    return NO_STORE(err);
}

ntg_status ntg_store_put(ntg_store *store, const char *name, const ntg_plan *plan,
                         const ntg_store_put_options *opts, uint64_t *version, ntg_error *err)
{
    (void)store, (void)name, (void)plan, (void)opts;
    if (version) *version = 0;
    return NO_STORE(err);
}

ntg_status ntg_store_put_safetensors(ntg_store *store, const char *name, const char *path,
                                     const ntg_store_put_options *opts, uint64_t *version,
                                     ntg_error *err)
{
    (void)store, (void)name, (void)path, (void)opts;
    if (version) *version = 0;
    return NO_STORE(err);
}

ntg_status ntg_store_get_plan(ntg_store *store, const char *ref, ntg_plan **out, ntg_error *err)
{
    (void)store, (void)ref;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_resolve(ntg_store *store, const char *ref, uint64_t *version, ntg_error *err)
{
    (void)store, (void)ref;
    if (version) *version = 0;
    return NO_STORE(err);
}

size_t ntg_store_list_count(const ntg_store_list *list)
{
    (void)list;
    return 0;
}

const ntg_store_version *ntg_store_list_at(const ntg_store_list *list, size_t i)
{
    (void)list, (void)i;
    return NULL;
}

void ntg_store_list_destroy(ntg_store_list *list)
{
    (void)list;
}

ntg_status ntg_store_list_versions(ntg_store *store, const ntg_store_filter *f,
                                   ntg_store_list **out, ntg_error *err)
{
    (void)store, (void)f;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_show(ntg_store *store, const char *ref, ntg_store_list **out, ntg_error *err)
{
    (void)store, (void)ref;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_similar(ntg_store *store, const char *ref, const ntg_store_filter *f, size_t k,
                             ntg_store_list **out, ntg_error *err)
{
    (void)store, (void)ref, (void)f, (void)k;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_similar_plan(ntg_store *store, const ntg_plan *plan, const ntg_store_filter *f,
                                  size_t k, ntg_store_list **out, ntg_error *err)
{
    (void)store, (void)plan, (void)f, (void)k;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_tag(ntg_store *store, const char *ref, const char *key, const char *value,
                         ntg_error *err)
{
    (void)store, (void)ref, (void)key, (void)value;
    return NO_STORE(err);
}

ntg_status ntg_store_alias_set(ntg_store *store, const char *ref, const char *alias, ntg_error *err)
{
    (void)store, (void)ref, (void)alias;
    return NO_STORE(err);
}

ntg_status ntg_store_alias_remove(ntg_store *store, const char *name, const char *alias,
                                  ntg_error *err)
{
    (void)store, (void)name, (void)alias;
    return NO_STORE(err);
}

ntg_status ntg_store_put_checkpoint(ntg_store *store, const char *name,
                                    const ntg_store_checkpoint *ckpt, unsigned keep, uint64_t *id,
                                    ntg_error *err)
{
    (void)store, (void)name, (void)ckpt, (void)keep;
    if (id) *id = 0;
    return NO_STORE(err);
}

ntg_status ntg_store_checkpoints(ntg_store *store, const char *name, ntg_store_ckpts **out,
                                 ntg_error *err)
{
    (void)store, (void)name;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_get_checkpoint(ntg_store *store, const char *name, uint64_t id,
                                    ntg_store_ckpts **out, ntg_error *err)
{
    (void)store, (void)name, (void)id;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_get_checkpoint_into(ntg_store *store, const char *name, uint64_t id,
                                         ntg_store_ckpts **inout, ntg_error *err)
{
    (void)store, (void)name, (void)id;
    if (inout) *inout = NULL; /* no result exists without a store to have made it */
    return NO_STORE(err);
}

size_t ntg_store_ckpts_count(const ntg_store_ckpts *c)
{
    (void)c;
    return 0;
}

const ntg_store_checkpoint *ntg_store_ckpts_at(const ntg_store_ckpts *c, size_t i)
{
    (void)c, (void)i;
    return NULL;
}

void ntg_store_ckpts_destroy(ntg_store_ckpts *c)
{
    (void)c;
}

/* The reports below are left as the caller initialised them: nothing was measured. */
ntg_status ntg_store_gc(ntg_store *store, ntg_store_gc_report *report, ntg_error *err)
{
    (void)store, (void)report;
    return NO_STORE(err);
}

ntg_status ntg_store_backup(ntg_store *store, const char *dir, ntg_error *err)
{
    (void)store, (void)dir;
    return NO_STORE(err);
}

ntg_status ntg_store_verify(ntg_store *store, ntg_store_verify_report *report, ntg_error *err)
{
    (void)store, (void)report;
    return NO_STORE(err);
}

ntg_status ntg_store_stats_get(ntg_store *store, ntg_store_stats *stats, ntg_error *err)
{
    (void)store, (void)stats;
    return NO_STORE(err);
}

ntg_status ntg_store_sha256_file(const char *path, char hex[65], ntg_error *err)
{
    (void)path;
    if (hex) hex[0] = 0;
    return NO_STORE(err);
}

ntg_status ntg_store_trainer_create(const char *path, const char *name, unsigned keep,
                                    ntg_train_options *opts, ntg_store_trainer **out,
                                    ntg_error *err)
{
    (void)path, (void)name, (void)keep, (void)opts;
    if (out) *out = NULL;
    return NO_STORE(err);
}

ntg_status ntg_store_trainer_register(ntg_store_trainer *t, const ntg_plan *trained,
                                      const ntg_train_report *report, const char *data_path,
                                      const char *split, uint64_t *version, ntg_error *err)
{
    (void)t, (void)trained, (void)report, (void)data_path, (void)split;
    if (version) *version = 0;
    return NO_STORE(err);
}

const char *ntg_store_trainer_run(const ntg_store_trainer *t)
{
    (void)t;
    return "";
}

ntg_status ntg_store_trainer_set_run(ntg_store_trainer *t, const char *run, ntg_error *err)
{
    (void)t, (void)run;
    return NO_STORE(err);
}

void ntg_store_trainer_destroy(ntg_store_trainer *t)
{
    (void)t;
}

unsigned long ntg__store_catchups(const ntg_store *s)
{
    (void)s;
    return 0;
}

void ntg__store_set_killpoint(ntg_store *s, ntg__store_killpoint_fn fn, void *user)
{
    (void)s, (void)fn, (void)user;
}

ntg_status ntg__store_check(ntg_store *s, ntg__store_check_report *r, ntg_error *err)
{
    (void)s;
    if (r) *r = (ntg__store_check_report){0};
    return NO_STORE(err);
}

int ntg__store_valid_model_name(const char *name)
{
    (void)name;
    return 0;
}

ntg_status ntg__store_gc(ntg_store *s, int relocate, ntg_store_gc_report *report, ntg_error *err)
{
    (void)relocate;
    return ntg_store_gc(s, report, err);
}

ntg_status ntg__store_compact(ntg_store *s, ntg_error *err)
{
    (void)s;
    return NO_STORE(err);
}

ntg_status ntg__store_load_spec(const char *spec, ntg_plan **out, ntg_error *err)
{
    (void)spec;
    if (out) *out = NULL;
    return NO_STORE(err);
}
