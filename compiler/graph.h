/* graph.h — the front end's output: a graph file read, hparams evaluated, templates expanded. */
#ifndef NTG_GRAPH_H
#define NTG_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"
#include "ops.h"
#include "pool.h"

/* A place in a graph file (1-based line and column; file is pool-owned). */
typedef struct ntg_loc {
    const char *file;
    int line, col;
} ntg_loc;

/* Values of the expression language. */
typedef enum ntg_vkind {
    NTG_V_INT = 0,
    NTG_V_FLOAT = 1,
    NTG_V_BOOL = 2,
    NTG_V_STR = 3, /* a quoted string, or a bare word where a word is expected */
    NTG_V_LIST = 4,
    NTG_V_BATCH = 5 /* the symbolic batch extent (`batch`) */
} ntg_vkind;

typedef struct ntg_value {
    ntg_vkind kind;
    int64_t i;               /* INT, BOOL */
    double f;                /* FLOAT */
    const char *s;           /* STR */
    struct ntg_value *items; /* LIST */
    size_t n;                /* LIST length */
} ntg_value;

/* Canonical text of a value ("96", "0.5", "[2, 2, 1]", "batch"), pool-allocated. */
const char *ntg__value_str(ntg_pool *pool, const ntg_value *v);

/* One op node after template expansion.  Tensor names are fully qualified:
 * template locals are prefixed with their instance ("blocks.0/p"). */
typedef struct ntg_rnode {
    /* pointers first, then the counts: 104 bytes instead of 120 (a million of them) */
    const char **in; /* data inputs, as written (params are added later) */
    ntg_loc *in_loc; /* where each input name was written */
    const char **out;
    ntg_loc *out_loc;
    ntg_attr *attr;    /* slots per the op's schema (defaults filled), lists appended */
    const char *scope; /* parameter scope: "blocks.0.layers.1" */
    /* leaf-name overrides from `params: {weight: in_proj_weight}` (NULL when none) */
    const char **param_leaf; /* the op's leaf names ("weight") */
    const char **param_name; /* replacement leaf ("in_proj_weight") */
    ntg_loc loc;             /* the node's `op:` key */
    int code;                /* ntg_op_code */
    int n_in;
    int n_out;
    uint32_t n_attr;
    int n_param_names;
} ntg_rnode;

/* A declared graph input or output. */
typedef struct ntg_rio {
    const char *name;
    ntg_tdesc desc; /* for outputs: desc.rank == 0 with has_shape 0 when not declared */
    int has_shape;
    ntg_loc loc;
} ntg_rio;

/* A key of the `train:` section, evaluated (bare words become strings). */
typedef struct ntg_rkv {
    const char *key;
    ntg_value value;
    ntg_loc loc;
} ntg_rkv;

typedef struct ntg_rgraph {
    ntg_pool *pool;     /* owns everything below */
    const char *file;   /* path as given */
    int format_version; /* `ntgraph:` */
    const char *name;   /* `name:` */
    const char *kind;   /* `kind:` (default: name) */
    const char *description;

    ntg_rkv *hparams; /* final values, in declaration order (after -D) */
    size_t n_hparams;

    ntg_rio *inputs;
    size_t n_inputs;
    ntg_rio *outputs;
    size_t n_outputs;
    /* inputs declared with a 0 extent (after `batch`): not taken by the graph; named by
     * the middle end when a node reads one */
    ntg_rio *dropped;
    size_t n_dropped;

    ntg_rnode *nodes; /* in file order after expansion */
    size_t n_nodes;

    ntg_rkv *train; /* the `train:` section, if any */
    size_t n_train;
    ntg_loc train_loc;
} ntg_rgraph;

/* Read a graph file (following `extends:`), apply the -D overrides, evaluate
 * hparams and attributes, expand templates and repeats.  The result lives in
 * `pool`.  Errors name file:line:col: NTG_ERR_IO, NTG_ERR_PARSE (YAML or
 * expression syntax), NTG_ERR_GRAPH (unknown op/attribute/hparam/template,
 * missing required attribute, wrong types). */
ntg_status ntg__graph_read_file(const char *path, const ntg_define *defs, size_t n_defs,
                                ntg_pool *pool, ntg_rgraph **out, ntg_error *err);
/* The same from memory; `name` names the text in errors and anchors `extends:`. */
ntg_status ntg__graph_read_string(const char *text, size_t len, const char *name,
                                  const ntg_define *defs, size_t n_defs, ntg_pool *pool,
                                  ntg_rgraph **out, ntg_error *err);

/* Evaluate expression `text` with the graph's final hparams in scope (used for the
 * train section and CLI values).  `loc` anchors error messages. */
ntg_status ntg__graph_eval(const ntg_rgraph *g, const char *text, ntg_loc loc, ntg_value *out,
                           ntg_error *err);

#endif /* NTG_GRAPH_H */
