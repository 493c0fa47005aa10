/* expr.c — expressions of graph files: a recursive-descent parser and a Python 3 evaluator. */
#include "expr.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"

/* Trees deeper than this are refused at parse time, so evaluation (recursive) is bounded. */
#define NTG__EXPR_MAX_DEPTH 200
/* Longest expression quoted whole in a message; longer ones are cut in the middle. */
#define NTG__EXPR_SHOWN 120
/* Lists built by `+` and `*` stay below this many items, strings below this many bytes (a
 * typo must not eat the memory). */
#define NTG__EXPR_MAX_LIST 1000000

/* ------------------------------------------------------------------ names */

int ntg__is_ident(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int ntg__is_tensor_name(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.'))
            return 0;
    return 1;
}

typedef enum fn_id {
    F_CEIL,
    F_FLOOR,
    F_ROUND,
    F_MAX,
    F_MIN,
    F_LEN,
    F_ABS,
    F_SQRT,
    F_INT,
    F_FLOAT,
    F_STR
} fn_id;

static const struct {
    const char *name;
    int min_args, max_args;
} fn_table[] = {
    [F_CEIL] = {"ceil", 1, 1},   [F_FLOOR] = {"floor", 1, 1}, [F_ROUND] = {"round", 1, 1},
    [F_MAX] = {"max", 1, 1000},  [F_MIN] = {"min", 1, 1000},  [F_LEN] = {"len", 1, 1},
    [F_ABS] = {"abs", 1, 1},     [F_SQRT] = {"sqrt", 1, 1},   [F_INT] = {"int", 1, 1},
    [F_FLOAT] = {"float", 1, 1}, [F_STR] = {"str", 1, 1},
};
#define N_FN ((int)(sizeof fn_table / sizeof fn_table[0]))

static int fn_lookup(const char *name)
{
    for (int i = 0; i < N_FN; i++)
        if (strcmp(fn_table[i].name, name) == 0) return i;
    return -1;
}

int ntg__is_reserved(const char *s)
{
    return strcmp(s, "batch") == 0 || strcmp(s, "true") == 0 || strcmp(s, "false") == 0 ||
           strcmp(s, "True") == 0 || strcmp(s, "False") == 0 || strcmp(s, "if") == 0 ||
           strcmp(s, "else") == 0 || fn_lookup(s) >= 0;
}

const char *ntg__vkind_name(ntg_vkind k)
{
    switch (k) {
    case NTG_V_INT:
        return "int";
    case NTG_V_FLOAT:
        return "float";
    case NTG_V_BOOL:
        return "bool";
    case NTG_V_STR:
        return "str";
    case NTG_V_LIST:
        return "list";
    case NTG_V_BATCH:
        return "batch";
    }
    return "value";
}

/* ------------------------------------------------------------------- tree */

typedef enum en_kind {
    EN_INT,
    EN_FLOAT,
    EN_BOOL,
    EN_STR,
    EN_NAME,
    EN_CALL,
    EN_LIST,
    EN_INDEX,
    EN_NEG,
    EN_POS,
    EN_BIN,
    EN_CMP, /* a comparison chain: kids[0] op[0] kids[1] op[1] kids[2] ...; s holds the ops */
    EN_COND /* kids[0] if kids[1] else kids[2] */
} en_kind;

/* Binary operators; '//' is OP_FDIV. */
enum { OP_ADD = '+', OP_SUB = '-', OP_MUL = '*', OP_DIV = '/', OP_FDIV = 'F', OP_MOD = '%' };
/* Comparison operators (one character each in a chain's op string). */
enum { OP_LT = '<', OP_LE = 'L', OP_GT = '>', OP_GE = 'G', OP_EQ = 'E', OP_NE = 'N' };

typedef struct enode {
    en_kind kind;
    int op;     /* EN_BIN: OP_*; EN_CALL: fn_id */
    size_t off; /* byte offset of the node's token in the text, for messages */
    int depth;
    int64_t i;
    double f;
    const char *s;
    struct enode **kids;
    size_t n;
} enode;

struct ntg_expr {
    const char *text;
    /* text for messages: a long expression is cut in the middle ("1 + 1 + ... + 1") so
     * that the explanation after it survives the message's length limit */
    const char *shown;
    ntg_loc loc;
    int exact;
    enode *root;
};

const char *ntg__expr_text(const ntg_expr *e)
{
    return e->text;
}

int ntg__expr_is_name(const ntg_expr *e, const char **name)
{
    if (e->root->kind != EN_NAME) return 0;
    if (name) *name = e->root->s;
    return 1;
}

/* Where offset `off` of the text is: inside the scalar when the scalar maps onto columns. */
static ntg_loc loc_at(const ntg_expr *e, size_t off)
{
    ntg_loc l = e->loc;
    if (e->exact) l.col += (int)off;
    return l;
}

/* ----------------------------------------------------------------- parser */

typedef enum tok_kind { T_END, T_INT, T_FLOAT, T_NAME, T_STR, T_PUNCT } tok_kind;

typedef struct parser {
    ntg_expr *e;
    ntg_pool *pool;
    ntg_error *err;
    const char *s;
    size_t len, pos;
    /* current token */
    tok_kind tk;
    int punct; /* T_PUNCT: the character, 'F' for // */
    size_t tstart, tend;
    int64_t ival;
    double fval;
    const char *sval;
    int depth; /* recursion of parse_expr / parse_unary, bounded like the tree */
} parser;

static ntg_status perr(parser *p, size_t off, const char *what)
{
    ntg_loc l = loc_at(p->e, off);
    return ntg__err(p->err, NTG_ERR_PARSE, l.file, l.line, l.col, "bad expression '%s': %s",
                    p->e->shown, what);
}

static ntg_status nomem_p(parser *p)
{
    return ntg__err(p->err, NTG_ERR_NOMEM, p->e->loc.file, p->e->loc.line, p->e->loc.col,
                    "out of memory while parsing an expression");
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
}

static ntg_status lex_number(parser *p)
{
    const char *s = p->s;
    size_t i = p->pos;
    int is_float = 0;
    while (i < p->len && is_digit(s[i])) i++;
    if (i < p->len && s[i] == '.') {
        is_float = 1;
        i++;
        while (i < p->len && is_digit(s[i])) i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j >= p->len || !is_digit(s[j])) {
            char what[96];
            return perr(
                p, p->pos,
                ntg__strfmt(what, sizeof what, "bad number '%.*s'", (int)(j - p->pos), s + p->pos));
        }
        while (j < p->len && is_digit(s[j])) j++;
        is_float = 1;
        i = j;
    }
    if (i < p->len && is_name_char(s[i])) {
        size_t j = i;
        while (j < p->len && is_name_char(s[j])) j++;
        char what[96];
        return perr(
            p, p->pos,
            ntg__strfmt(what, sizeof what, "bad number '%.*s'", (int)(j - p->pos), s + p->pos));
    }
    p->tstart = p->pos;
    p->tend = i;
    if (is_float) {
        /* copy the span: strtod alone would also take hex and "inf" */
        char buf[128];
        size_t n = i - p->pos;
        if (n >= sizeof buf) return perr(p, p->pos, "number too long");
        memcpy(buf, s + p->pos, n);
        buf[n] = '\0';
        p->tk = T_FLOAT;
        p->fval = strtod(buf, NULL);
    } else {
        int64_t v = 0;
        for (size_t k = p->pos; k < i; k++) {
            int d = s[k] - '0';
            if (v > (INT64_MAX - d) / 10) {
                char what[96];
                return perr(p, p->pos,
                            ntg__strfmt(what, sizeof what, "integer %.*s is too large",
                                        (int)(i - p->pos), s + p->pos));
            }
            v = v * 10 + d;
        }
        p->tk = T_INT;
        p->ival = v;
    }
    p->pos = i;
    return NTG_OK;
}

