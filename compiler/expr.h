/* expr.h — the expression language of graph files (hparams, attributes, names): parse, evaluate. */
#ifndef NTG_EXPR_H
#define NTG_EXPR_H

#include <stddef.h>

#include "graph.h"
#include "nearest.h" /* ntg_nearest: expression environments offer names to it */
#include "ntgraph.h"
#include "pool.h"

/* A parsed expression (immutable; evaluate it any number of times). */
typedef struct ntg_expr ntg_expr;

/* Where names come from when an expression is evaluated. */
typedef struct ntg_expr_env {
    /* NTG_OK with *out when `name` is defined; NTG_ERR_NOT_FOUND, leaving err alone, when
     * it is not; any other status with err filled (e.g. an hparam cycle).  `at` is where
     * the name is written. */
    ntg_status (*lookup)(void *user, const char *name, ntg_loc at, ntg_value *out, ntg_error *err);
    /* Offer every defined name to `near` (for "did you mean"); may be NULL. */
    void (*names)(void *user, ntg_nearest *near);
    void *user;
    ntg_pool *pool; /* values built by evaluation (lists, strings) */
    /* A bare identifier that names nothing evaluates to a string (NTG_V_STR) when it is
     * the whole expression or an item of a list that is: `loss: mae`, `[mae, mse]`. */
    int bare_words;
} ntg_expr_env;

/* Parse `len` bytes of `text` (copied into `pool`).  When `exact`, loc is the place of
 * text[0] and a message points at the offending character (loc.col + offset); otherwise
 * messages point at loc.  Errors: NTG_ERR_PARSE "bad expression '2 * (h': expected ')'",
 * NTG_ERR_GRAPH for unknown functions and wrong argument counts, NTG_ERR_NOMEM. */
ntg_status ntg__expr_parse(ntg_pool *pool, const char *text, size_t len, ntg_loc loc, int exact,
                           ntg_expr **out, ntg_error *err);

/* Evaluate with Python 3 semantics (see docs/graph-format.md).  Errors (NTG_ERR_GRAPH):
 * undefined names (with a suggestion), type errors, division by zero, integer overflow,
 * index out of range, misuse of `batch`. */
ntg_status ntg__expr_eval(const ntg_expr *e, const ntg_expr_env *env, ntg_value *out,
                          ntg_error *err);

/* The text the expression was parsed from. */
const char *ntg__expr_text(const ntg_expr *e);
/* 1 when the expression is one bare identifier (then *name is it). */
int ntg__expr_is_name(const ntg_expr *e, const char **name);

/* [A-Za-z_][A-Za-z0-9_]* */
int ntg__is_ident(const char *s);
/* Words an hparam, argument or loop variable may not be called: batch, true, false,
 * True, False and the function names. */
int ntg__is_reserved(const char *s);
/* [A-Za-z_][A-Za-z0-9_.]* — tensor names and parameter scopes. */
int ntg__is_tensor_name(const char *s);
/* "int", "float", "bool", "str", "list", "batch". */
const char *ntg__vkind_name(ntg_vkind k);

#endif /* NTG_EXPR_H */
