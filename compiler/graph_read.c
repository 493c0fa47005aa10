/* graph_read.c — the front end: graph file text -> ntg_rgraph (extends, -D, hparams, templates). */
/* realpath (XSI), to recognise a file that `extends` itself under another name */
#define _XOPEN_SOURCE 700

#include "graph.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "fileio.h"
#include "ntg_error.h"
#include "plan_format.h"
#include "strbuf.h"
#include "yaml_doc.h"

/* A base of a base of ... this deep is a mistake, not a design. */
#define NTG__MAX_EXTENDS 32
/* Templates may recurse (a `repeat: 0` ends it), so only the depth is bounded. */
#define NTG__MAX_TEMPLATE_DEPTH 32
/* Op nodes plus repeat iterations: keeps a typo (`repeat: 10 ** 9`) from hanging the compiler. */
#define NTG__MAX_EXPANSION 1000000
#define NTG__MAX_GRAPH_BYTES ((size_t)64 << 20)
/* Longest canonical text of a value (metadata, names). */
#define NTG__MAX_TEXT ((size_t)64 << 20)

#define CMDLINE "<command line>"

/* ------------------------------------------------------------ text output */

/* Python's repr of a float: the shortest text that reads back as the same double. */
static void fmt_float(double x, char *buf, size_t cap)
{
    if (isnan(x)) {
        ntg__strfmt(buf, cap, "nan");
        return;
    }
    if (isinf(x)) {
        ntg__strfmt(buf, cap, "%s", x > 0 ? "inf" : "-inf");
        return;
    }
    char tmp[48];
    int p;
    for (p = 1; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
    const char *e = strchr(tmp, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = p - 1 - exp10;
        snprintf(buf, cap, "%.*f", decimals < 1 ? 1 : decimals, x);
    } else {
        snprintf(buf, cap, "%s", tmp);
    }
}

static void put_value(ntg_strbuf *b, const ntg_value *v, int quote)
{
    char num[48];
    switch (v->kind) {
    case NTG_V_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        ntg__sb_puts(b, num);
        return;
    case NTG_V_FLOAT:
        fmt_float(v->f, num, sizeof num);
        ntg__sb_puts(b, num);
        return;
    case NTG_V_BOOL:
        ntg__sb_puts(b, v->i ? "true" : "false");
        return;
    case NTG_V_BATCH:
        ntg__sb_puts(b, "batch");
        return;
    case NTG_V_STR:
        if (!quote) {
            ntg__sb_puts(b, v->s);
            return;
        }
        /* inside a list a string is quoted, so the text parses back as the same list */
        ntg__sb_puts(b, "'");
        for (const char *s = v->s; *s; s++) {
            if (*s == '\'' || *s == '\\') ntg__sb_put(b, "\\", 1);
            ntg__sb_put(b, s, 1);
        }
        ntg__sb_puts(b, "'");
        return;
    case NTG_V_LIST:
        ntg__sb_puts(b, "[");
        for (size_t k = 0; k < v->n; k++) {
            if (k) ntg__sb_puts(b, ", ");
            put_value(b, &v->items[k], 1);
        }
        ntg__sb_puts(b, "]");
        return;
    }
}

const char *ntg__value_str(ntg_pool *pool, const ntg_value *v)
{
    ntg_strbuf b = {.limit = NTG__MAX_TEXT};
    put_value(&b, v, 0);
    const char *r = b.oom ? NULL : ntg__pool_strdup(pool, b.p ? b.p : "");
    free(b.p);
    return r;
}

/* A value as a message shows it: strings quoted. */
static const char *got_str(ntg_pool *pool, const ntg_value *v)
{
    ntg_strbuf b = {.limit = NTG__MAX_TEXT};
    put_value(&b, v, 1);
    const char *r = b.oom ? NULL : ntg__pool_strdup(pool, b.p ? b.p : "");
    free(b.p);
    return r ? r : "?";
}

/* ---------------------------------------------------------------- reader */

typedef struct hparam {
    const char *name;
    ntg_loc loc;     /* its key, in the file that gave its value */
    ntg_ynode *y;    /* YAML value; NULL once a -D replaced it */
    ntg_expr *dexpr; /* the -D expression */
    const char *dtext;
    int state; /* 0 not yet evaluated, 1 being evaluated, 2 done */
    ntg_value v;
} hparam;

typedef struct targ {
    const char *name;
    ntg_ynode *def; /* default expression, NULL when required */
} targ;

typedef struct tnames {
    const char **name;
    size_t n;
} tnames;

typedef struct tpl {
    const char *name;
    ntg_loc loc;
    ntg_ynode *y;
    targ *args;
    size_t n_args;
    tnames inputs, outputs;
    ntg_ynode *let;   /* mapping or NULL */
    ntg_ynode *nodes; /* sequence or NULL */
} tpl;

typedef struct trkv {
    const char *key;
    ntg_loc loc;
    ntg_ynode *y;
} trkv;

typedef struct chain_ent {
    const char *canon; /* realpath, or the path when there is none */
    const char *shown;
} chain_ent;

typedef struct reader {
    ntg_pool *pool; /* the result */
    ntg_pool *tmp;  /* YAML trees, parsed expressions */
    ntg_error *err;
    /* the merged document */
    const char *name, *kind, *description;
    ntg_vec hparams; /* hparam */
    ntg_strmap hp_index;
    ntg_vec templates; /* tpl */
    ntg_vec train;     /* trkv */
    int has_train;
    ntg_loc train_loc;
    ntg_ynode *inputs, *outputs, *nodes;
    ntg_loc top_loc;
    ntg_vec hp_chain; /* size_t: hparams being evaluated, for the cycle message */
    ntg_vec files;    /* chain_ent: the extends chain being read */
    /* expansion */
    ntg_vec out_nodes; /* ntg_rnode */
    ntg_strmap instances;
    size_t work;
} reader;

static ntg_status gerr(reader *r, ntg_status st, ntg_loc l, const char *fmt, ...) NTG_PRINTF(4, 5);

static ntg_status gerr(reader *r, ntg_status st, ntg_loc l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(r->err, st, l.file, l.line, l.col, fmt, ap);
    va_end(ap);
    return st;
}

static ntg_status nomem(reader *r)
{
    return ntg__fail(r->err, NTG_ERR_NOMEM, "out of memory while reading a graph");
}

static hparam *hp_at(const reader *r, size_t i)
{
    return ntg__vec_at(&r->hparams, i);
}

static tpl *tpl_at(const reader *r, size_t i)
{
    return ntg__vec_at(&r->templates, i);
}

static tpl *tpl_find(const reader *r, const char *name)
{
    for (size_t i = 0; i < r->templates.len; i++)
        if (strcmp(tpl_at(r, i)->name, name) == 0) return tpl_at(r, i);
    return NULL;
}

/* A string that must outlive the YAML tree. */
static const char *keep(reader *r, const char *s)
{
    return ntg__pool_strdup(r->pool, s);
}

/* "; did you mean 'x'?" against a fixed list. */
static const char *hint_among(const char *name, const char *const *cands, size_t n, char *buf,
                              size_t cap)
{
    ntg_nearest near;
    ntg__nearest_init(&near, name);
    for (size_t i = 0; i < n; i++) ntg__nearest_try(&near, cands[i]);
    return ntg__nearest_hint(&near, buf, cap);
}

static ntg_status unknown_key(reader *r, const ntg_ynode *key, const char *where,
                              const char *const *known, size_t n)
{
    char hint[96];
    return gerr(r, NTG_ERR_GRAPH, key->loc, "unknown key '%s' %s%s", key->text, where,
                hint_among(key->text, known, n, hint, sizeof hint));
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A scalar holding a string (a header value, a name): not null, not a collection. */
static ntg_status want_scalar(reader *r, const ntg_ynode *y, const char *what)
{
    if (y->kind != NTG_Y_SCALAR || ntg__ynode_is_null(y))
        return gerr(r, NTG_ERR_GRAPH, y->loc, "%s must be a string, not %s", what,
                    ntg__ynode_what(y));
    return NTG_OK;
}

static ntg_status want_map(reader *r, const ntg_ynode *y, const char *what)
{
    if (y->kind != NTG_Y_MAP)
        return gerr(r, NTG_ERR_GRAPH, y->loc, "%s must be a mapping, not %s", what,
                    ntg__ynode_what(y));
    return NTG_OK;
}

/* ------------------------------------------------------------ expressions */

typedef struct frame {
    const struct frame *up;
    const char **names;
    ntg_value *vals;
    size_t n;
} frame;

typedef struct scope {
    reader *r;
    const frame *f;
} scope;

static ntg_status eval_y(reader *r, const frame *f, ntg_ynode *y, int bare, const char *what,
                         ntg_value *out);

static ntg_status get_expr(reader *r, ntg_ynode *y, ntg_expr **out)
{
    if (y->expr_cache) {
        *out = y->expr_cache;
        return NTG_OK;
    }
    ntg_loc l = y->loc;
    if (y->exact) l.col = y->text_col;
    ntg_status st = ntg__expr_parse(r->tmp, y->text, y->len, l, y->exact, out, r->err);
    if (!st) y->expr_cache = *out;
    return st;
}

static ntg_status hp_eval(reader *r, size_t idx, ntg_loc at);

static ntg_status scope_lookup(void *user, const char *name, ntg_loc at, ntg_value *out,
                               ntg_error *err)
{
    const scope *s = user;
    (void)err; /* hp_eval reports through the reader, whose error this is */
    for (const frame *f = s->f; f; f = f->up)
        for (size_t k = f->n; k-- > 0;)
            if (strcmp(f->names[k], name) == 0) {
                *out = f->vals[k];
                return NTG_OK;
            }
    unsigned idx;
    if (!ntg__strmap_get(&s->r->hp_index, name, &idx)) return NTG_ERR_NOT_FOUND;
    ntg_status st = hp_eval(s->r, idx, at);
    if (!st) *out = hp_at(s->r, idx)->v;
    return st;
}

static void scope_names(void *user, ntg_nearest *near)
{
    const scope *s = user;
    for (const frame *f = s->f; f; f = f->up)
        for (size_t k = 0; k < f->n; k++) ntg__nearest_try(near, f->names[k]);
    for (size_t i = 0; i < s->r->hparams.len; i++) ntg__nearest_try(near, hp_at(s->r, i)->name);
}

static ntg_status eval_expr(reader *r, const frame *f, const ntg_expr *e, int bare, ntg_value *out)
{
    scope s = {r, f};
    ntg_expr_env env = {scope_lookup, scope_names, &s, r->pool, bare};
    return ntg__expr_eval(e, &env, out, r->err);
}

/* A YAML value: a scalar is an expression, a sequence a list (of expressions or lists). */
static ntg_status eval_y(reader *r, const frame *f, ntg_ynode *y, int bare, const char *what,
                         ntg_value *out)
{
    ntg_status st;
    memset(out, 0, sizeof *out);
    if (ntg__ynode_is_null(y)) return gerr(r, NTG_ERR_GRAPH, y->loc, "%s has no value", what);
    if (y->kind == NTG_Y_MAP)
        return gerr(r, NTG_ERR_GRAPH, y->loc, "%s must be an expression or a list, not a mapping",
                    what);
    if (y->kind == NTG_Y_SCALAR) {
        ntg_expr *e;
        if ((st = get_expr(r, y, &e))) return st;
        return eval_expr(r, f, e, bare, out);
    }
    ntg_value *items = y->n ? ntg__pool_array(r->pool, y->n, sizeof *items) : NULL;
    if (y->n && !items) return nomem(r);
    for (size_t k = 0; k < y->n; k++)
        if ((st = eval_y(r, f, y->items[k], bare, what, &items[k]))) return st;
    out->kind = NTG_V_LIST;
    out->items = items;
    out->n = y->n;
    return NTG_OK;
}

/* Messages about a -D value are about the command line, and say which -D (once: the
 * innermost -D is the one whose text is wrong). */
static void wrap_define(reader *r, const char *name, const char *value)
{
    ntg_error *err = r->err;
    static const char pre[] = CMDLINE ": ";
    if (!err || strcmp(err->file, CMDLINE) != 0) return;
    if (strncmp(err->message, CMDLINE ": -D ", sizeof pre + 2) == 0) return;
    char body[sizeof err->message];
    const char *m = err->message;
    if (strncmp(m, pre, sizeof pre - 1) == 0) m += sizeof pre - 1;
    ntg__strfmt(body, sizeof body, "%s", m);
    ntg__err(err, err->status, CMDLINE, 0, 0, "-D %s=%s: %s", name, value, body);
}

static ntg_status hp_eval(reader *r, size_t idx, ntg_loc at)
{
    hparam *h = hp_at(r, idx);
    if (h->state == 2) return NTG_OK;
    if (h->state == 1) {
        ntg_strbuf b = {.limit = NTG__MAX_TEXT};
        ntg__sb_puts(&b, "hparam cycle: ");
        size_t start = 0;
        for (size_t k = 0; k < r->hp_chain.len; k++)
            if (*(size_t *)ntg__vec_at(&r->hp_chain, k) == idx) start = k;
        for (size_t k = start; k < r->hp_chain.len; k++) {
            ntg__sb_puts(&b, hp_at(r, *(size_t *)ntg__vec_at(&r->hp_chain, k))->name);
            ntg__sb_puts(&b, " -> ");
        }
        ntg__sb_puts(&b, h->name);
        ntg_status st = b.oom ? nomem(r) : gerr(r, NTG_ERR_GRAPH, at, "%s", b.p);
        free(b.p);
        return st;
    }
    size_t *slot = ntg__vec_push(&r->hp_chain);
    if (!slot) return nomem(r);
    *slot = idx;
    h->state = 1;
    ntg_value v;
    ntg_status st;
    if (h->dexpr) {
        st = eval_expr(r, NULL, h->dexpr, 0, &v);
        if (st) wrap_define(r, h->name, h->dtext);
    } else {
        char what[160];
        st = eval_y(r, NULL, h->y, 0, ntg__strfmt(what, sizeof what, "hparam '%s'", h->name), &v);
    }
    r->hp_chain.len--;
    h = hp_at(r, idx);
    if (st) {
        h->state = 0;
        return st;
    }
    h->v = v;
    h->state = 2;
    return NTG_OK;
}

/* ----------------------------------------------------------- names, {expr} */

typedef struct iseg {
    const char *lit; /* literal text before the expression */
    ntg_expr *e;     /* NULL for the tail */
} iseg;

typedef struct iname {
    iseg *seg;
    size_t n;
} iname;

static ntg_status parse_iname(reader *r, ntg_ynode *y, iname **out)
{
    if (y->name_cache) {
        *out = y->name_cache;
        return NTG_OK;
    }
    size_t nseg = 1;
    for (size_t i = 0; i < y->len; i++) nseg += y->text[i] == '{';
    iname *in = ntg__pool_alloc(r->tmp, sizeof *in);
    iseg *seg = in ? ntg__pool_array(r->tmp, nseg, sizeof *seg) : NULL;
    if (!seg) return nomem(r);
    in->seg = seg;
    size_t i = 0, lit0 = 0, k = 0;
    while (i <= y->len) {
        char c = i < y->len ? y->text[i] : '\0';
        if (c == '}') return gerr(r, NTG_ERR_PARSE, y->loc, "unmatched '}' in name '%s'", y->text);
        if (c != '{' && i < y->len) {
            i++;
            continue;
        }
        seg[k].lit = ntg__pool_strndup(r->tmp, y->text + lit0, i - lit0);
        if (!seg[k].lit) return nomem(r);
        if (i == y->len) {
            k++;
            break;
        }
        const char *close = memchr(y->text + i, '}', y->len - i);
        if (!close) return gerr(r, NTG_ERR_PARSE, y->loc, "unclosed '{' in name '%s'", y->text);
        size_t e0 = i + 1, e1 = (size_t)(close - y->text);
        ntg_loc l = y->loc;
        if (y->exact) l.col = y->text_col + (int)e0;
        ntg_status st =
            ntg__expr_parse(r->tmp, y->text + e0, e1 - e0, l, y->exact, &seg[k].e, r->err);
        if (st) return st;
        k++;
        i = e1 + 1;
        lit0 = i;
    }
    in->n = k;
    y->name_cache = in;
    *out = in;
    return NTG_OK;
}

/* The name written in scalar `y` with its {expr} parts replaced; `what` names it in messages
 * ("tensor name"); checked against [A-Za-z_][A-Za-z0-9_.]*. */
static ntg_status interp(reader *r, const frame *f, ntg_ynode *y, const char *what,
                         const char **out)
{
    if (y->kind != NTG_Y_SCALAR || ntg__ynode_is_null(y))
        return gerr(r, NTG_ERR_GRAPH, y->loc, "expected a %s, found %s", what, ntg__ynode_what(y));
    iname *in = NULL;
    ntg_status st = parse_iname(r, y, &in);
    if (st) return st;
    ntg_strbuf b = {.limit = NTG__MAX_TEXT};
    for (size_t k = 0; k < in->n && !st; k++) {
        ntg__sb_puts(&b, in->seg[k].lit);
        if (!in->seg[k].e) continue;
        ntg_value v;
        st = eval_expr(r, f, in->seg[k].e, 0, &v);
        if (!st) put_value(&b, &v, 0);
    }
    if (!st && b.oom) st = nomem(r);
    if (!st) {
        const char *s = b.p ? b.p : "";
        if (!ntg__is_tensor_name(s))
            st = gerr(r, NTG_ERR_GRAPH, y->loc,
                      "bad %s '%s': a name is a letter or '_' followed by letters, digits, '_' "
                      "and '.'",
                      what, s);
        else if (!(*out = ntg__pool_strdup(r->pool, s)))
            st = nomem(r);
    }
    free(b.p);
    return st;
}

/* ----------------------------------------------------------- the document */

static const char *const top_keys[] = {"ntgraph",   "name",    "kind",   "description",
                                       "extends",   "hparams", "inputs", "outputs",
                                       "templates", "nodes",   "train"};

static ntg_status check_var_name(reader *r, const ntg_ynode *key, const char *what)
{
    if (!ntg__is_ident(key->text))
        return gerr(r, NTG_ERR_GRAPH, key->loc,
                    "bad %s name '%s': a name is a letter or '_' followed by letters, digits "
                    "and '_'",
                    what, key->text);
    if (ntg__is_reserved(key->text))
        return gerr(r, NTG_ERR_GRAPH, key->loc, "%s name '%s' is reserved", what, key->text);
    return NTG_OK;
}

static ntg_status merge_hparams(reader *r, ntg_ynode *y)
{
    if (ntg__ynode_is_null(y)) return NTG_OK;
    ntg_status st = want_map(r, y, "'hparams'");
    if (st) return st;
    for (size_t i = 0; i < y->n; i++) {
        ntg_ynode *key = y->keys[i], *val = y->items[i];
        if ((st = check_var_name(r, key, "hparam"))) return st;
        if (val->kind == NTG_Y_MAP || ntg__ynode_is_null(val))
            return gerr(r, NTG_ERR_GRAPH, val->loc,
                        "hparam '%s' must be an expression or a list, not %s", key->text,
                        ntg__ynode_what(val));
        unsigned idx;
        hparam *h;
        if (ntg__strmap_get(&r->hp_index, key->text, &idx)) {
            h = hp_at(r, idx);
        } else {
            h = ntg__vec_push(&r->hparams);
            if (!h || !(h->name = keep(r, key->text))) return nomem(r);
            if (ntg__strmap_put(&r->hp_index, h->name, (unsigned)(r->hparams.len - 1)))
                return nomem(r);
        }
        h->loc = key->loc;
        h->y = val;
    }
    return NTG_OK;
}

static ntg_status merge_templates(reader *r, ntg_ynode *y)
{
    if (ntg__ynode_is_null(y)) return NTG_OK;
    ntg_status st = want_map(r, y, "'templates'");
    if (st) return st;
    for (size_t i = 0; i < y->n; i++) {
        ntg_ynode *key = y->keys[i];
        if ((st = check_var_name(r, key, "template"))) return st;
        tpl *t = tpl_find(r, key->text);
        if (!t) {
            t = ntg__vec_push(&r->templates);
            if (!t || !(t->name = keep(r, key->text))) return nomem(r);
        }
        t->loc = key->loc;
        t->y = y->items[i];
    }
    return NTG_OK;
}

static ntg_status merge_train(reader *r, ntg_ynode *tkey, ntg_ynode *y)
{
    r->has_train = 1;
    r->train_loc = tkey->loc;
    if (ntg__ynode_is_null(y)) return NTG_OK;
    ntg_status st = want_map(r, y, "'train'");
    if (st) return st;
    for (size_t i = 0; i < y->n; i++) {
        trkv *kv = NULL;
        for (size_t k = 0; k < r->train.len; k++) {
            trkv *c = ntg__vec_at(&r->train, k);
            if (strcmp(c->key, y->keys[i]->text) == 0) kv = c;
        }
        if (!kv) {
            kv = ntg__vec_push(&r->train);
            if (!kv || !(kv->key = keep(r, y->keys[i]->text))) return nomem(r);
        }
        kv->loc = y->keys[i]->loc;
        kv->y = y->items[i];
    }
    return NTG_OK;
}

static ntg_status read_text(reader *r, const char *path, const ntg_loc *from, char **text,
                            size_t *len)
{
    int e = 0;
    ntg_file_fail f = ntg__file_slurp(path, NTG__MAX_GRAPH_BYTES, text, len, &e);
    if (f == NTG_FILE_OK) return NTG_OK;
    if (f == NTG_FILE_NOMEM) return nomem(r);
    char why[128];
    if (f == NTG_FILE_TOO_BIG)
        ntg__strfmt(why, sizeof why, "the file is larger than %zu MiB, the limit for a graph",
                    NTG__MAX_GRAPH_BYTES >> 20);
    else if (e == EISDIR)
        ntg__strfmt(why, sizeof why, "is a directory, not a graph file");
    else
        ntg__errno_str(e, why, sizeof why);
    ntg_status st;
    if (from)
        st = gerr(r, NTG_ERR_IO, *from, "cannot read '%s' (extends): %s", path, why);
    else
        st = ntg__err(r->err, NTG_ERR_IO, path, 0, 0, "cannot read graph file: %s", why);
    if (r->err) r->err->os_errno = f == NTG_FILE_TOO_BIG ? 0 : e; /* a limit, not the machine */
    return st;
}

static const char *resolve_rel(reader *r, const char *from_file, const char *rel)
{
    const char *slash = strrchr(from_file, '/');
    if (rel[0] == '/' || !slash) return ntg__pool_strdup(r->pool, rel);
    return ntg__pool_fmt(r->pool, "%.*s/%s", (int)(slash - from_file), from_file, rel);
}

static ntg_status load_doc(reader *r, const char *path, const char *text, size_t len,
                           const ntg_loc *from, int depth);

static ntg_status load_root(reader *r, const char *file, ntg_ynode *root, int depth)
{
    ntg_status st;
    if (!root)
        return ntg__err(r->err, NTG_ERR_GRAPH, file, 0, 0,
                        "empty graph file (expected a mapping that starts with 'ntgraph: 1')");
    if (root->kind != NTG_Y_MAP)
        return gerr(r, NTG_ERR_GRAPH, root->loc, "a graph file must be a mapping, not %s",
                    ntg__ynode_what(root));
    if (depth == 0) r->top_loc = root->loc;
    ntg_ynode *vkey = NULL, *ext_key = NULL;
    for (size_t i = 0; i < root->n; i++) {
        if (!in_list(root->keys[i]->text, top_keys, COUNT(top_keys)))
            return unknown_key(r, root->keys[i], "at the top level", top_keys, COUNT(top_keys));
    }
    ntg_ynode *ver = ntg__ynode_get(root, "ntgraph", &vkey);
    if (!ver)
        return gerr(r, NTG_ERR_GRAPH, root->loc,
                    "missing 'ntgraph: 1' (the graph format version) at the top level");
    if (ver->kind != NTG_Y_SCALAR || strcmp(ver->text, "1") != 0)
        return gerr(r, NTG_ERR_GRAPH, ver->loc,
                    "unsupported graph format version %s (this ntgraph reads 1)",
                    ver->kind == NTG_Y_SCALAR ? ver->text : ntg__ynode_what(ver));
    ntg_ynode *ext = ntg__ynode_get(root, "extends", &ext_key);
    if (ext) {
        if ((st = want_scalar(r, ext, "'extends'"))) return st;
        const char *base = resolve_rel(r, file, ext->text);
        if (!base) return nomem(r);
        if ((st = load_doc(r, base, NULL, 0, &ext->loc, depth + 1))) return st;
    }
    for (size_t i = 0; i < root->n; i++) {
        ntg_ynode *key = root->keys[i], *val = root->items[i];
        const char *k = key->text;
        if (strcmp(k, "name") == 0 || strcmp(k, "kind") == 0 || strcmp(k, "description") == 0) {
            char what[32];
            if ((st = want_scalar(r, val, ntg__strfmt(what, sizeof what, "'%s'", k)))) return st;
            const char *s = keep(r, val->text);
            if (!s) return nomem(r);
            if (k[0] == 'n')
                r->name = s;
            else if (k[0] == 'k')
                r->kind = s;
            else
                r->description = s;
        } else if (strcmp(k, "hparams") == 0) {
            if ((st = merge_hparams(r, val))) return st;
        } else if (strcmp(k, "templates") == 0) {
            if ((st = merge_templates(r, val))) return st;
        } else if (strcmp(k, "train") == 0) {
            if ((st = merge_train(r, key, val))) return st;
        } else if (strcmp(k, "inputs") == 0) {
            r->inputs = val;
        } else if (strcmp(k, "outputs") == 0) {
            r->outputs = val;
        } else if (strcmp(k, "nodes") == 0) {
            r->nodes = val;
        }
    }
    return NTG_OK;
}

static ntg_status load_doc(reader *r, const char *path, const char *text, size_t len,
                           const ntg_loc *from, int depth)
{
    ntg_status st;
    const char *file = ntg__pool_strdup(r->pool, path);
    if (!file) return nomem(r);
    if (depth > NTG__MAX_EXTENDS)
        return gerr(r, NTG_ERR_GRAPH, *from, "'extends' nested more than %d deep",
                    NTG__MAX_EXTENDS);
    char *canon_m = realpath(path, NULL);
    const char *canon = ntg__pool_strdup(r->tmp, canon_m ? canon_m : path);
    free(canon_m);
    if (!canon) return nomem(r);
    for (size_t i = 0; i < r->files.len; i++) {
        const chain_ent *c = ntg__vec_at(&r->files, i);
        if (strcmp(c->canon, canon) != 0) continue;
        ntg_strbuf b = {.limit = NTG__MAX_TEXT};
        ntg__sb_puts(&b, "extends cycle: ");
        for (size_t k = i; k < r->files.len; k++) {
            ntg__sb_puts(&b, ((const chain_ent *)ntg__vec_at(&r->files, k))->shown);
            ntg__sb_puts(&b, " -> ");
        }
        ntg__sb_puts(&b, path);
        st = b.oom ? nomem(r) : gerr(r, NTG_ERR_GRAPH, *from, "%s", b.p);
        free(b.p);
        return st;
    }
    char *buf = NULL;
    if (!text) {
        if ((st = read_text(r, path, from, &buf, &len))) return st;
        text = buf;
    }
    if (len >= sizeof NTG_PLAN_MAGIC && memcmp(text, NTG_PLAN_MAGIC, sizeof NTG_PLAN_MAGIC) == 0) {
        /* a plan where a graph belongs (`train model.plan`): say so, not "YAML syntax
         * error: control characters are not allowed" */
        free(buf);
        if (from)
            return gerr(r, NTG_ERR_GRAPH, *from,
                        "'%s' (extends) is a compiled plan file, not a YAML graph", path);
        return ntg__err(r->err, NTG_ERR_GRAPH, file, 0, 0,
                        "this is a compiled plan file, not a YAML graph (compile and train "
                        "read a graph; run, eval and info read a plan)");
    }
    ntg_ynode *root = NULL;
    /* the outermost file's `nodes:` is the graph's (a file extending it replaces the base's):
     * its op nodes alone past the limit are refused while the YAML is read */
    st = ntg__ydoc_parse_limited(text, len, file, r->tmp, depth == 0 ? NTG__MAX_EXPANSION : 0,
                                 &root, r->err);
    free(buf);
    if (st) return st;
    chain_ent *ce = ntg__vec_push(&r->files);
    if (!ce) return nomem(r);
    ce->canon = canon;
    ce->shown = file;
    st = load_root(r, file, root, depth);
    r->files.len--;
    return st;
}

/* ------------------------------------------------------------- templates */

static const char *const tpl_keys[] = {"args", "inputs", "outputs", "let", "nodes"};

static ntg_status tensor_names(reader *r, ntg_ynode *y, const char *what, tnames *out)
{
    out->n = 0;
    out->name = NULL;
    if (ntg__ynode_is_null(y)) return NTG_OK;
    if (y->kind != NTG_Y_SEQ)
        return gerr(r, NTG_ERR_GRAPH, y->loc, "%s must be a list of tensor names, not %s", what,
                    ntg__ynode_what(y));
    out->name = y->n ? ntg__pool_array(r->tmp, y->n, sizeof *out->name) : NULL;
    if (y->n && !out->name) return nomem(r);
    for (size_t i = 0; i < y->n; i++) {
        ntg_ynode *it = y->items[i];
        if (it->kind != NTG_Y_SCALAR || !ntg__is_tensor_name(it->text))
            return gerr(r, NTG_ERR_GRAPH, it->loc,
                        "%s must be a list of tensor names; '%s' is not one", what,
                        it->kind == NTG_Y_SCALAR ? it->text : ntg__ynode_what(it));
        for (size_t k = 0; k < i; k++)
            if (strcmp(out->name[k], it->text) == 0)
                return gerr(r, NTG_ERR_GRAPH, it->loc, "'%s' is listed twice in %s", it->text,
                            what);
        out->name[i] = it->text;
    }
    out->n = y->n;
    return NTG_OK;
}

static ntg_status check_template(reader *r, tpl *t)
{
    ntg_status st;
    char what[160];
    if ((st = want_map(r, t->y, ntg__strfmt(what, sizeof what, "template '%s'", t->name))))
        return st;
    for (size_t i = 0; i < t->y->n; i++)
        if (!in_list(t->y->keys[i]->text, tpl_keys, COUNT(tpl_keys)))
            return unknown_key(r, t->y->keys[i],
                               ntg__strfmt(what, sizeof what, "in template '%s'", t->name),
                               tpl_keys, COUNT(tpl_keys));
    ntg_ynode *args = ntg__ynode_get(t->y, "args", NULL);
    if (args && !ntg__ynode_is_null(args)) {
        if (args->kind == NTG_Y_SCALAR)
            return gerr(r, NTG_ERR_GRAPH, args->loc,
                        "'args' of template '%s' must be a list of names or a mapping from "
                        "names to defaults",
                        t->name);
        t->n_args = args->n;
        t->args = ntg__pool_array(r->tmp, args->n ? args->n : 1, sizeof *t->args);
        if (!t->args) return nomem(r);
        for (size_t i = 0; i < args->n; i++) {
            ntg_ynode *key = args->kind == NTG_Y_MAP ? args->keys[i] : args->items[i];
            if (key->kind != NTG_Y_SCALAR)
                return gerr(r, NTG_ERR_GRAPH, key->loc,
                            "'args' of template '%s' must be a list of names, not of %s", t->name,
                            ntg__ynode_what(key));
            if ((st = check_var_name(r, key, "argument"))) return st;
            for (size_t k = 0; k < i; k++)
                if (strcmp(t->args[k].name, key->text) == 0)
                    return gerr(r, NTG_ERR_GRAPH, key->loc, "argument '%s' is listed twice",
                                key->text);
            t->args[i].name = key->text;
            t->args[i].def = NULL;
            if (args->kind == NTG_Y_MAP && !ntg__ynode_is_null(args->items[i]))
                t->args[i].def = args->items[i];
        }
    }
    if ((st = tensor_names(r, ntg__ynode_get(t->y, "inputs", NULL),
                           ntg__strfmt(what, sizeof what, "'inputs' of template '%s'", t->name),
                           &t->inputs)))
        return st;
    ntg_ynode *outs = ntg__ynode_get(t->y, "outputs", NULL);
    if ((st = tensor_names(r, outs,
                           ntg__strfmt(what, sizeof what, "'outputs' of template '%s'", t->name),
                           &t->outputs)))
        return st;
    for (size_t i = 0; i < t->outputs.n; i++)
        for (size_t k = 0; k < t->inputs.n; k++)
            if (strcmp(t->outputs.name[i], t->inputs.name[k]) == 0)
                return gerr(r, NTG_ERR_GRAPH, outs->items[i]->loc,
                            "'%s' is both an input and an output of template '%s'",
                            t->outputs.name[i], t->name);
    t->let = ntg__ynode_get(t->y, "let", NULL);
    if (t->let && ntg__ynode_is_null(t->let)) t->let = NULL;
    if (t->let) {
        if ((st = want_map(r, t->let,
                           ntg__strfmt(what, sizeof what, "'let' of template '%s'", t->name))))
            return st;
        for (size_t i = 0; i < t->let->n; i++) {
            ntg_ynode *key = t->let->keys[i];
            if ((st = check_var_name(r, key, "let"))) return st;
            for (size_t k = 0; k < t->n_args; k++)
                if (strcmp(t->args[k].name, key->text) == 0)
                    return gerr(r, NTG_ERR_GRAPH, key->loc,
                                "'%s' is already an argument of template '%s'", key->text, t->name);
        }
    }
    t->nodes = ntg__ynode_get(t->y, "nodes", NULL);
    if (t->nodes && ntg__ynode_is_null(t->nodes)) t->nodes = NULL;
    if (t->nodes && t->nodes->kind != NTG_Y_SEQ)
        return gerr(r, NTG_ERR_GRAPH, t->nodes->loc,
                    "'nodes' of template '%s' must be a sequence, not %s", t->name,
                    ntg__ynode_what(t->nodes));
    return NTG_OK;
}

/* ------------------------------------------------------------- expansion */

/* One template instance being expanded (the top level is one without a template). */
typedef struct inst {
    const tpl *t;
    const char *tprefix;  /* tensor prefix "blocks.0/mlp"; NULL at the top level */
    const char *sprefix;  /* parameter scope prefix "blocks.0.mlp" */
    const char **in_name; /* per t->inputs: the caller's tensor */
    ntg_loc *in_loc;
    const char **out_name; /* per t->outputs: the caller's tensor or NULL (local) */
    ntg_loc *out_loc;
    const struct inst *up;
    int depth;
    ntg_loc use_loc; /* the `use:` key that made this instance */
} inst;

static ntg_status expand_seq(reader *r, const inst *in, const frame *f, ntg_ynode *seq);

/* A tensor name written inside instance `in` -> its name in the flat graph. */
static ntg_status resolve(reader *r, const inst *in, const char *name, ntg_loc at, const char **out,
                          ntg_loc *out_loc)
{
    *out = name;
    *out_loc = at;
    if (!in->t) return NTG_OK;
    for (size_t k = 0; k < in->t->inputs.n; k++)
        if (strcmp(in->t->inputs.name[k], name) == 0) {
            *out = in->in_name[k];
            *out_loc = in->in_loc[k];
            return NTG_OK;
        }
    for (size_t k = 0; k < in->t->outputs.n; k++)
        if (strcmp(in->t->outputs.name[k], name) == 0 && in->out_name[k]) {
            *out = in->out_name[k];
            *out_loc = in->out_loc[k];
            return NTG_OK;
        }
    *out = ntg__pool_fmt(r->pool, "%s/%s", in->tprefix, name);
    return *out ? NTG_OK : nomem(r);
}

/* Counts op nodes, template uses and repeat iterations against the limit as they are
 * expanded, so a template that fans out (uses itself twice per level) is refused after
 * a bounded amount of work and memory, naming the template where it stopped and the
 * outermost use that started it. */
static ntg_status count_work(reader *r, const inst *in, ntg_loc at)
{
    if (++r->work <= NTG__MAX_EXPANSION) return NTG_OK;
    if (!in || !in->t)
        return gerr(r, NTG_ERR_GRAPH, at,
                    "the graph expands to more than %d ops, template uses and repeat iterations",
                    NTG__MAX_EXPANSION);
    const inst *outer = in;
    while (outer->up && outer->up->t) outer = outer->up;
    return gerr(r, NTG_ERR_GRAPH, at,
                "the graph expands to more than %d ops, template uses and repeat iterations; "
                "stopped in template '%s' (%d deep), inside the use of template '%s' at "
                "line %d, column %d",
                NTG__MAX_EXPANSION, in->t->name, in->depth, outer->t->name, outer->use_loc.line,
                outer->use_loc.col);
}

/* `in:`/`out:` of an op node: one name or a sequence of names. */
/* A name list written as one expression (a quoted scalar starting with '[' or '(', which no
 * tensor name does): `in: "['x'] + extra"`.  It must give a list of strings, each a tensor
 * name. */
static ntg_status name_list_expr(reader *r, const inst *in, const frame *f, ntg_ynode *y,
                                 const char *key, const char ***names, ntg_loc **locs, int *n,
                                 const char **first_raw)
{
    ntg_status st;
    ntg_value v;
    char what[64];
    ntg__strfmt(what, sizeof what, "'%s'", key);
    if ((st = eval_y(r, f, y, 0, what, &v))) return st;
    if (v.kind != NTG_V_LIST || v.n == 0 || v.n > 4096)
        return gerr(r, NTG_ERR_GRAPH, y->loc,
                    "'%s' as an expression must give a list of 1 to 4096 tensor names, got %s", key,
                    got_str(r->pool, &v));
    *names = ntg__pool_array(r->pool, v.n, sizeof **names);
    *locs = ntg__pool_array(r->pool, v.n, sizeof **locs);
    if (!*names || !*locs) return nomem(r);
    for (size_t i = 0; i < v.n; i++) {
        const ntg_value *it = &v.items[i];
        if (it->kind != NTG_V_STR || !ntg__is_tensor_name(it->s))
            return gerr(r, NTG_ERR_GRAPH, y->loc,
                        "'%s' item %zu must be a tensor name (a string such as 'x'), got %s", key,
                        i, got_str(r->pool, it));
        if (i == 0 && first_raw) *first_raw = it->s;
        if ((st = resolve(r, in, it->s, y->loc, &(*names)[i], &(*locs)[i]))) return st;
    }
    *n = (int)v.n;
    return NTG_OK;
}

static ntg_status name_list(reader *r, const inst *in, const frame *f, ntg_ynode *y,
                            const char *key, const char ***names, ntg_loc **locs, int *n,
                            const char **first_raw)
{
    ntg_status st;
    size_t cnt = y->kind == NTG_Y_SEQ ? y->n : 1;
    if (y->kind == NTG_Y_MAP || ntg__ynode_is_null(y))
        return gerr(r, NTG_ERR_GRAPH, y->loc,
                    "'%s' must be a tensor name or a list of tensor names, not %s", key,
                    ntg__ynode_what(y));
    if (y->kind == NTG_Y_SCALAR && y->len && (y->text[0] == '[' || y->text[0] == '('))
        return name_list_expr(r, in, f, y, key, names, locs, n, first_raw);
    *names = ntg__pool_array(r->pool, cnt ? cnt : 1, sizeof **names);
    *locs = ntg__pool_array(r->pool, cnt ? cnt : 1, sizeof **locs);
    if (!*names || !*locs) return nomem(r);
    for (size_t i = 0; i < cnt; i++) {
        ntg_ynode *it = y->kind == NTG_Y_SEQ ? y->items[i] : y;
        const char *raw;
        if (it->kind != NTG_Y_SCALAR)
            return gerr(r, NTG_ERR_GRAPH, it->loc, "'%s' must list tensor names, not %s", key,
                        ntg__ynode_what(it));
        if ((st = interp(r, f, it, "tensor name", &raw))) return st;
        if (i == 0 && first_raw) *first_raw = raw;
        ntg_loc l = it->loc;
        if ((st = resolve(r, in, raw, l, &(*names)[i], &(*locs)[i]))) return st;
    }
    *n = (int)cnt;
    return NTG_OK;
}

static ntg_status attr_eval(reader *r, const frame *f, const ntg_op_class *cls, int k, ntg_ynode *y,
                            ntg_value *v)
{
    char what[160];
    ntg__strfmt(what, sizeof what, "attribute '%s' of op '%s'", cls->attrs[k].name, cls->name);
    /* enum words are bare (`activation: relu`) */
    return eval_y(r, f, y, cls->attrs[k].kind == NTG_AK_ENUM, what, v);
}

static ntg_status enum_index(reader *r, const ntg_op_class *cls, int k, const ntg_ynode *y,
                             const ntg_value *v, int64_t *out)
{
    const ntg_attr_spec *s = &cls->attrs[k];
    if (v->kind == NTG_V_STR) {
        int64_t idx = 0;
        const char *p = s->enums;
        size_t n = strlen(v->s);
        for (;;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && strncmp(p, v->s, n) == 0) {
                *out = idx;
                return NTG_OK;
            }
            if (!bar) break;
            p = bar + 1;
            idx++;
        }
    }
    ntg_strbuf b = {.limit = NTG__MAX_TEXT};
    for (const char *p = s->enums; *p; p++)
        ntg__sb_put(&b, *p == '|' ? ", " : p, *p == '|' ? 2 : 1);
    ntg_status st = b.oom ? nomem(r)
                          : gerr(r, NTG_ERR_GRAPH, y->loc, "op '%s': %s must be one of %s; got %s",
                                 cls->name, s->name, b.p, got_str(r->pool, v));
    free(b.p);
    return st;
}

static ntg_status build_attrs(reader *r, const ntg_op_class *cls, const ntg_ynode *opkey,
                              ntg_value *vals, ntg_ynode **ys, ntg_rnode *node)
{
    int na = cls->n_attrs;
    size_t extra = 0;
    for (int k = 0; k < na; k++) {
        ntg_attr_kind kind = cls->attrs[k].kind;
        if (ys[k] && (kind == NTG_AK_INTS || kind == NTG_AK_FLOATS)) {
            if (vals[k].kind != NTG_V_LIST)
                return gerr(r, NTG_ERR_GRAPH, ys[k]->loc,
                            "attribute '%s' of op '%s' must be a list of %s, got %s",
                            cls->attrs[k].name, cls->name,
                            kind == NTG_AK_INTS ? "integers" : "numbers",
                            got_str(r->pool, &vals[k]));
            extra += vals[k].n;
        }
    }
    size_t total = (size_t)na + extra;
    if (total > UINT32_MAX) return gerr(r, NTG_ERR_GRAPH, opkey->loc, "too many attribute values");
    ntg_attr *a = ntg__pool_array(r->pool, total ? total : 1, sizeof *a);
    if (!a) return nomem(r);
    size_t next = (size_t)na;
    for (int k = 0; k < na; k++) {
        const ntg_attr_spec *s = &cls->attrs[k];
        ntg_value *v = &vals[k];
        ntg_ynode *y = ys[k];
        if (!y) {
            if (s->required)
                return gerr(r, NTG_ERR_GRAPH, opkey->loc, "op '%s' needs attribute '%s'", cls->name,
                            s->name);
            if (s->kind == NTG_AK_FLOAT)
                a[k].f = s->def;
            else if (s->kind == NTG_AK_INTS || s->kind == NTG_AK_FLOATS)
                a[k].i = (int64_t)((uint64_t)na << 32);
            else
                a[k].i = (int64_t)s->def;
            continue;
        }
        switch (s->kind) {
        case NTG_AK_INT:
            if (v->kind != NTG_V_INT)
                return gerr(r, NTG_ERR_GRAPH, y->loc,
                            "attribute '%s' of op '%s' must be an integer, got %s", s->name,
                            cls->name, got_str(r->pool, v));
            a[k].i = v->i;
            break;
        case NTG_AK_FLOAT:
            if (v->kind != NTG_V_INT && v->kind != NTG_V_FLOAT)
                return gerr(r, NTG_ERR_GRAPH, y->loc,
                            "attribute '%s' of op '%s' must be a number, got %s", s->name,
                            cls->name, got_str(r->pool, v));
            a[k].f = v->kind == NTG_V_INT ? (double)v->i : v->f;
            break;
        case NTG_AK_BOOL:
            if (!(v->kind == NTG_V_BOOL || (v->kind == NTG_V_INT && (v->i == 0 || v->i == 1))))
                return gerr(r, NTG_ERR_GRAPH, y->loc,
                            "attribute '%s' of op '%s' must be true or false, got %s", s->name,
                            cls->name, got_str(r->pool, v));
            a[k].i = v->i;
            break;
        case NTG_AK_ENUM: {
            ntg_status st = enum_index(r, cls, k, y, v, &a[k].i);
            if (st) return st;
            break;
        }
        case NTG_AK_INTS:
        case NTG_AK_FLOATS:
            a[k].i = (int64_t)(((uint64_t)next << 32) | (uint64_t)v->n);
            for (size_t j = 0; j < v->n; j++, next++) {
                const ntg_value *it = &v->items[j];
                ntg_loc l = (y->kind == NTG_Y_SEQ && y->n == v->n) ? y->items[j]->loc : y->loc;
                if (s->kind == NTG_AK_INTS && it->kind == NTG_V_INT) {
                    a[next].i = it->i;
                } else if (s->kind == NTG_AK_INTS && it->kind == NTG_V_BATCH) {
                    a[next].i = 0; /* the shape rules read 0 as `batch` */
                } else if (s->kind == NTG_AK_FLOATS &&
                           (it->kind == NTG_V_INT || it->kind == NTG_V_FLOAT)) {
                    a[next].f = it->kind == NTG_V_INT ? (double)it->i : it->f;
                } else {
                    return gerr(r, NTG_ERR_GRAPH, l,
                                "item %zu of attribute '%s' of op '%s' must be %s, got %s", j,
                                s->name, cls->name,
                                s->kind == NTG_AK_INTS ? "an integer" : "a number",
                                got_str(r->pool, it));
                }
            }
            break;
        }
    }
    node->attr = a;
    node->n_attr = (uint32_t)total;
    return NTG_OK;
}

static const char *const op_node_keys[] = {"op", "in", "out", "name", "params"};

static ntg_status expand_op(reader *r, const inst *in, const frame *f, ntg_ynode *y)
{
    ntg_status st;
    ntg_ynode *opkey = NULL, *opval = ntg__ynode_get(y, "op", &opkey);
    if (opval->kind != NTG_Y_SCALAR || ntg__ynode_is_null(opval))
        return gerr(r, NTG_ERR_GRAPH, opval->loc, "'op' must be an op name, not %s",
                    ntg__ynode_what(opval));
    if ((st = count_work(r, in, opval->loc))) return st;
    int code = ntg__op_lookup(opval->text);
    if (code < 0) {
        char hint[256];
        return gerr(r, NTG_ERR_GRAPH, opval->loc, "unknown op '%s'%s", opval->text,
                    ntg__op_hint(opval->text, hint, sizeof hint));
    }
    const ntg_op_info *info = ntg__op_info((uint32_t)code);
    const ntg_op_class *cls = info->cls;
    if (cls->n_attrs > 64)
        return gerr(r, NTG_ERR_INTERNAL, opval->loc, "op '%s' has too many attributes", cls->name);
    ntg_rnode node;
    memset(&node, 0, sizeof node);
    node.code = code;
    node.loc = opval->loc;
    ntg_value vals[64];
    ntg_ynode *ys[64];
    memset(vals, 0, sizeof vals);
    memset(ys, 0, sizeof ys);
    ntg_ynode *in_y = NULL, *out_y = NULL, *name_y = NULL, *params_y = NULL;
    for (size_t i = 0; i < y->n; i++) {
        ntg_ynode *key = y->keys[i], *val = y->items[i];
        const char *k = key->text;
        if (strcmp(k, "op") == 0) continue;
        if (strcmp(k, "in") == 0) {
            in_y = val;
        } else if (strcmp(k, "out") == 0) {
            out_y = val;
        } else if (strcmp(k, "name") == 0) {
            name_y = val;
        } else if (strcmp(k, "params") == 0) {
            params_y = val;
        } else {
            int idx = ntg__op_attr_index(cls, k);
            if (idx < 0) {
                ntg_nearest near;
                ntg__nearest_init(&near, k);
                for (int a = 0; a < cls->n_attrs; a++) ntg__nearest_try(&near, cls->attrs[a].name);
                for (size_t a = 0; a < COUNT(op_node_keys); a++)
                    ntg__nearest_try(&near, op_node_keys[a]);
                char hint[96];
                return gerr(r, NTG_ERR_GRAPH, key->loc, "unknown attribute '%s' of op '%s'%s", k,
                            cls->name, ntg__nearest_hint(&near, hint, sizeof hint));
            }
            ys[idx] = val;
            if ((st = attr_eval(r, f, cls, idx, val, &vals[idx]))) return st;
        }
    }
    if (!in_y && info->n_in_min > 0 && !(cls->flags & NTG_OPF_NO_INPUT))
        return gerr(r, NTG_ERR_GRAPH, opkey->loc, "op '%s' needs 'in' (its input tensors)",
                    cls->name);
    if (!out_y)
        return gerr(r, NTG_ERR_GRAPH, opkey->loc, "op '%s' needs 'out' (its output tensors)",
                    cls->name);
    if (in_y && !(in_y->kind == NTG_Y_SEQ && in_y->n == 0) &&
        (st = name_list(r, in, f, in_y, "in", &node.in, &node.in_loc, &node.n_in, NULL)))
        return st;
    const char *first_out = NULL;
    if (out_y->kind == NTG_Y_SEQ && out_y->n == 0)
        return gerr(r, NTG_ERR_GRAPH, out_y->loc, "op '%s' needs at least one output in 'out'",
                    cls->name);
    if ((st = name_list(r, in, f, out_y, "out", &node.out, &node.out_loc, &node.n_out, &first_out)))
        return st;
    const char *leaf = first_out;
    if (name_y && (st = interp(r, f, name_y, "node name", &leaf))) return st;
    node.scope = in->sprefix ? ntg__pool_fmt(r->pool, "%s.%s", in->sprefix, leaf) : leaf;
    if (!node.scope) return nomem(r);
    if (params_y && !ntg__ynode_is_null(params_y)) {
        if ((st = want_map(r, params_y, "'params'"))) return st;
        size_t n = params_y->n;
        node.param_leaf = ntg__pool_array(r->pool, n ? n : 1, sizeof *node.param_leaf);
        node.param_name = ntg__pool_array(r->pool, n ? n : 1, sizeof *node.param_name);
        if (!node.param_leaf || !node.param_name) return nomem(r);
        for (size_t i = 0; i < n; i++) {
            ntg_ynode *key = params_y->keys[i], *val = params_y->items[i];
            if (!ntg__is_ident(key->text))
                return gerr(r, NTG_ERR_GRAPH, key->loc, "bad parameter name '%s'", key->text);
            if (val->kind != NTG_Y_SCALAR || !ntg__is_ident(val->text))
                return gerr(r, NTG_ERR_GRAPH, val->loc,
                            "'params' maps a parameter to a new leaf name such as "
                            "in_proj_weight, not %s",
                            val->kind == NTG_Y_SCALAR ? val->text : ntg__ynode_what(val));
            node.param_leaf[i] = keep(r, key->text);
            node.param_name[i] = keep(r, val->text);
            if (!node.param_leaf[i] || !node.param_name[i]) return nomem(r);
        }
        node.n_param_names = (int)n;
    }
    if ((st = build_attrs(r, cls, opkey, vals, ys, &node))) return st;
    ntg_rnode *slot = ntg__vec_push(&r->out_nodes);
    if (!slot) return nomem(r);
    *slot = node;
    return NTG_OK;
}

static const char *const use_keys[] = {"use", "name", "with", "in", "out"};

/* Bind a use's `in:` or `out:` (mapping template name -> caller tensor, or positional). */
static ntg_status bind_tensors(reader *r, const inst *caller, const frame *f, const tpl *t,
                               ntg_ynode *y, int outputs, const char **names, ntg_loc *locs)
{
    ntg_status st;
    const tnames *tn = outputs ? &t->outputs : &t->inputs;
    const char *dir = outputs ? "output" : "input";
    if (!y || ntg__ynode_is_null(y)) return NTG_OK;
    size_t n = y->kind == NTG_Y_SCALAR ? 1 : y->n;
    if (y->kind != NTG_Y_MAP && n > tn->n)
        return gerr(r, NTG_ERR_GRAPH, y->loc, "template '%s' has %zu %ss, %zu given", t->name,
                    tn->n, dir, n);
    for (size_t i = 0; i < n; i++) {
        size_t slot = i;
        ntg_ynode *val = y->kind == NTG_Y_SCALAR ? y : y->items[i];
        if (y->kind == NTG_Y_MAP) {
            ntg_ynode *key = y->keys[i];
            for (slot = 0; slot < tn->n; slot++)
                if (strcmp(tn->name[slot], key->text) == 0) break;
            if (slot == tn->n) {
                char hint[96];
                return gerr(r, NTG_ERR_GRAPH, key->loc, "template '%s' has no %s '%s'%s", t->name,
                            dir, key->text,
                            hint_among(key->text, tn->name, tn->n, hint, sizeof hint));
            }
        }
        const char *raw;
        if ((st = interp(r, f, val, "tensor name", &raw))) return st;
        if ((st = resolve(r, caller, raw, val->loc, &names[slot], &locs[slot]))) return st;
    }
    return NTG_OK;
}

static ntg_status expand_use(reader *r, const inst *in, const frame *f, ntg_ynode *y)
{
    ntg_status st;
    for (size_t i = 0; i < y->n; i++)
        if (!in_list(y->keys[i]->text, use_keys, COUNT(use_keys)))
            return unknown_key(r, y->keys[i], "in a template use", use_keys, COUNT(use_keys));
    ntg_ynode *ukey = NULL, *uval = ntg__ynode_get(y, "use", &ukey);
    if (uval->kind != NTG_Y_SCALAR || ntg__ynode_is_null(uval))
        return gerr(r, NTG_ERR_GRAPH, uval->loc, "'use' must be a template name, not %s",
                    ntg__ynode_what(uval));
    const tpl *t = tpl_find(r, uval->text);
    if (!t) {
        ntg_nearest near;
        ntg__nearest_init(&near, uval->text);
        for (size_t i = 0; i < r->templates.len; i++) ntg__nearest_try(&near, tpl_at(r, i)->name);
        char hint[96];
        return gerr(r, NTG_ERR_GRAPH, uval->loc, "unknown template '%s'%s", uval->text,
                    ntg__nearest_hint(&near, hint, sizeof hint));
    }
    if (in->depth + 1 > NTG__MAX_TEMPLATE_DEPTH) {
        for (const inst *p = in; p; p = p->up)
            if (p->t == t)
                return gerr(r, NTG_ERR_GRAPH, ukey->loc,
                            "template '%s' instantiates itself (templates nest at most %d deep)",
                            t->name, NTG__MAX_TEMPLATE_DEPTH);
        return gerr(r, NTG_ERR_GRAPH, ukey->loc, "templates nest more than %d deep",
                    NTG__MAX_TEMPLATE_DEPTH);
    }
    /* the instance's names */
    ntg_ynode *name_y = ntg__ynode_get(y, "name", NULL);
    const char *inst_name = NULL;
    if (name_y && (st = interp(r, f, name_y, "instance name", &inst_name))) return st;
    inst child;
    memset(&child, 0, sizeof child);
    child.t = t;
    child.up = in;
    child.depth = in->depth + 1;
    child.use_loc = ukey->loc;
    if ((st = count_work(r, in, ukey->loc))) return st;
    unsigned dummy;
    if (inst_name) {
        child.tprefix =
            in->tprefix ? ntg__pool_fmt(r->pool, "%s/%s", in->tprefix, inst_name) : inst_name;
        child.sprefix =
            in->sprefix ? ntg__pool_fmt(r->pool, "%s.%s", in->sprefix, inst_name) : inst_name;
        if (!child.tprefix || !child.sprefix) return nomem(r);
        if (ntg__strmap_get(&r->instances, child.tprefix, &dummy))
            return gerr(r, NTG_ERR_GRAPH, name_y->loc,
                        "instance name '%s' is used twice; give each use its own 'name'",
                        child.sprefix);
    } else {
        /* An unnamed use is inlined for parameters (they keep the caller's scope, so a
         * helper template does not add a level to checkpoint names), while its locals
         * still get a private prefix: "mlp", then "mlp#2" (no written name has a '#'). */
        const char *base =
            in->tprefix ? ntg__pool_fmt(r->pool, "%s/%s", in->tprefix, t->name) : t->name;
        child.tprefix = base;
        for (int k = 2; child.tprefix && ntg__strmap_get(&r->instances, child.tprefix, &dummy); k++)
            child.tprefix = ntg__pool_fmt(r->pool, "%s#%d", base, k);
        child.sprefix = in->sprefix;
        if (!child.tprefix) return nomem(r);
    }
    if (ntg__strmap_put(&r->instances, child.tprefix, 0)) return nomem(r);
    /* arguments: `with` in the caller's scope, defaults and `let` in the template's */
    size_t n_let = t->let ? t->let->n : 0;
    frame tf = {NULL, NULL, NULL, 0};
    tf.names = ntg__pool_array(r->tmp, t->n_args + n_let + 1, sizeof *tf.names);
    tf.vals = ntg__pool_array(r->tmp, t->n_args + n_let + 1, sizeof *tf.vals);
    ntg_ynode **given = ntg__pool_array(r->tmp, t->n_args + 1, sizeof *given);
    if (!tf.names || !tf.vals || !given) return nomem(r);
    ntg_ynode *with = ntg__ynode_get(y, "with", NULL);
    if (with && !ntg__ynode_is_null(with)) {
        if ((st = want_map(r, with, "'with'"))) return st;
        for (size_t i = 0; i < with->n; i++) {
            ntg_ynode *key = with->keys[i];
            size_t a;
            for (a = 0; a < t->n_args; a++)
                if (strcmp(t->args[a].name, key->text) == 0) break;
            if (a == t->n_args) {
                ntg_nearest near;
                ntg__nearest_init(&near, key->text);
                for (size_t k = 0; k < t->n_args; k++) ntg__nearest_try(&near, t->args[k].name);
                char hint[96];
                return gerr(r, NTG_ERR_GRAPH, key->loc, "template '%s' has no argument '%s'%s",
                            t->name, key->text, ntg__nearest_hint(&near, hint, sizeof hint));
            }
            char what[160];
            ntg__strfmt(what, sizeof what, "argument '%s' of template '%s'", key->text, t->name);
            /* a bare word passes an enum value down (`with: {act: relu}`) */
            if ((st = eval_y(r, f, with->items[i], 1, what, &tf.vals[a]))) return st;
            given[a] = with->items[i];
        }
    }
    for (size_t a = 0; a < t->n_args; a++) {
        tf.names[a] = t->args[a].name;
        if (!given[a]) {
            if (!t->args[a].def)
                return gerr(r, NTG_ERR_GRAPH, ukey->loc, "template '%s' needs argument '%s'",
                            t->name, t->args[a].name);
            char what[160];
            ntg__strfmt(what, sizeof what, "argument '%s' of template '%s'", t->args[a].name,
                        t->name);
            tf.n = a;
            if ((st = eval_y(r, &tf, t->args[a].def, 1, what, &tf.vals[a]))) return st;
        }
    }
    tf.n = t->n_args;
    for (size_t i = 0; i < n_let; i++) {
        char what[160];
        ntg__strfmt(what, sizeof what, "'%s' of template '%s'", t->let->keys[i]->text, t->name);
        if ((st = eval_y(r, &tf, t->let->items[i], 0, what, &tf.vals[tf.n]))) return st;
        tf.names[tf.n++] = t->let->keys[i]->text;
    }
    /* tensors */
    size_t ni = t->inputs.n, no = t->outputs.n;
    child.in_name = ntg__pool_array(r->tmp, ni + 1, sizeof *child.in_name);
    child.in_loc = ntg__pool_array(r->tmp, ni + 1, sizeof *child.in_loc);
    child.out_name = ntg__pool_array(r->tmp, no + 1, sizeof *child.out_name);
    child.out_loc = ntg__pool_array(r->tmp, no + 1, sizeof *child.out_loc);
    if (!child.in_name || !child.in_loc || !child.out_name || !child.out_loc) return nomem(r);
    if ((st = bind_tensors(r, in, f, t, ntg__ynode_get(y, "in", NULL), 0, child.in_name,
                           child.in_loc)))
        return st;
    if ((st = bind_tensors(r, in, f, t, ntg__ynode_get(y, "out", NULL), 1, child.out_name,
                           child.out_loc)))
        return st;
    for (size_t k = 0; k < ni; k++)
        if (!child.in_name[k])
            return gerr(r, NTG_ERR_GRAPH, ukey->loc,
                        "input '%s' of template '%s' is not bound; add it to 'in'",
                        t->inputs.name[k], t->name);
    if (!t->nodes) return NTG_OK;
    return expand_seq(r, &child, &tf, t->nodes);
}

static const char *const repeat_keys[] = {"repeat", "as", "nodes"};

static ntg_status expand_repeat(reader *r, const inst *in, const frame *f, ntg_ynode *y)
{
    ntg_status st;
    for (size_t i = 0; i < y->n; i++)
        if (!in_list(y->keys[i]->text, repeat_keys, COUNT(repeat_keys)))
            return unknown_key(r, y->keys[i], "in a repeat", repeat_keys, COUNT(repeat_keys));
    ntg_ynode *cnt_y = ntg__ynode_get(y, "repeat", NULL);
    ntg_value cnt;
    if ((st = eval_y(r, f, cnt_y, 0, "'repeat'", &cnt))) return st;
    if (cnt.kind != NTG_V_INT || cnt.i < 0)
        return gerr(r, NTG_ERR_GRAPH, cnt_y->loc,
                    "'repeat' must be a count (an integer >= 0), got %s", got_str(r->pool, &cnt));
    const char *var = "i";
    ntg_ynode *as = ntg__ynode_get(y, "as", NULL);
    if (as) {
        if (as->kind != NTG_Y_SCALAR || ntg__ynode_is_null(as))
            return gerr(r, NTG_ERR_GRAPH, as->loc, "'as' must be a name, not %s",
                        ntg__ynode_what(as));
        if ((st = check_var_name(r, as, "loop variable"))) return st;
        var = as->text;
    }
    ntg_ynode *nodes = ntg__ynode_get(y, "nodes", NULL);
    if (!nodes || ntg__ynode_is_null(nodes)) return NTG_OK;
    if (nodes->kind != NTG_Y_SEQ)
        return gerr(r, NTG_ERR_GRAPH, nodes->loc, "'nodes' of a repeat must be a sequence, not %s",
                    ntg__ynode_what(nodes));
    ntg_value iv;
    memset(&iv, 0, sizeof iv);
    iv.kind = NTG_V_INT;
    frame lf = {f, &var, &iv, 1};
    for (int64_t i = 0; i < cnt.i; i++) {
        if ((st = count_work(r, in, cnt_y->loc))) return st;
        iv.i = i;
        if ((st = expand_seq(r, in, &lf, nodes))) return st;
    }
    return NTG_OK;
}

static ntg_status expand_seq(reader *r, const inst *in, const frame *f, ntg_ynode *seq)
{
    ntg_status st;
    for (size_t i = 0; i < seq->n; i++) {
        ntg_ynode *y = seq->items[i];
        if (y->kind != NTG_Y_MAP)
            return gerr(r, NTG_ERR_GRAPH, y->loc,
                        "a node must be a mapping with 'op', 'use' or 'repeat', not %s",
                        ntg__ynode_what(y));
        int has_op = ntg__ynode_get(y, "op", NULL) != NULL;
        int has_use = ntg__ynode_get(y, "use", NULL) != NULL;
        int has_rep = ntg__ynode_get(y, "repeat", NULL) != NULL;
        if (has_op + has_use + has_rep != 1)
            return gerr(r, NTG_ERR_GRAPH, y->loc,
                        "a node needs exactly one of 'op', 'use' and "
                        "'repeat'");
        st = has_op    ? expand_op(r, in, f, y)
             : has_use ? expand_use(r, in, f, y)
                       : expand_repeat(r, in, f, y);
        if (st) return st;
    }
    return NTG_OK;
}

/* ------------------------------------------------------- inputs, outputs */

/* `zero` (inputs only; NULL for outputs): set when an extent after `batch` is 0, which
 * drops the input (docs/graph-format.md, "Optional inputs"); NULL makes 0 an error. */
static ntg_status read_shape(reader *r, const char *what, const char *name, ntg_ynode *y,
                             ntg_tdesc *d, int *zero)
{
    ntg_status st;
    ntg_value v;
    char w[160];
    ntg__strfmt(w, sizeof w, "the shape of %s '%s'", what, name);
    if ((st = eval_y(r, NULL, y, 0, w, &v))) return st;
    if (v.kind != NTG_V_LIST)
        return gerr(r, NTG_ERR_GRAPH, y->loc,
                    "%s '%s' needs a shape: a list such as [batch, 96], got %s", what, name,
                    got_str(r->pool, &v));
    if (v.n > NTG_MAX_RANK)
        return gerr(r, NTG_ERR_GRAPH, y->loc, "%s '%s' has %zu dimensions; at most %d", what, name,
                    v.n, NTG_MAX_RANK);
    memset(d, 0, sizeof *d);
    d->dtype = NTG_DTYPE_F32;
    d->rank = (uint8_t)v.n;
    for (size_t k = 0; k < v.n; k++) {
        const ntg_value *it = &v.items[k];
        ntg_loc l = (y->kind == NTG_Y_SEQ && y->n == v.n) ? y->items[k]->loc : y->loc;
        if (it->kind == NTG_V_BATCH) {
            if (k != 0)
                return gerr(r, NTG_ERR_GRAPH, l,
                            "'batch' is only valid as the first entry of %s '%s''s shape", what,
                            name);
            d->batched = 1;
            d->dims[0] = 1; /* the middle end sets the plan's maximum batch */
            continue;
        }
        if (zero && k > 0 && it->kind == NTG_V_INT && it->i == 0) {
            *zero = 1;
            d->dims[k] = 0;
            continue;
        }
        if (it->kind != NTG_V_INT || it->i <= 0)
            return gerr(r, NTG_ERR_GRAPH, l,
                        "extent %zu of %s '%s' must be a positive integer, got %s", k, what, name,
                        got_str(r->pool, it));
        d->dims[k] = it->i;
    }
    return NTG_OK;
}

/* Inputs whose shape has a 0 extent go to *dropped (n_dropped) instead of *out. */
static ntg_status read_io(reader *r, ntg_ynode *y, int outputs, ntg_rio **out, size_t *n,
                          ntg_rio **dropped, size_t *n_dropped)
{
    ntg_status st;
    const char *what = outputs ? "output" : "input";
    *out = NULL;
    *n = 0;
    if (dropped) *dropped = NULL, *n_dropped = 0;
    if (!y || ntg__ynode_is_null(y)) return NTG_OK;
    if ((st = want_map(r, y, outputs ? "'outputs'" : "'inputs'"))) return st;
    ntg_rio *io = ntg__pool_array(r->pool, y->n ? y->n : 1, sizeof *io);
    ntg_rio *gone = dropped ? ntg__pool_array(r->pool, y->n ? y->n : 1, sizeof *gone) : NULL;
    if (!io || (dropped && !gone)) return nomem(r);
    size_t kept = 0, nd = 0;
    for (size_t i = 0; i < y->n; i++) {
        ntg_ynode *key = y->keys[i], *val = y->items[i];
        if (!ntg__is_tensor_name(key->text))
            return gerr(r, NTG_ERR_GRAPH, key->loc,
                        "bad %s name '%s': a name is a letter or '_' followed by letters, "
                        "digits, '_' and '.'",
                        what, key->text);
        ntg_rio *e = &io[kept];
        if (!(e->name = keep(r, key->text))) return nomem(r);
        e->loc = key->loc;
        if (outputs && ntg__ynode_is_null(val)) {
            kept++;
            continue;
        }
        int zero = 0;
        if ((st = read_shape(r, what, key->text, val, &e->desc, outputs ? NULL : &zero))) return st;
        e->has_shape = 1;
        if (zero)
            gone[nd++] = *e;
        else
            kept++;
    }
    *out = io;
    *n = kept;
    if (dropped) *dropped = gone, *n_dropped = nd;
    return NTG_OK;
}

/* ------------------------------------------------------------ the driver */

static ntg_status apply_defines(reader *r, const ntg_define *defs, size_t n_defs)
{
    ntg_loc cl = {CMDLINE, 0, 0};
    for (size_t i = 0; i < n_defs; i++) {
        const ntg_define *d = &defs[i];
        if (!d->name || !d->value)
            return ntg__err(r->err, NTG_ERR_INVALID_ARG, CMDLINE, 0, 0, "-D needs NAME=VALUE");
        unsigned idx;
        if (!ntg__strmap_get(&r->hp_index, d->name, &idx)) {
            ntg_nearest near;
            ntg__nearest_init(&near, d->name);
            for (size_t k = 0; k < r->hparams.len; k++) ntg__nearest_try(&near, hp_at(r, k)->name);
            char hint[96];
            return ntg__err(r->err, NTG_ERR_GRAPH, CMDLINE, 0, 0,
                            "unknown hparam '%s' in -D %s=%s%s", d->name, d->name, d->value,
                            ntg__nearest_hint(&near, hint, sizeof hint));
        }
        ntg_expr *e;
        ntg_status st = ntg__expr_parse(r->tmp, d->value, strlen(d->value), cl, 0, &e, r->err);
        if (st) {
            wrap_define(r, d->name, d->value);
            return st;
        }
        hparam *h = hp_at(r, idx);
        h->dexpr = e;
        h->dtext = d->value;
        h->y = NULL;
    }
    return NTG_OK;
}

static ntg_status finish(reader *r, const char *file, const ntg_define *defs, size_t n_defs,
                         ntg_rgraph **out)
{
    ntg_status st;
    if (!r->name) return gerr(r, NTG_ERR_GRAPH, r->top_loc, "missing 'name:' (the model's name)");
    if ((st = apply_defines(r, defs, n_defs))) return st;
    ntg_rgraph *g = ntg__pool_alloc(r->pool, sizeof *g);
    if (!g) return nomem(r);
    g->pool = r->pool;
    g->file = ntg__pool_strdup(r->pool, file);
    g->format_version = 1;
    g->name = r->name;
    g->kind = r->kind ? r->kind : r->name;
    g->description = r->description;
    /* hparams: every one, in declaration order, so errors in unused ones surface too */
    g->n_hparams = r->hparams.len;
    g->hparams = ntg__pool_array(r->pool, g->n_hparams + 1, sizeof *g->hparams);
    if (!g->file || !g->hparams) return nomem(r);
    for (size_t i = 0; i < r->hparams.len; i++) {
        hparam *h = hp_at(r, i);
        if ((st = hp_eval(r, i, h->loc))) return st;
        h = hp_at(r, i);
        g->hparams[i].key = h->name;
        g->hparams[i].value = h->v;
        g->hparams[i].loc = h->loc;
    }
    for (size_t i = 0; i < r->templates.len; i++)
        if ((st = check_template(r, tpl_at(r, i)))) return st;
    if ((st = read_io(r, r->inputs, 0, &g->inputs, &g->n_inputs, &g->dropped, &g->n_dropped)))
        return st;
    if ((st = read_io(r, r->outputs, 1, &g->outputs, &g->n_outputs, NULL, NULL))) return st;
    if (!r->nodes || ntg__ynode_is_null(r->nodes))
        return gerr(r, NTG_ERR_GRAPH, r->top_loc, "missing 'nodes:' (the ops of the graph)");
    if (r->nodes->kind != NTG_Y_SEQ)
        return gerr(r, NTG_ERR_GRAPH, r->nodes->loc, "'nodes' must be a sequence, not %s",
                    ntg__ynode_what(r->nodes));
    inst top;
    memset(&top, 0, sizeof top);
    if ((st = expand_seq(r, &top, NULL, r->nodes))) return st;
    if (r->has_train) {
        g->train_loc = r->train_loc;
        g->n_train = r->train.len;
        g->train = ntg__pool_array(r->pool, g->n_train + 1, sizeof *g->train);
        if (!g->train) return nomem(r);
        for (size_t i = 0; i < r->train.len; i++) {
            trkv *kv = ntg__vec_at(&r->train, i);
            char what[160];
            ntg__strfmt(what, sizeof what, "train key '%s'", kv->key);
            if ((st = eval_y(r, NULL, kv->y, 1, what, &g->train[i].value))) return st;
            g->train[i].key = kv->key;
            g->train[i].loc = kv->loc;
        }
    }
    /* Nothing of the graph points into the document tree (it goes when reading ends), so it
     * goes now, before the ops are copied into the graph's pool: a graph of a million ops
     * does not hold the tree and two copies of its ops at once. */
    ntg__pool_destroy(r->tmp);
    r->tmp = NULL;
    g->n_nodes = r->out_nodes.len;
    g->nodes = ntg__pool_array(r->pool, g->n_nodes + 1, sizeof *g->nodes);
    if (!g->nodes) return nomem(r);
    if (g->n_nodes) memcpy(g->nodes, r->out_nodes.data, g->n_nodes * sizeof *g->nodes);
    *out = g;
    return NTG_OK;
}

static ntg_status read_graph(const char *text, size_t len, const char *path, const ntg_define *defs,
                             size_t n_defs, ntg_pool *pool, ntg_rgraph **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!pool || !out || (n_defs && !defs))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "graph reader: missing pool or output");
    reader r;
    memset(&r, 0, sizeof r);
    r.pool = pool;
    r.err = err;
    r.tmp = ntg__pool_create();
    if (!r.tmp) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory while reading a graph");
    ntg__vec_init(&r.hparams, sizeof(hparam));
    ntg__vec_init(&r.templates, sizeof(tpl));
    ntg__vec_init(&r.train, sizeof(trkv));
    ntg__vec_init(&r.hp_chain, sizeof(size_t));
    ntg__vec_init(&r.files, sizeof(chain_ent));
    ntg__vec_init(&r.out_nodes, sizeof(ntg_rnode));
    ntg__strmap_init(&r.hp_index);
    ntg__strmap_init(&r.instances);
    ntg_status st = load_doc(&r, path, text, len, NULL, 0);
    if (!st) st = finish(&r, path, defs, n_defs, out);
    ntg__vec_free(&r.hparams);
    ntg__vec_free(&r.templates);
    ntg__vec_free(&r.train);
    ntg__vec_free(&r.hp_chain);
    ntg__vec_free(&r.files);
    ntg__vec_free(&r.out_nodes);
    ntg__strmap_free(&r.hp_index);
    ntg__strmap_free(&r.instances);
    ntg__pool_destroy(r.tmp);
    if (st) *out = NULL;
    return st;
}