static ntg_status lex_string(parser *p)
{
    char q = p->s[p->pos];
    size_t i = p->pos + 1;
    char *buf = ntg__pool_alloc(p->pool, p->len - p->pos);
    if (!buf) return nomem_p(p);
    size_t n = 0;
    for (;;) {
        if (i >= p->len) return perr(p, p->pos, "unterminated string");
        char c = p->s[i++];
        if (c == q) break;
        if (c == '\\' && i < p->len) {
            char x = p->s[i++];
            c = x == 'n' ? '\n' : x == 't' ? '\t' : x;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    p->tk = T_STR;
    p->sval = buf;
    p->tstart = p->pos;
    p->tend = i;
    p->pos = i;
    return NTG_OK;
}

static ntg_status next(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
    p->tstart = p->pos;
    if (p->pos >= p->len) {
        p->tk = T_END;
        p->tend = p->pos;
        return NTG_OK;
    }
    char c = p->s[p->pos];
    if (is_digit(c) || (c == '.' && p->pos + 1 < p->len && is_digit(p->s[p->pos + 1])))
        return lex_number(p);
    if (is_name_char(c)) {
        size_t i = p->pos;
        while (i < p->len && is_name_char(p->s[i])) i++;
        char *name = ntg__pool_strndup(p->pool, p->s + p->pos, i - p->pos);
        if (!name) return nomem_p(p);
        p->tk = T_NAME;
        p->sval = name;
        p->tend = i;
        p->pos = i;
        return NTG_OK;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    if (strchr("<>=!", c)) {
        int eq = p->pos + 1 < p->len && p->s[p->pos + 1] == '=';
        if ((c == '=' || c == '!') && !eq) {
            char what[64];
            return perr(p, p->pos,
                        ntg__strfmt(what, sizeof what, "unexpected '%c'%s", c,
                                    c == '=' ? " (compare with '==')" : " (not equal is '!=')"));
        }
        p->tk = T_PUNCT;
        p->punct = c == '<'   ? (eq ? OP_LE : OP_LT)
                   : c == '>' ? (eq ? OP_GE : OP_GT)
                   : c == '=' ? OP_EQ
                              : OP_NE;
        p->pos += eq ? 2 : 1;
        p->tend = p->pos;
        return NTG_OK;
    }
    if (strchr("+-*/%()[],", c)) {
        p->tk = T_PUNCT;
        p->punct = c;
        p->pos++;
        if (c == '/' && p->pos < p->len && p->s[p->pos] == '/') {
            p->punct = OP_FDIV;
            p->pos++;
        }
        p->tend = p->pos;
        return NTG_OK;
    }
    char what[64];
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
        return perr(
            p, p->pos,
            ntg__strfmt(what, sizeof what, "unexpected byte 0x%02x", (unsigned)(unsigned char)c));
    return perr(p, p->pos, ntg__strfmt(what, sizeof what, "unexpected '%c'", c));
}

static int at_punct(const parser *p, int c)
{
    return p->tk == T_PUNCT && p->punct == c;
}

/* "unexpected ')'" or "expected a value" for the current token. */
static ntg_status unexpected(parser *p, const char *expected)
{
    char what[160];
    if (p->tk == T_END) return perr(p, p->tstart, expected);
    return perr(p, p->tstart,
                ntg__strfmt(what, sizeof what, "unexpected '%.*s'", (int)(p->tend - p->tstart),
                            p->s + p->tstart));
}

static enode *mk(parser *p, en_kind k, size_t off)
{
    enode *n = ntg__pool_alloc(p->pool, sizeof *n);
    if (n) {
        n->kind = k;
        n->off = off;
        n->depth = 1;
    }
    return n;
}

static ntg_status set_kids(parser *p, enode *n, enode **kids, size_t k)
{
    if (k) {
        n->kids = ntg__pool_array(p->pool, k, sizeof *kids);
        if (!n->kids) return nomem_p(p);
        memcpy(n->kids, kids, k * sizeof *kids);
    }
    n->n = k;
    /* The left operand of a binary operator does not count: `1 + 1 + ... + 1` is a chain
     * the evaluator walks in a loop, not nesting (it recurses only into right operands). */
    for (size_t i = 0; i < k; i++) {
        int d = kids[i]->depth + (n->kind == EN_BIN && i == 0 ? 0 : 1);
        if (d > n->depth) n->depth = d;
    }
    if (n->depth > NTG__EXPR_MAX_DEPTH) return perr(p, n->off, "nested too deeply");
    return NTG_OK;
}

static ntg_status parse_expr(parser *p, enode **out);

/* Comma-separated expressions up to `close`, the opening token already consumed. */
static ntg_status parse_items(parser *p, int close, ntg_vec *items)
{
    ntg_status st;
    if (at_punct(p, close)) return next(p);
    for (;;) {
        enode *item = NULL;
        if ((st = parse_expr(p, &item))) return st;
        enode **slot = ntg__vec_push(items);
        if (!slot) return nomem_p(p);
        *slot = item;
        if (at_punct(p, ',')) {
            if ((st = next(p))) return st;
            if (at_punct(p, close)) return next(p); /* a trailing comma, as in Python */
            continue;
        }
        if (at_punct(p, close)) return next(p);
        char what[32];
        return unexpected(p, ntg__strfmt(what, sizeof what, "expected '%c'", close));
    }
}

static ntg_status parse_call(parser *p, enode *n, const char *name, size_t off)
{
    int fn = fn_lookup(name);
    if (fn < 0) {
        ntg_nearest near;
        ntg__nearest_init(&near, name);
        for (int i = 0; i < N_FN; i++) ntg__nearest_try(&near, fn_table[i].name);
        char hint[96];
        ntg_loc l = loc_at(p->e, off);
        return ntg__err(p->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                        "unknown function '%s' in expression%s", name,
                        ntg__nearest_hint(&near, hint, sizeof hint));
    }
    ntg_vec items;
    ntg__vec_init(&items, sizeof(enode *));
    ntg_status st = next(p); /* '(' */
    if (!st) st = parse_items(p, ')', &items);
    if (!st) {
        int got = (int)items.len;
        if (got < fn_table[fn].min_args || got > fn_table[fn].max_args) {
            ntg_loc l = loc_at(p->e, off);
            if (fn_table[fn].min_args == fn_table[fn].max_args)
                st = ntg__err(p->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                              "%s() takes %d argument%s, got %d", name, fn_table[fn].min_args,
                              fn_table[fn].min_args == 1 ? "" : "s", got);
            else
                st = ntg__err(p->err, NTG_ERR_GRAPH, l.file, l.line, l.col,
                              "%s() takes at least %d argument%s, got %d", name,
                              fn_table[fn].min_args, fn_table[fn].min_args == 1 ? "" : "s", got);
        }
    }
    if (!st) {
        n->kind = EN_CALL;
        n->op = fn;
        n->s = name;
        st = set_kids(p, n, items.data, items.len);
    }
    ntg__vec_free(&items);
    return st;
}

static ntg_status parse_primary(parser *p, enode **out)
{
    ntg_status st;
    size_t off = p->tstart;
    enode *n = mk(p, EN_INT, off);
    if (!n) return nomem_p(p);
    *out = n;
    switch (p->tk) {
    case T_INT:
        n->i = p->ival;
        return next(p);
    case T_FLOAT:
        n->kind = EN_FLOAT;
        n->f = p->fval;
        return next(p);
    case T_STR:
        n->kind = EN_STR;
        n->s = p->sval;
        return next(p);
    case T_NAME: {
        const char *name = p->sval;
        if ((st = next(p))) return st;
        if (at_punct(p, '(')) return parse_call(p, n, name, off);
        if (strcmp(name, "true") == 0 || strcmp(name, "True") == 0 || strcmp(name, "false") == 0 ||
            strcmp(name, "False") == 0) {
            n->kind = EN_BOOL;
            n->i = name[0] == 't' || name[0] == 'T';
            return NTG_OK;
        }
        if (fn_lookup(name) >= 0) {
            char what[96];
            return perr(p, off,
                        ntg__strfmt(what, sizeof what, "'%s' is a function: call it as %s(...)",
                                    name, name));
        }
        n->kind = EN_NAME;
        n->s = name;
        return NTG_OK;
    }
    case T_PUNCT:
        if (p->punct == '(') {
            if ((st = next(p))) return st;
            if ((st = parse_expr(p, out))) return st;
            if (!at_punct(p, ')')) return unexpected(p, "expected ')'");
            return next(p);
        }
        if (p->punct == '[') {
            ntg_vec items;
            ntg__vec_init(&items, sizeof(enode *));
            n->kind = EN_LIST;
            st = next(p);
            if (!st) st = parse_items(p, ']', &items);
            if (!st) st = set_kids(p, n, items.data, items.len);
            ntg__vec_free(&items);
            return st;
        }
        break;
    case T_END:
        break;
    }
    return unexpected(p, "expected a value");
}

static ntg_status parse_postfix(parser *p, enode **out)
{
    ntg_status st = parse_primary(p, out);
    while (!st && at_punct(p, '[')) {
        enode *idx = NULL, *n = mk(p, EN_INDEX, p->tstart);
        if (!n) return nomem_p(p);
        if ((st = next(p)) || (st = parse_expr(p, &idx))) return st;
        if (!at_punct(p, ']')) return unexpected(p, "expected ']'");
        enode *kids[2] = {*out, idx};
        if ((st = set_kids(p, n, kids, 2))) return st;
        *out = n;
        st = next(p);
    }
    return st;
}

static ntg_status parse_unary(parser *p, enode **out)
{
    if (at_punct(p, '-') || at_punct(p, '+')) {
        enode *n = mk(p, p->punct == '-' ? EN_NEG : EN_POS, p->tstart), *x = NULL;
        if (!n) return nomem_p(p);
        if (++p->depth > NTG__EXPR_MAX_DEPTH) return perr(p, p->tstart, "nested too deeply");
        ntg_status st = next(p);
        if (!st) st = parse_unary(p, &x);
        if (!st) st = set_kids(p, n, &x, 1);
        p->depth--;
        *out = n;
        return st;
    }
    return parse_postfix(p, out);
}

static ntg_status parse_binary(parser *p, int level, enode **out)
{
    ntg_status st = level ? parse_unary(p, out) : parse_binary(p, 1, out);
    while (!st && p->tk == T_PUNCT &&
           (level ? (p->punct == '*' || p->punct == '/' || p->punct == OP_FDIV || p->punct == '%')
                  : (p->punct == '+' || p->punct == '-'))) {
        enode *n = mk(p, EN_BIN, p->tstart), *rhs = NULL;
        if (!n) return nomem_p(p);
        n->op = p->punct;
        if ((st = next(p))) return st;
        if ((st = level ? parse_unary(p, &rhs) : parse_binary(p, 1, &rhs))) return st;
        enode *kids[2] = {*out, rhs};
        if ((st = set_kids(p, n, kids, 2))) return st;
        *out = n;
    }
    return st;
}

static int is_cmp(const parser *p)
{
    return p->tk == T_PUNCT && (p->punct == OP_LT || p->punct == OP_LE || p->punct == OP_GT ||
                                p->punct == OP_GE || p->punct == OP_EQ || p->punct == OP_NE);
}

static int at_word(const parser *p, const char *w)
{
    return p->tk == T_NAME && strcmp(p->sval, w) == 0;
}

/* comparison := arith (cmpop arith)*, chained as Python's a < b <= c. */
static ntg_status parse_comparison(parser *p, enode **out)
{
    ntg_status st = parse_binary(p, 0, out);
    if (st || !is_cmp(p)) return st;
    enode *n = mk(p, EN_CMP, p->tstart);
    if (!n) return nomem_p(p);
    ntg_vec kids;
    ntg__vec_init(&kids, sizeof(enode *));
    char ops[65];
    size_t nops = 0;
    enode **slot = ntg__vec_push(&kids);
    if (!slot) return nomem_p(p);
    *slot = *out;
    while (!st && is_cmp(p)) {
        if (nops == sizeof ops - 1) {
            st = perr(p, p->tstart, "more than 64 comparisons in one chain");
            break;
        }
        ops[nops++] = (char)p->punct;
        enode *rhs = NULL;
        if ((st = next(p)) || (st = parse_binary(p, 0, &rhs))) break;
        if (!(slot = ntg__vec_push(&kids))) {
            st = nomem_p(p);
            break;
        }
        *slot = rhs;
    }
    ops[nops] = '\0';
    if (!st) st = set_kids(p, n, kids.data, kids.len);
    if (!st && !(n->s = ntg__pool_strndup(p->pool, ops, nops))) st = nomem_p(p);
    ntg__vec_free(&kids);
    if (!st) *out = n;
    return st;
}

/* expr := comparison ['if' comparison 'else' expr] */
static ntg_status parse_expr(parser *p, enode **out)
{
    if (++p->depth > NTG__EXPR_MAX_DEPTH) return perr(p, p->tstart, "nested too deeply");
    ntg_status st = parse_comparison(p, out);
    if (!st && at_word(p, "if")) {
        enode *n = mk(p, EN_COND, p->tstart), *kids[3] = {*out, NULL, NULL};
        if (!n) return nomem_p(p);
        if (!(st = next(p))) st = parse_comparison(p, &kids[1]);
        if (!st && !at_word(p, "else"))
            st = unexpected(p, "expected 'else' (a conditional is 'a if c else b')");
        if (!st) st = next(p);
        if (!st) st = parse_expr(p, &kids[2]);
        if (!st) st = set_kids(p, n, kids, 3);
        if (!st) *out = n;
    }
    p->depth--;
    return st;
}

ntg_status ntg__expr_parse(ntg_pool *pool, const char *text, size_t len, ntg_loc loc, int exact,
                           ntg_expr **out, ntg_error *err)
{
    *out = NULL;
    ntg_expr *e = ntg__pool_alloc(pool, sizeof *e);
    char *t = e ? ntg__pool_strndup(pool, text, len) : NULL;
    if (!t)
        return ntg__err(err, NTG_ERR_NOMEM, loc.file, loc.line, loc.col,
                        "out of memory while parsing an expression");
    e->text = t;
    e->shown = t;
    if (len > NTG__EXPR_SHOWN) {
        /* keep the start and the end, where the mistake usually is */
        e->shown = ntg__pool_fmt(pool, "%.*s...%s", (int)(NTG__EXPR_SHOWN * 2 / 3), t,
                                 t + len - NTG__EXPR_SHOWN / 3);
        if (!e->shown)
            return ntg__err(err, NTG_ERR_NOMEM, loc.file, loc.line, loc.col,
                            "out of memory while parsing an expression");
    }
    e->loc = loc;
    e->exact = exact;
    parser p;
    memset(&p, 0, sizeof p);
    p.e = e;
    p.pool = pool;
    p.err = err;
    p.s = t;
    p.len = len;
    ntg_status st = next(&p);
    if (st) return st;
    if (p.tk == T_END) return perr(&p, 0, "empty");
    if ((st = parse_expr(&p, &e->root))) return st;
    if (p.tk != T_END) return unexpected(&p, "expected the end");
    *out = e;
    return NTG_OK;
}

/* -------------------------------------------------------------- evaluator */

typedef struct evctx {
    const ntg_expr *e;
    const ntg_expr_env *env;
    ntg_error *err;
} evctx;

static ntg_status everr(const evctx *c, size_t off, const char *fmt, ...) NTG_PRINTF(3, 4);

static ntg_status everr(const evctx *c, size_t off, const char *fmt, ...)
{
    ntg_loc l = loc_at(c->e, off);
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(c->err, NTG_ERR_GRAPH, l.file, l.line, l.col, fmt, ap);
    va_end(ap);
    return NTG_ERR_GRAPH;
}

static ntg_status nomem_e(const evctx *c)
{
    ntg_loc l = c->e->loc;
    return ntg__err(c->err, NTG_ERR_NOMEM, l.file, l.line, l.col,
                    "out of memory while evaluating '%s'", c->e->shown);
}

static ntg_status batch_misuse(const evctx *c, size_t off)
{
    return everr(c, off,
                 "'batch' is only valid as the first entry of an input shape or a reshape shape");
}

static ntg_value v_int(int64_t i)
{
    ntg_value v;
    memset(&v, 0, sizeof v);
    v.kind = NTG_V_INT;
    v.i = i;
    return v;
}

static ntg_value v_float(double f)
{
    ntg_value v;
    memset(&v, 0, sizeof v);
    v.kind = NTG_V_FLOAT;
    v.f = f;
    return v;
}

static int is_num(const ntg_value *v)
{
    return v->kind == NTG_V_INT || v->kind == NTG_V_FLOAT || v->kind == NTG_V_BOOL;
}

/* Python treats bool as an int in arithmetic. */
static int is_intlike(const ntg_value *v)
{
    return v->kind == NTG_V_INT || v->kind == NTG_V_BOOL;
}

static double as_f(const ntg_value *v)
{
    return v->kind == NTG_V_FLOAT ? v->f : (double)v->i;
}

static int add_ovf(int64_t a, int64_t b, int64_t *r)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) return 1;
    *r = a + b;
    return 0;
}

static int sub_ovf(int64_t a, int64_t b, int64_t *r)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b)) return 1;
    *r = a - b;
    return 0;
}

