/* yaml_doc.h — a YAML document as a small tree whose every node keeps its 1-based line:column. */
#ifndef NTG_YAML_DOC_H
#define NTG_YAML_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "ntgraph.h"
#include "pool.h"

typedef enum ntg_ykind { NTG_Y_SCALAR = 1, NTG_Y_SEQ = 2, NTG_Y_MAP = 3 } ntg_ykind;

typedef struct ntg_ynode ntg_ynode;
struct ntg_ynode {
    /* Laid out so a node is 48 bytes plus a scalar's text (it was 72 plus a pointer to the
     * text): a graph of a million ops holds about seven million of them while it is read. */
    ntg_loc loc; /* where the node starts (a quoted scalar: its opening quote) */
    union {
        /* SEQ: items[0..n); MAP: keys[i] (scalars) -> items[i], in file order, keys unique */
        struct {
            ntg_ynode **items;
            ntg_ynode **keys;
        };
        /* SCALAR: scratch for the reader of the tree (a parsed expression, a parsed name),
         * so that a scalar in a template body is parsed once however often it is expanded */
        struct {
            void *expr_cache;
            void *name_cache;
        };
    };
    uint32_t len; /* scalars: below the 64 MiB a graph file may have */
    uint32_t n;   /* SEQ, MAP: the items; 0 for a scalar */
    /* when exact: character k of text sits at column text_col + k of loc.line */
    int32_t text_col;
    uint8_t kind;  /* ntg_ykind */
    uint8_t plain; /* written without quotes or block style (`~` and `null` mean null) */
    /* 1 for a scalar on one line without escapes, so messages can point inside it */
    uint8_t exact;
    /* SCALAR: its text, NUL-terminated, len bytes (libyaml refuses NUL in input); right
     * behind the node, in the same allocation.  Empty for a collection. */
    char text[];
};

/* Parse `len` bytes of YAML text into a tree allocated in `pool`; locations name `file`
 * (which must outlive the tree).  A text with no document gives *root = NULL.  Errors:
 * NTG_ERR_PARSE "YAML syntax error: ..." at libyaml's problem mark, NTG_ERR_GRAPH for
 * duplicate keys, aliases, non-scalar keys and a second document, NTG_ERR_NOMEM. */
ntg_status ntg__ydoc_parse(const char *text, size_t len, const char *file, ntg_pool *pool,
                           ntg_ynode **root, ntg_error *err);
/* The same, refusing (NTG_ERR_GRAPH, at the op) a document whose top-level `nodes:` holds more
 * than max_ops op nodes (entries with an `op` key), each of which expands to one op: the
 * limit of the reader is so enforced before the rest of the tree is built.  0: no limit. */
ntg_status ntg__ydoc_parse_limited(const char *text, size_t len, const char *file, ntg_pool *pool,
                                   size_t max_ops, ntg_ynode **root, ntg_error *err);

/* 1 for a plain scalar `~`, `null`, `Null`, `NULL` or empty (YAML's null), and for NULL
 * (an absent key). */
int ntg__ynode_is_null(const ntg_ynode *y);
/* The value of key `key` in mapping `map`, or NULL; *key_node gets the key (may be NULL). */
ntg_ynode *ntg__ynode_get(const ntg_ynode *map, const char *key, ntg_ynode **key_node);
/* "a scalar", "a sequence", "a mapping" or "null", for messages. */
const char *ntg__ynode_what(const ntg_ynode *y);

#endif /* NTG_YAML_DOC_H */
