/* store.h — the model store's interface to the rest of ntgraph (the public API is in ntgraph.h). */
#ifndef NTG_STORE_H
#define NTG_STORE_H

#include <stdint.h>

#include "ntgraph.h"

/* Test hook: called at each numbered step of the commit protocols (store_int.h lists them),
 * so a crash test can kill the process at an exact point.  NULL removes it. */
typedef void (*ntg__store_killpoint_fn)(void *user, int step);
void ntg__store_set_killpoint(ntg_store *s, ntg__store_killpoint_fn fn, void *user);

/* How many times a reader reopened to catch up with the writer (retries), since it opened. */
unsigned long ntg__store_catchups(const ntg_store *s);

/* What a full consistency check of the records found (ntg__store_check). */
typedef struct ntg__store_check_report {
    uint64_t models, versions, ckpts;  /* rows seen */
    uint64_t problems;                 /* records that disagree with each other */
    uint64_t chunks, orphans, missing; /* chunk index rows; unreferenced; referenced, absent */
    char first[512];                   /* the first problem, "" when none */
} ntg__store_check_report;

/* Check, in one snapshot, that counters, model records, versions, aliases (latest = the
 * newest version), tags and their index, embeddings and chunk references agree. */
ntg_status ntg__store_check(ntg_store *s, ntg__store_check_report *r, ntg_error *err);

/* 1 when `name` is a valid model name (letters, digits, '_', '.', '-'; at most 128). */
int ntg__store_valid_model_name(const char *name);

/* Garbage collection; relocate 0 only drops blob files that hold nothing live (cheap: what a
 * training run does when it ends), 1 also rewrites files that hold some garbage (store gc). */
ntg_status ntg__store_gc(ntg_store *s, int relocate, ntg_store_gc_report *report, ntg_error *err);

/* Flush every column family and compact it (measurements: live file sizes afterwards). */
ntg_status ntg__store_compact(ntg_store *s, ntg_error *err);

/* Load the plan `spec` = "store:PATH:NAME@REF" (the CLI's plan paths); opens the store as a
 * reader.  NTG_ERR_INVALID_ARG when spec is not of that form. */
ntg_status ntg__store_load_spec(const char *spec, ntg_plan **out, ntg_error *err);

#endif /* NTG_STORE_H */