static int mul_ovf(int64_t a, int64_t b, int64_t *r)
{
    if (a > 0) {
        if (b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a) return 1;
    } else if (a < 0) {
        if (b > 0 ? a < INT64_MIN / b : (b != 0 && a < INT64_MAX / b)) return 1;
    }
    *r = a * b;
    return 0;
}

/* Python's float divmod (Objects/floatobject.c): floor quotient and a remainder with the
 * divisor's sign, exact where fmod is. */
static void float_divmod(double vx, double wx, double *floordiv, double *mod)
{
    double m = fmod(vx, wx);
    double div = (vx - m) / wx;
    if (m != 0.0) {
        if ((wx < 0) != (m < 0)) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, wx);
    }
    double fd;
    if (div != 0.0) {
        fd = floor(div);
        if (div - fd > 0.5) fd += 1.0;
    } else {
        fd = copysign(0.0, vx / wx);
    }
    *floordiv = fd;
    *mod = m;
}

static ntg_status list_concat(const evctx *c, const ntg_value *a, const ntg_value *b, size_t off,
                              ntg_value *out)
{
    size_t n = a->n + b->n;
    if (n > NTG__EXPR_MAX_LIST) return everr(c, off, "list too long in '%s'", c->e->shown);
    ntg_value *items = n ? ntg__pool_array(c->env->pool, n, sizeof *items) : NULL;
    if (n && !items) return nomem_e(c);
    if (a->n) memcpy(items, a->items, a->n * sizeof *items);
    if (b->n) memcpy(items + a->n, b->items, b->n * sizeof *items);
    memset(out, 0, sizeof *out);
    out->kind = NTG_V_LIST;
    out->items = items;
    out->n = n;
    return NTG_OK;
}

