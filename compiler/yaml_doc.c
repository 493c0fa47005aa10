/* yaml_doc.c — libyaml events -> a small tree of scalars, sequences and mappings with locations. */
#include "yaml_doc.h"

#include <string.h>
#include <yaml.h>

#include "ntg_error.h"

/* Deep enough for any graph (a few levels per nested repeat), shallow enough that a hostile
 * file cannot exhaust the C stack through our recursion. */
#define NTG__YAML_MAX_DEPTH 128
/* Mappings up to this size look for duplicate keys by scanning; larger ones use a map. */
#define NTG__YAML_SCAN_KEYS 16

typedef struct yreader {
    yaml_parser_t p;
    const char *text;
    size_t len;
    const char *file;
    ntg_pool *pool;
    ntg_error *err;
    size_t max_ops;     /* op nodes the top-level `nodes:` may hold (0: no limit) */
    size_t top_ops;     /* op nodes seen there so far */
    int want_nodes;     /* the next collection is the value of the root's `nodes` key */
    ntg_ynode *top_seq; /* the root's `nodes:` sequence, once started */
} yreader;

static ntg_status nomem(yreader *r)
{
    return ntg__err(r->err, NTG_ERR_NOMEM, r->file, 0, 0, "out of memory while reading YAML");
}

/* libyaml marks are 0-based; ours are 1-based. */
static ntg_loc mark_loc(const yreader *r, yaml_mark_t m)
{
    ntg_loc l;
    l.file = r->file;
    l.line = (int)m.line + 1;
    l.col = (int)m.column + 1;
    return l;
}

static ntg_status syntax_error(yreader *r)
{
    const yaml_parser_t *p = &r->p;
    if (p->error == YAML_MEMORY_ERROR) return nomem(r);
    const char *problem = p->problem ? p->problem : "malformed document";
    int line = 0, col = 0;
    if (p->error == YAML_READER_ERROR) {
        /* reader errors (bad encoding, control characters) carry a byte offset, not a mark */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < r->len; i++) {
            if (r->text[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)r->text[i] & 0xc0) != 0x80) {
                col++;
            }
        }
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    if (p->context)
        return ntg__err(r->err, NTG_ERR_PARSE, r->file, line, col, "YAML syntax error: %s %s",
                        problem, p->context);
    return ntg__err(r->err, NTG_ERR_PARSE, r->file, line, col, "YAML syntax error: %s", problem);
}

static ntg_status next_event(yreader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->p, ev)) return syntax_error(r);
    return NTG_OK;
}

static int is_ascii(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) return 0;
    return 1;
}

static ntg_status make_scalar(yreader *r, const yaml_event_t *ev, ntg_ynode **out)
{
    size_t n = ev->data.scalar.length;
    const unsigned char *s = ev->data.scalar.value;
    if (n >= UINT32_MAX) return nomem(r); /* the reader refuses files over 64 MiB first */
    /* the text right behind the node: one allocation, no rounding between them */
    ntg_ynode *y = ntg__pool_alloc(r->pool, sizeof *y + n + 1);
    if (!y) return nomem(r);
    memcpy(y->text, s, n);
    y->text[n] = '\0';
    y->kind = NTG_Y_SCALAR;
    y->loc = mark_loc(r, ev->start_mark);
    y->len = (uint32_t)n;
    yaml_scalar_style_t style = ev->data.scalar.style;
    y->plain = style == YAML_PLAIN_SCALAR_STYLE;
    /* The text maps onto columns only when nothing between the marks was folded or
     * unescaped: same line, and the source span is the text (plus two quotes). */
    size_t span = ev->end_mark.index - ev->start_mark.index;
    int one_line = ev->end_mark.line == ev->start_mark.line;
    if (one_line && is_ascii(s, n)) {
        if (y->plain && span == n) {
            y->exact = 1;
            y->text_col = y->loc.col;
        } else if ((style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
                   span == n + 2) {
            y->exact = 1;
            y->text_col = y->loc.col + 1;
        }
    }
    *out = y;
    return NTG_OK;
}

/* Copy a heap vector of node pointers into the pool. */
static ntg_ynode **vec_to_pool(yreader *r, const ntg_vec *v)
{
    if (v->len == 0) return NULL;
    ntg_ynode **a = ntg__pool_array(r->pool, v->len, sizeof *a);
    if (a) memcpy(a, v->data, v->len * sizeof *a);
    return a;
}

static ntg_status parse_node(yreader *r, yaml_event_t *ev, int depth, ntg_ynode **out);

static ntg_status parse_seq(yreader *r, ntg_ynode *y, int depth)
{
    ntg_vec items;
    ntg__vec_init(&items, sizeof(ntg_ynode *));
    ntg_status st = NTG_OK;
    for (;;) {
        yaml_event_t ev;
        if ((st = next_event(r, &ev))) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        ntg_ynode *child = NULL;
        if ((st = parse_node(r, &ev, depth + 1, &child))) break;
        ntg_ynode **slot = ntg__vec_push(&items);
        if (!slot) {
            st = nomem(r);
            break;
        }
        *slot = child;
        /* each op node of the top-level `nodes:` expands to one op: past the limit, the rest
         * of the file need not become a tree first */
        ntg_ynode *op = y == r->top_seq && r->max_ops ? ntg__ynode_get(child, "op", NULL) : NULL;
        if (op && ++r->top_ops > r->max_ops) {
            st = ntg__err(r->err, NTG_ERR_GRAPH, op->loc.file, op->loc.line, op->loc.col,
                          "the graph expands to more than %zu ops, template uses and repeat "
                          "iterations",
                          r->max_ops);
            break;
        }
    }
    if (!st) {
        y->n = (uint32_t)items.len; /* below the file size, 64 MiB */
        y->items = vec_to_pool(r, &items);
        if (items.len && !y->items) st = nomem(r);
    }
    ntg__vec_free(&items);
    return st;
}

/* 1 when `key` is among the first n keys. */
static int key_seen(ntg_ynode *const *keys, size_t n, const ntg_strmap *big, const char *key)
{
    unsigned dummy;
    if (big->cap) return ntg__strmap_get(big, key, &dummy);
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i]->text, key) == 0) return 1;
    return 0;
}

