/* train_cfg.h — training settings from a graph's `train:` section and their overrides. */
#ifndef NTG_TRAIN_CFG_H
#define NTG_TRAIN_CFG_H

#include "graph.h"

typedef enum ntg_train_kind {
    NTG_TK_WORD = 0,
    NTG_TK_NUMBER = 1,
    NTG_TK_INT = 2,
    NTG_TK_BOOL = 3,
    NTG_TK_NUMBERS = 4,
    NTG_TK_NAMES = 5 /* a string or a list of strings, stored comma-joined */
} ntg_train_kind;

typedef struct ntg_train_key {
    const char *name;
    ntg_train_kind kind;
    const char *def; /* default, as an expression */
    const char *doc;
} ntg_train_key;

#define NTG_TRAIN_MAX_KEYS 48

typedef struct ntg_train_cfg {
    ntg_value values[NTG_TRAIN_MAX_KEYS]; /* one per known key, final (default < graph < -T) */
    ntg_loc where[NTG_TRAIN_MAX_KEYS];    /* where each value came from */
    /* what the compiler builds from them */
    int loss_code; /* NTG_OP_loss_* */
    double huber_delta;
    double quantiles[64];
    int n_quantiles;
    int quantile_axis;
    double class_threshold; /* xent: 0 (2 classes) or the dead band of 3 */
    int optimizer;          /* NTG_OP_adam or NTG_OP_sgd */
    int decoupled;          /* AdamW */
    double beta1, beta2, eps, weight_decay, momentum, dampening, clip;
    int nesterov, masked;
    const char *target; /* NULL: the first output */
} ntg_train_cfg;

/* The known keys (name, kind, default, doc), in a fixed order. */
const ntg_train_key *ntg__train_keys(size_t *n);
/* Defaults, then the graph's `train:` section, then `over` (name = key, value = an
 * expression; bare words are words).  Unknown keys and bad values are errors that point
 * at the train section (or name the override). */
ntg_status ntg__train_cfg_resolve(const ntg_rgraph *g, const ntg_define *over, size_t n_over,
                                  ntg_train_cfg *cfg, ntg_error *err);
/* The final value of `key`, or NULL. */
const ntg_value *ntg__train_cfg_get(const ntg_train_cfg *cfg, const char *key);

#endif /* NTG_TRAIN_CFG_H */