static ntg_status list_repeat(const evctx *c, const ntg_value *a, int64_t k, size_t off,
                              ntg_value *out)
{
    memset(out, 0, sizeof *out);
    out->kind = NTG_V_LIST;
    if (k <= 0 || a->n == 0) return NTG_OK;
    if ((uint64_t)k > NTG__EXPR_MAX_LIST / a->n)
        return everr(c, off, "list too long in '%s'", c->e->shown);
    size_t n = a->n * (size_t)k;
    ntg_value *items = ntg__pool_array(c->env->pool, n, sizeof *items);
    if (!items) return nomem_e(c);
    for (size_t r = 0; r < (size_t)k; r++) memcpy(items + r * a->n, a->items, a->n * sizeof *items);
    out->items = items;
    out->n = n;
    return NTG_OK;
}

static const char *op_text(int op)
{
    switch (op) {
    case OP_ADD:
        return "+";
    case OP_SUB:
        return "-";
    case OP_MUL:
        return "*";
    case OP_DIV:
        return "/";
    case OP_FDIV:
        return "//";
    case OP_MOD:
        return "%";
    }
    return "?";
}

static ntg_status binop(const evctx *c, const enode *n, const ntg_value *a, const ntg_value *b,
                        ntg_value *out)
{
    int op = n->op;
    size_t off = n->off;
    if (a->kind == NTG_V_BATCH) return batch_misuse(c, n->kids[0]->off);
    if (b->kind == NTG_V_BATCH) return batch_misuse(c, n->kids[1]->off);
    if (is_intlike(a) && is_intlike(b) && op != OP_DIV) {
        int64_t x = a->i, y = b->i, r = 0;
        int ovf = 0;
        switch (op) {
        case OP_ADD:
            ovf = add_ovf(x, y, &r);
            break;
        case OP_SUB:
            ovf = sub_ovf(x, y, &r);
            break;
        case OP_MUL:
            ovf = mul_ovf(x, y, &r);
            break;
        case OP_FDIV:
        case OP_MOD:
            if (y == 0) return everr(c, off, "division by zero in '%s'", c->e->shown);
            if (y == -1) {
                /* INT64_MIN / -1 overflows; anything % -1 is 0 */
                if (op == OP_MOD) {
                    r = 0;
                } else if (x == INT64_MIN) {
                    ovf = 1;
                } else {
                    r = -x;
                }
                break;
            }
            {
                int64_t q = x / y, m = x % y;
                /* C truncates; Python floors: the remainder takes the divisor's sign */
                if (m != 0 && ((m < 0) != (y < 0))) {
                    q -= 1;
                    m += y;
                }
                r = op == OP_FDIV ? q : m;
            }
            break;
        }
        if (ovf) return everr(c, off, "integer overflow in '%s'", c->e->shown);
        *out = v_int(r);
        return NTG_OK;
    }
    if (is_num(a) && is_num(b)) {
        double x = as_f(a), y = as_f(b), r = 0;
        switch (op) {
        case OP_ADD:
            r = x + y;
            break;
        case OP_SUB:
            r = x - y;
            break;
        case OP_MUL:
            r = x * y;
            break;
        case OP_DIV:
        case OP_FDIV:
        case OP_MOD: {
            if (y == 0.0) return everr(c, off, "division by zero in '%s'", c->e->shown);
            if (op == OP_DIV) {
                r = x / y;
            } else {
                double q, m;
                float_divmod(x, y, &q, &m);
                r = op == OP_FDIV ? q : m;
            }
            break;
        }
        }
        *out = v_float(r);
        return NTG_OK;
    }
    if (op == OP_ADD && a->kind == NTG_V_LIST && b->kind == NTG_V_LIST)
        return list_concat(c, a, b, off, out);
    if (op == OP_MUL && a->kind == NTG_V_LIST && is_intlike(b))
        return list_repeat(c, a, b->i, off, out);
    if (op == OP_MUL && is_intlike(a) && b->kind == NTG_V_LIST)
        return list_repeat(c, b, a->i, off, out);
    if (op == OP_ADD && a->kind == NTG_V_STR && b->kind == NTG_V_STR) {
        if (strlen(a->s) + strlen(b->s) > NTG__EXPR_MAX_LIST)
            return everr(c, off, "string too long in '%s'", c->e->shown);
        char *s = ntg__pool_fmt(c->env->pool, "%s%s", a->s, b->s);
        if (!s) return nomem_e(c);
        memset(out, 0, sizeof *out);
        out->kind = NTG_V_STR;
        out->s = s;
        return NTG_OK;
    }
    return everr(c, off, "cannot apply '%s' to %s and %s in '%s'", op_text(op),
                 ntg__vkind_name(a->kind), ntg__vkind_name(b->kind), c->e->shown);
}