static ntg_status parse_map(yreader *r, ntg_ynode *y, int depth)
{
    ntg_vec keys, vals;
    ntg__vec_init(&keys, sizeof(ntg_ynode *));
    ntg__vec_init(&vals, sizeof(ntg_ynode *));
    ntg_strmap big;
    ntg__strmap_init(&big);
    ntg_status st = NTG_OK;
    for (;;) {
        yaml_event_t ev;
        if ((st = next_event(r, &ev))) break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            ntg_loc l = mark_loc(r, ev.start_mark);
            int alias = ev.type == YAML_ALIAS_EVENT;
            yaml_event_delete(&ev);
            st = ntg__err(r->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                          "mapping keys must be plain names, not %s",
                          alias ? "aliases" : "collections");
            break;
        }
        ntg_ynode *key = NULL;
        st = make_scalar(r, &ev, &key);
        yaml_event_delete(&ev);
        if (st) break;
        if (key_seen(keys.data, keys.len, &big, key->text)) {
            st = ntg__err(r->err, NTG_ERR_GRAPH, key->loc.file, key->loc.line, key->loc.col,
                          "duplicate key '%s'", key->text);
            break;
        }
        ntg_ynode **ks = ntg__vec_push(&keys);
        if (!ks) {
            st = nomem(r);
            break;
        }
        *ks = key;
        if (keys.len == NTG__YAML_SCAN_KEYS + 1) {
            for (size_t i = 0; i < keys.len && !st; i++)
                if (ntg__strmap_put(&big, ((ntg_ynode **)keys.data)[i]->text, 0)) st = nomem(r);
        } else if (big.cap && ntg__strmap_put(&big, key->text, 0)) {
            st = nomem(r);
        }
        if (st) break;
        ntg_ynode *val = NULL;
        if ((st = next_event(r, &ev))) break;
        r->want_nodes = depth == 0 && strcmp(key->text, "nodes") == 0;
        st = parse_node(r, &ev, depth + 1, &val);
        r->want_nodes = 0;
        if (st) break;
        ntg_ynode **vs = ntg__vec_push(&vals);
        if (!vs) {
            st = nomem(r);
            break;
        }
        *vs = val;
    }
    if (!st) {
        y->n = (uint32_t)keys.len;
        y->keys = vec_to_pool(r, &keys);
        y->items = vec_to_pool(r, &vals);
        if (keys.len && (!y->keys || !y->items)) st = nomem(r);
    }
    ntg__strmap_free(&big);
    ntg__vec_free(&keys);
    ntg__vec_free(&vals);
    return st;
}

