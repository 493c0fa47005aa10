/* store_inits.c — the *_init calls of the store's options, filter, checkpoint and report
 * structs: the same with or without RocksDB (built beside store.c and beside store_stub.c). */
#include <math.h>
#include <string.h>

#include "ntgraph.h"

void ntg_store_options_init(ntg_store_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->lock_wait_ms = 10000;
}

void ntg_store_put_options_init(ntg_store_put_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->parent = NTG_STORE_PARENT_LATEST;
}

void ntg_store_filter_init(ntg_store_filter *f)
{
    if (!f) return;
    memset(f, 0, sizeof *f);
    f->size = sizeof *f;
}

void ntg_store_checkpoint_init(ntg_store_checkpoint *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->size = sizeof *c;
    c->train_loss = c->val_loss = NAN;
}

void ntg_store_gc_report_init(ntg_store_gc_report *r)
{
    if (!r) return;
    memset(r, 0, sizeof *r);
    r->size = sizeof *r;
}

void ntg_store_verify_report_init(ntg_store_verify_report *r)
{
    if (!r) return;
    memset(r, 0, sizeof *r);
    r->size = sizeof *r;
}

void ntg_store_stats_init(ntg_store_stats *st)
{
    if (!st) return;
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
}