/* A float that must become an int (ceil, floor, round, int). */
static ntg_status to_int(const evctx *c, size_t off, double x, int64_t *out)
{
    /* 2^63 is exactly representable; every double below it fits in int64 */
    if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
        return everr(c, off, "cannot convert %g to an integer in '%s'", x, c->e->shown);
    *out = (int64_t)x;
    return NTG_OK;
}

static double round_half_even(double x)
{
    double r = floor(x), d = x - r;
    if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
    return r;
}

static ntg_status eval_node(const evctx *c, const enode *n, int bare_ok, ntg_value *out);

static ntg_status call_minmax(const evctx *c, const enode *n, const ntg_value *args, size_t na,
                              ntg_value *out)
{
    const char *name = fn_table[n->op].name;
    const ntg_value *items = args;
    size_t cnt = na;
    if (na == 1) {
        if (args[0].kind != NTG_V_LIST)
            return everr(c, n->off, "%s() of one argument needs a list, not %s", name,
                         ntg__vkind_name(args[0].kind));
        items = args[0].items;
        cnt = args[0].n;
        if (cnt == 0) return everr(c, n->off, "%s() of an empty list", name);
    }
    const ntg_value *best = NULL;
    for (size_t k = 0; k < cnt; k++) {
        const ntg_value *v = &items[k];
        if (v->kind == NTG_V_BATCH) return batch_misuse(c, n->off);
        if (!is_num(v))
            return everr(c, n->off, "%s() needs numbers, not %s", name, ntg__vkind_name(v->kind));
        if (!best) {
            best = v;
            continue;
        }
        int greater;
        if (is_intlike(v) && is_intlike(best))
            greater = v->i > best->i;
        else
            greater = as_f(v) > as_f(best);
        int less;
        if (is_intlike(v) && is_intlike(best))
            less = v->i < best->i;
        else
            less = as_f(v) < as_f(best);
        /* Python keeps the first of equal extremes */
        if (n->op == F_MAX ? greater : less) best = v;
    }
    *out = *best;
    if (out->kind == NTG_V_BOOL) *out = v_int(out->i);
    return NTG_OK;
}