/* Builds the node that starts with *ev and deletes *ev. */
static ntg_status parse_node(yreader *r, yaml_event_t *ev, int depth, ntg_ynode **out)
{
    ntg_loc l = mark_loc(r, ev->start_mark);
    yaml_event_type_t type = ev->type;
    if (type == YAML_SCALAR_EVENT) {
        ntg_status st = make_scalar(r, ev, out);
        yaml_event_delete(ev);
        return st;
    }
    yaml_event_delete(ev);
    if (type == YAML_ALIAS_EVENT)
        return ntg__err(r->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                        "YAML aliases (*name) are not supported; write the value out");
    if (type != YAML_SEQUENCE_START_EVENT && type != YAML_MAPPING_START_EVENT)
        return ntg__err(r->err, NTG_ERR_INTERNAL, l.file, l.line, l.col, "unexpected YAML event %d",
                        (int)type);
    if (depth > NTG__YAML_MAX_DEPTH)
        return ntg__err(r->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                        "YAML nested more than %d levels deep", NTG__YAML_MAX_DEPTH);
    /* one byte more: a collection's text is "" */
    ntg_ynode *y = ntg__pool_alloc(r->pool, sizeof *y + 1);
    if (!y) return nomem(r);
    y->loc = l;
    if (type == YAML_SEQUENCE_START_EVENT) {
        y->kind = NTG_Y_SEQ;
        *out = y;
        if (r->want_nodes) r->top_seq = y;
        r->want_nodes = 0;
        return parse_seq(r, y, depth);
    }
    r->want_nodes = 0;
    y->kind = NTG_Y_MAP;
    *out = y;
    return parse_map(r, y, depth);
}

static ntg_status parse_stream(yreader *r, ntg_ynode **root)
{
    yaml_event_t ev;
    ntg_status st = next_event(r, &ev); /* STREAM_START */
    if (st) return st;
    yaml_event_delete(&ev);
    if ((st = next_event(r, &ev))) return st;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return NTG_OK;
    }
    yaml_event_delete(&ev); /* DOCUMENT_START */
    if ((st = next_event(r, &ev))) return st;
    if ((st = parse_node(r, &ev, 0, root))) return st;
    if ((st = next_event(r, &ev))) return st; /* DOCUMENT_END */
    yaml_event_delete(&ev);
    if ((st = next_event(r, &ev))) return st;
    if (ev.type != YAML_STREAM_END_EVENT) {
        ntg_loc l = mark_loc(r, ev.start_mark);
        yaml_event_delete(&ev);
        return ntg__err(r->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                        "a graph file holds one YAML document; found a second one");
    }
    yaml_event_delete(&ev);
    return NTG_OK;
}

ntg_status ntg__ydoc_parse(const char *text, size_t len, const char *file, ntg_pool *pool,
                           ntg_ynode **root, ntg_error *err)
{
    return ntg__ydoc_parse_limited(text, len, file, pool, 0, root, err);
}

ntg_status ntg__ydoc_parse_limited(const char *text, size_t len, const char *file, ntg_pool *pool,
                                   size_t max_ops, ntg_ynode **root, ntg_error *err)
{
    yreader r;
    memset(&r, 0, sizeof r);
    r.max_ops = max_ops;
    r.text = text;
    r.len = len;
    r.file = file;
    r.pool = pool;
    r.err = err;
    *root = NULL;
    if (!yaml_parser_initialize(&r.p)) return nomem(&r);
    yaml_parser_set_input_string(&r.p, (const unsigned char *)text, len);
    ntg_status st = parse_stream(&r, root);
    yaml_parser_delete(&r.p);
    if (st) *root = NULL;
    return st;
}

int ntg__ynode_is_null(const ntg_ynode *y)
{
    if (!y) return 1;
    if (y->kind != NTG_Y_SCALAR || !y->plain) return 0;
    const char *t = y->text;
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

ntg_ynode *ntg__ynode_get(const ntg_ynode *map, const char *key, ntg_ynode **key_node)
{
    if (key_node) *key_node = NULL;
    if (!map || map->kind != NTG_Y_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->text, key) == 0) {
            if (key_node) *key_node = map->keys[i];
            return map->items[i];
        }
    }
    return NULL;
}

const char *ntg__ynode_what(const ntg_ynode *y)
{
    if (!y || ntg__ynode_is_null(y)) return "nothing";
    switch (y->kind) {
    case NTG_Y_SCALAR:
        return "a scalar";
    case NTG_Y_SEQ:
        return "a sequence";
    case NTG_Y_MAP:
        return "a mapping";
    }
    return "nothing";
}