ntg_status ntg__graph_read_file(const char *path, const ntg_define *defs, size_t n_defs,
                                ntg_pool *pool, ntg_rgraph **out, ntg_error *err)
{
    if (!path) {
        if (out) *out = NULL;
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "graph reader: no path");
    }
    return read_graph(NULL, 0, path, defs, n_defs, pool, out, err);
}

ntg_status ntg__graph_read_string(const char *text, size_t len, const char *name,
                                  const ntg_define *defs, size_t n_defs, ntg_pool *pool,
                                  ntg_rgraph **out, ntg_error *err)
{
    if (!text && len) {
        if (out) *out = NULL;
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "graph reader: no text");
    }
    return read_graph(text ? text : "", len, name ? name : "<string>", defs, n_defs, pool, out,
                      err);
}

/* --------------------------------------------------------- ntg__graph_eval */

static ntg_status rg_lookup(void *user, const char *name, ntg_loc at, ntg_value *out,
                            ntg_error *err)
{
    const ntg_rgraph *g = user;
    (void)at;
    (void)err;
    for (size_t i = 0; i < g->n_hparams; i++)
        if (strcmp(g->hparams[i].key, name) == 0) {
            *out = g->hparams[i].value;
            return NTG_OK;
        }
    return NTG_ERR_NOT_FOUND;
}

static void rg_names(void *user, ntg_nearest *near)
{
    const ntg_rgraph *g = user;
    for (size_t i = 0; i < g->n_hparams; i++) ntg__nearest_try(near, g->hparams[i].key);
}

ntg_status ntg__graph_eval(const ntg_rgraph *g, const char *text, ntg_loc loc, ntg_value *out,
                           ntg_error *err)
{
    if (!g || !text || !out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "graph eval: no input");
    ntg_expr *e;
    ntg_status st = ntg__expr_parse(g->pool, text, strlen(text), loc, 0, &e, err);
    if (st) return st;
    ntg_expr_env env = {rg_lookup, rg_names, (void *)(uintptr_t)g, g->pool, 1};
    return ntg__expr_eval(e, &env, out, err);
}