static ntg_status eval_call(const evctx *c, const enode *n, ntg_value *out)
{
    ntg_value argv[8], *args = argv;
    if (n->n > 8) {
        args = ntg__pool_array(c->env->pool, n->n, sizeof *args);
        if (!args) return nomem_e(c);
    }
    for (size_t k = 0; k < n->n; k++) {
        ntg_status st = eval_node(c, n->kids[k], 0, &args[k]);
        if (st) return st;
    }
    const char *name = fn_table[n->op].name;
    if (n->op == F_MAX || n->op == F_MIN) return call_minmax(c, n, args, n->n, out);
    const ntg_value *a = &args[0];
    if (a->kind == NTG_V_BATCH) return batch_misuse(c, n->kids[0]->off);
    if (n->op == F_STR) { /* Python's str(): the canonical text, a string as itself */
        out->kind = NTG_V_STR;
        out->s = ntg__value_str(c->env->pool, a);
        return out->s ? NTG_OK : nomem_e(c);
    }
    if (n->op == F_LEN) {
        if (a->kind == NTG_V_LIST) {
            *out = v_int((int64_t)a->n);
            return NTG_OK;
        }
        if (a->kind == NTG_V_STR) {
            *out = v_int((int64_t)strlen(a->s));
            return NTG_OK;
        }
        return everr(c, n->off, "len() takes a list or a string, not %s", ntg__vkind_name(a->kind));
    }
    if (!is_num(a))
        return everr(c, n->off, "%s() takes a number, not %s", name, ntg__vkind_name(a->kind));
    int64_t r = 0;
    ntg_status st = NTG_OK;
    switch ((fn_id)n->op) {
    case F_CEIL:
    case F_FLOOR:
    case F_ROUND:
    case F_INT:
        if (is_intlike(a)) {
            r = a->i;
        } else {
            double x = a->f;
            x = n->op == F_CEIL    ? ceil(x)
                : n->op == F_FLOOR ? floor(x)
                : n->op == F_ROUND ? round_half_even(x)
                                   : trunc(x);
            st = to_int(c, n->off, x, &r);
        }
        *out = v_int(r);
        return st;
    case F_ABS:
        if (is_intlike(a)) {
            if (a->i == INT64_MIN) return everr(c, n->off, "integer overflow in '%s'", c->e->shown);
            *out = v_int(a->i < 0 ? -a->i : a->i);
        } else {
            *out = v_float(fabs(a->f));
        }
        return NTG_OK;
    case F_SQRT:
        if (as_f(a) < 0)
            return everr(c, n->off, "sqrt() of a negative number in '%s'", c->e->shown);
        *out = v_float(sqrt(as_f(a)));
        return NTG_OK;
    case F_FLOAT:
        *out = v_float(as_f(a));
        return NTG_OK;
    case F_MAX:
    case F_MIN:
    case F_LEN:
    case F_STR:
        break;
    }
    return NTG_ERR_INTERNAL;
}

static ntg_status eval_name(const evctx *c, const enode *n, int bare_ok, ntg_value *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(n->s, "batch") == 0) {
        out->kind = NTG_V_BATCH;
        return NTG_OK;
    }
    const ntg_expr_env *env = c->env;
    ntg_status st = NTG_ERR_NOT_FOUND;
    if (env->lookup) st = env->lookup(env->user, n->s, loc_at(c->e, n->off), out, c->err);
    if (st != NTG_ERR_NOT_FOUND) return st;
    if (bare_ok && env->bare_words) {
        out->kind = NTG_V_STR;
        out->s = ntg__pool_strdup(env->pool, n->s);
        return out->s ? NTG_OK : nomem_e(c);
    }
    ntg_nearest near;
    ntg__nearest_init(&near, n->s);
    if (env->names) env->names(env->user, &near);
    char hint[96];
    return everr(c, n->off, "undefined name '%s' in expression%s", n->s,
                 ntg__nearest_hint(&near, hint, sizeof hint));
}

/* A left-associative chain `a + b * c - d ...` (binary nodes down the left operands),
 * evaluated in a loop from the innermost left operand out, so that the recursion depth
 * is the nesting of right operands and parentheses only. */
static ntg_status eval_chain(const evctx *c, const enode *top, ntg_value *out)
{
    size_t len = 0;
    for (const enode *n = top; n->kind == EN_BIN; n = n->kids[0]) len++;
    const enode *local[64], **spine = local;
    if (len > 64 && !(spine = malloc(len * sizeof *spine)))
        return everr(c, top->off, "out of memory while evaluating '%s'", c->e->shown);
    size_t k = len;
    for (const enode *n = top; n->kind == EN_BIN; n = n->kids[0]) spine[--k] = n;
    /* spine[0] is the innermost binary node: its left operand is not a binary node */
    ntg_value acc, rhs, res;
    ntg_status st = eval_node(c, spine[0]->kids[0], 0, &acc);
    for (size_t i = 0; i < len && !st; i++) {
        st = eval_node(c, spine[i]->kids[1], 0, &rhs);
        if (!st) st = binop(c, spine[i], &acc, &rhs, &res);
        if (!st) acc = res;
    }
    if (!st) *out = acc;
    if (spine != local) free(spine);
    return st;
}

static const char *cmp_text(int op)
{
    return op == OP_LT   ? "<"
           : op == OP_LE ? "<="
           : op == OP_GT ? ">"
           : op == OP_GE ? ">="
           : op == OP_EQ ? "=="
                         : "!=";
}

/* Python's ==: numbers by value (bool counts as 0 and 1), strings by bytes, lists item by
 * item; values of different kinds are unequal. */
static int values_equal(const ntg_value *a, const ntg_value *b)
{
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) return a->i == b->i;
        return as_f(a) == as_f(b);
    }
    if (a->kind != b->kind) return 0;
    if (a->kind == NTG_V_STR) return strcmp(a->s, b->s) == 0;
    if (a->kind == NTG_V_LIST) {
        if (a->n != b->n) return 0;
        for (size_t k = 0; k < a->n; k++)
            if (!values_equal(&a->items[k], &b->items[k])) return 0;
        return 1;
    }
    return 1; /* batch == batch */
}

/* a op b as a bool, or an error for orderings Python refuses (and lists, not ordered here). */
static ntg_status compare(const evctx *c, const enode *n, int op, const ntg_value *a,
                          const ntg_value *b, int *res)
{
    if (a->kind == NTG_V_BATCH || b->kind == NTG_V_BATCH) return batch_misuse(c, n->off);
    if (op == OP_EQ || op == OP_NE) {
        *res = values_equal(a, b) == (op == OP_EQ);
        return NTG_OK;
    }
    int s;
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) {
            s = (a->i > b->i) - (a->i < b->i);
        } else {
            double x = as_f(a), y = as_f(b);
            if (isnan(x) || isnan(y)) { /* every ordering with NaN is false */
                *res = 0;
                return NTG_OK;
            }
            s = (x > y) - (x < y);
        }
    } else if (a->kind == NTG_V_STR && b->kind == NTG_V_STR) {
        int r = strcmp(a->s, b->s);
        s = (r > 0) - (r < 0);
    } else {
        return everr(c, n->off, "cannot compare %s %s %s in '%s'", ntg__vkind_name(a->kind),
                     cmp_text(op), ntg__vkind_name(b->kind), c->e->shown);
    }
    *res = op == OP_LT ? s < 0 : op == OP_LE ? s <= 0 : op == OP_GT ? s > 0 : s >= 0;
    return NTG_OK;
}

/* Python's truth value: false, 0, 0.0, '' and [] are false. */
static ntg_status truth(const evctx *c, const enode *n, const ntg_value *v, int *res)
{
    switch (v->kind) {
    case NTG_V_INT:
    case NTG_V_BOOL:
        *res = v->i != 0;
        return NTG_OK;
    case NTG_V_FLOAT:
        *res = v->f != 0.0;
        return NTG_OK;
    case NTG_V_STR:
        *res = v->s[0] != '\0';
        return NTG_OK;
    case NTG_V_LIST:
        *res = v->n != 0;
        return NTG_OK;
    default:
        return batch_misuse(c, n->off);
    }
}

static ntg_status eval_node(const evctx *c, const enode *n, int bare_ok, ntg_value *out)
{
    ntg_status st;
    memset(out, 0, sizeof *out);
    switch (n->kind) {
    case EN_INT:
        *out = v_int(n->i);
        return NTG_OK;
    case EN_FLOAT:
        *out = v_float(n->f);
        return NTG_OK;
    case EN_BOOL:
        out->kind = NTG_V_BOOL;
        out->i = n->i;
        return NTG_OK;
    case EN_STR:
        out->kind = NTG_V_STR;
        out->s = ntg__pool_strdup(c->env->pool, n->s);
        return out->s ? NTG_OK : nomem_e(c);
    case EN_NAME:
        return eval_name(c, n, bare_ok, out);
    case EN_CALL:
        return eval_call(c, n, out);
    case EN_LIST: {
        ntg_value *items = n->n ? ntg__pool_array(c->env->pool, n->n, sizeof *items) : NULL;
        if (n->n && !items) return nomem_e(c);
        for (size_t k = 0; k < n->n; k++)
            if ((st = eval_node(c, n->kids[k], bare_ok, &items[k]))) return st;
        out->kind = NTG_V_LIST;
        out->items = items;
        out->n = n->n;
        return NTG_OK;
    }
    case EN_INDEX: {
        ntg_value base, idx;
        if ((st = eval_node(c, n->kids[0], 0, &base))) return st;
        if ((st = eval_node(c, n->kids[1], 0, &idx))) return st;
        if (base.kind != NTG_V_LIST && base.kind != NTG_V_STR)
            return everr(c, n->off, "cannot index %s in '%s'", ntg__vkind_name(base.kind),
                         c->e->shown);
        if (!is_intlike(&idx))
            return everr(c, n->kids[1]->off, "an index must be an integer, not %s",
                         ntg__vkind_name(idx.kind));
        int64_t len = base.kind == NTG_V_LIST ? (int64_t)base.n : (int64_t)strlen(base.s);
        int64_t i = idx.i < 0 ? idx.i + len : idx.i;
        if (i < 0 || i >= len)
            return everr(c, n->kids[1]->off, "index %lld is out of range for a %s of length %lld",
                         (long long)idx.i, base.kind == NTG_V_LIST ? "list" : "string",
                         (long long)len);
        if (base.kind == NTG_V_LIST) {
            *out = base.items[i];
            return NTG_OK;
        }
        out->kind = NTG_V_STR;
        out->s = ntg__pool_strndup(c->env->pool, base.s + i, 1);
        return out->s ? NTG_OK : nomem_e(c);
    }
    case EN_NEG:
    case EN_POS: {
        ntg_value x;
        if ((st = eval_node(c, n->kids[0], 0, &x))) return st;
        if (x.kind == NTG_V_BATCH) return batch_misuse(c, n->kids[0]->off);
        if (is_intlike(&x)) {
            if (n->kind == EN_NEG && x.i == INT64_MIN)
                return everr(c, n->off, "integer overflow in '%s'", c->e->shown);
            *out = v_int(n->kind == EN_NEG ? -x.i : x.i);
            return NTG_OK;
        }
        if (x.kind == NTG_V_FLOAT) {
            *out = v_float(n->kind == EN_NEG ? -x.f : x.f);
            return NTG_OK;
        }
        return everr(c, n->off, "cannot apply unary '%s' to %s in '%s'",
                     n->kind == EN_NEG ? "-" : "+", ntg__vkind_name(x.kind), c->e->shown);
    }
    case EN_BIN:
        return eval_chain(c, n, out);
    case EN_CMP: {
        /* a < b < c is a < b and b < c, each operand evaluated once, stopping at the first
         * false link (Python's chain) */
        ntg_value a, b;
        int r = 1;
        if ((st = eval_node(c, n->kids[0], 0, &a))) return st;
        for (size_t k = 1; k < n->n && r; k++) {
            if ((st = eval_node(c, n->kids[k], 0, &b))) return st;
            if ((st = compare(c, n, n->s[k - 1], &a, &b, &r))) return st;
            a = b;
        }
        out->kind = NTG_V_BOOL;
        out->i = r;
        return NTG_OK;
    }
    case EN_COND: {
        /* only the chosen branch is evaluated; a bare word is allowed in either branch where
         * it is allowed for the whole value (activation: "gelu if deep else relu") */
        ntg_value cond;
        int r = 0;
        if ((st = eval_node(c, n->kids[1], 0, &cond))) return st;
        if ((st = truth(c, n->kids[1], &cond, &r))) return st;
        return eval_node(c, n->kids[r ? 0 : 2], bare_ok, out);
    }
    }
    return NTG_ERR_INTERNAL;
}

ntg_status ntg__expr_eval(const ntg_expr *e, const ntg_expr_env *env, ntg_value *out,
                          ntg_error *err)
{
    evctx c = {e, env, err};
    return eval_node(&c, e->root, 1, out);
}
