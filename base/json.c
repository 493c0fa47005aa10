/* json.c — strict RFC 8259 JSON reader into a pool-allocated tree, and the writer helpers. */
#include "json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"

/* ------------------------------------------------------------------ UTF-8 */

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), 0 if invalid.
 * The ranges are RFC 3629's table: they exclude overlongs, UTF-16 surrogates
 * (ED A0..BF) and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3) return 0;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (n < 4) return 0;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int ntg__utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* ---------------------------------------------------------------- numbers */

int ntg__json_strtod(const char *s, size_t n, double *out)
{
    /* strtod reads the locale's decimal point; an embedding program may have
     * called setlocale(LC_NUMERIC, "de_DE"), so spell '.' the locale's way. */
    const char *dp = localeconv()->decimal_point;
    size_t dpl = dp && dp[0] ? strlen(dp) : 0;
    if (!dpl) {
        dp = ".";
        dpl = 1;
    }
    char small[257];
    char *buf = small;
    if (n + dpl >= sizeof small) {
        buf = malloc(n + dpl + 1);
        if (!buf) return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            memcpy(buf + k, dp, dpl);
            k += dpl;
        } else {
            buf[k++] = s[i];
        }
    }
    buf[k] = '\0';
    int saved = errno;
    errno = 0;
    double v = strtod(buf, NULL);
    int over = errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL);
    errno = saved;
    if (buf != small) free(buf);
    *out = v;
    return over;
}

/* ----------------------------------------------------------------- reader */

typedef struct jparser {
    const unsigned char *s;
    size_t len, pos;
    ntg_pool *pool;
    ntg_vec stack; /* const ntg_json *: items (and keys) of the open containers */
    char *msg;
    size_t cap;
    size_t err_off;
    ntg_status status;
} jparser;

static int jfail(jparser *p, size_t off, ntg_status status, const char *fmt, ...) NTG_PRINTF(4, 5);

static int jfail(jparser *p, size_t off, ntg_status status, const char *fmt, ...)
{
    if (p->status == NTG_OK) {
        p->status = status;
        p->err_off = off;
        if (p->msg && p->cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->msg, p->cap, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int jnomem(jparser *p)
{
    return jfail(p, p->pos, NTG_ERR_NOMEM, "out of memory");
}

/* "'x'" for printable ASCII, "byte 0xNN" otherwise, "end of input" past the end. */
static const char *describe(const jparser *p, size_t at, char *buf, size_t cap)
{
    if (at >= p->len) return "end of input";
    unsigned c = p->s[at];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, cap, "'%c'", (char)c);
    else
        snprintf(buf, cap, "byte 0x%02X", c);
    return buf;
}

static int unexpected(jparser *p, const char *what)
{
    char b[24];
    return jfail(p, p->pos, NTG_ERR_PARSE, "unexpected %s, expected %s",
                 describe(p, p->pos, b, sizeof b), what);
}

static void skip_ws(jparser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static ntg_json *new_node(jparser *p, ntg_json_kind kind, size_t off)
{
    ntg_json *v = ntg__pool_alloc(p->pool, sizeof *v);
    if (!v) {
        jnomem(p);
        return NULL;
    }
    v->kind = kind;
    v->offset = off;
    return v;
}

static int push(jparser *p, const ntg_json *v)
{
    const ntg_json **slot = ntg__vec_push(&p->stack);
    if (!slot) return jnomem(p);
    *slot = v;
    return 0;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Four hex digits at p->pos (just after "\u"); -1 after reporting. */
static long hex4(jparser *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        size_t at = p->pos + (size_t)i;
        int h = at < p->len ? hexval(p->s[at]) : -1;
        if (h < 0) {
            char b[24];
            return jfail(p, at, NTG_ERR_PARSE,
                         "unexpected %s in a \\u escape, expected a hex digit",
                         describe(p, at, b, sizeof b));
        }
        v = v * 16 + h;
    }
    p->pos += 4;
    return v;
}

static size_t put_utf8(unsigned char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at p->pos (on the opening quote). */
static const ntg_json *parse_string(jparser *p)
{
    size_t start = p->pos;
    /* Find the closing quote first: the unescaped text is never longer than the
     * raw text, so one pool block of that size holds it. */
    size_t end = start + 1;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) {
        jfail(p, start, NTG_ERR_PARSE, "unterminated string");
        return NULL;
    }
    ntg_json *v = new_node(p, NTG_JSON_STRING, start);
    unsigned char *o = v ? ntg__pool_alloc(p->pool, end - start) : NULL;
    if (!o) {
        if (v) jnomem(p);
        return NULL;
    }
    size_t k = 0;
    p->pos = start + 1;
    while (p->pos < end) {
        unsigned c = p->s[p->pos];
        if (c < 0x20) {
            jfail(p, p->pos, NTG_ERR_PARSE, "control character U+%04X in a string (escape it)", c);
            return NULL;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(p->s + p->pos, end - p->pos);
            if (!n) {
                jfail(p, p->pos, NTG_ERR_PARSE, "invalid UTF-8 in a string");
                return NULL;
            }
            memcpy(o + k, p->s + p->pos, n);
            k += n;
            p->pos += n;
            continue;
        }
        if (c != '\\') {
            o[k++] = (unsigned char)c;
            p->pos++;
            continue;
        }
        size_t esc = p->pos;
        unsigned e = p->s[p->pos + 1]; /* < end: the scan above skipped pairs */
        p->pos += 2;
        switch (e) {
        case '"':
            o[k++] = '"';
            break;
        case '\\':
            o[k++] = '\\';
            break;
        case '/':
            o[k++] = '/';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'u': {
            long cp = hex4(p);
            if (cp < 0) return NULL;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jfail(p, esc, NTG_ERR_PARSE, "lone trailing surrogate \\u%04lX", cp);
                return NULL;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 1 >= end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    jfail(p, esc, NTG_ERR_PARSE, "lone leading surrogate \\u%04lX", cp);
                    return NULL;
                }
                p->pos += 2;
                long lo = hex4(p);
                if (lo < 0) return NULL;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    jfail(p, esc, NTG_ERR_PARSE, "lone leading surrogate \\u%04lX", cp);
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += put_utf8(o + k, (unsigned long)cp);
            break;
        }
        default: {
            char b[24];
            jfail(p, esc, NTG_ERR_PARSE, "invalid escape: backslash followed by %s",
                  describe(p, esc + 1, b, sizeof b));
            return NULL;
        }
        }
    }
    o[k] = '\0';
    p->pos = end + 1;
    v->str = (const char *)o;
    v->len = k;
    return v;
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static const ntg_json *parse_number(jparser *p)
{
    size_t start = p->pos;
    int integral = 1;
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
        unexpected(p, "a digit");
        return NULL;
    }
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos])) {
            jfail(p, start, NTG_ERR_PARSE, "leading zeros are not allowed in numbers");
            return NULL;
        }
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integral = 0;
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            unexpected(p, "a digit after the decimal point");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            unexpected(p, "a digit in the exponent");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    size_t n = p->pos - start;
    ntg_json *v = new_node(p, NTG_JSON_NUMBER, start);
    char *text = v ? ntg__pool_strndup(p->pool, (const char *)p->s + start, n) : NULL;
    if (!text) {
        if (v) jnomem(p);
        return NULL;
    }
    v->str = text;
    v->len = n;
    int r = ntg__json_strtod(text, n, &v->num);
    if (r < 0) {
        jnomem(p);
        return NULL;
    }
    if (r > 0) {
        jfail(p, start, NTG_ERR_PARSE, "number %.40s%s is out of the range of a double", text,
              n > 40 ? "..." : "");
        return NULL;
    }
    if (integral) {
        /* Accumulate negatively so that INT64_MIN fits. */
        const char *d = text + (text[0] == '-');
        int64_t acc = 0;
        int fits = 1;
        for (; *d; d++) {
            int digit = *d - '0';
            if (acc < (INT64_MIN + digit) / 10) {
                fits = 0;
                break;
            }
            acc = acc * 10 - digit;
        }
        if (fits && text[0] != '-' && acc == INT64_MIN) fits = 0;
        if (fits) {
            v->is_int = 1;
            v->i64 = text[0] == '-' ? acc : -acc;
        }
    }
    return v;
}

static int same_key(const ntg_json *a, const ntg_json *b)
{
    return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

static int key_order(const void *pa, const void *pb)
{
    const ntg_json *a = *(const ntg_json *const *)pa, *b = *(const ntg_json *const *)pb;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->str, b->str, m);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Report the duplicate whose second occurrence comes first in the text. */
static int check_duplicates(jparser *p, const ntg_json **keys, size_t n)
{
    const ntg_json *dup = NULL;
    if (n < 2) return 0;
    if (n <= 16) {
        for (size_t j = 1; j < n && !dup; j++)
            for (size_t i = 0; i < j; i++)
                if (same_key(keys[i], keys[j])) {
                    dup = keys[j];
                    break;
                }
    } else {
        /* Sorting, not hashing: a hostile header cannot make this quadratic. */
        const ntg_json **sorted = malloc(n * sizeof *sorted);
        if (!sorted) return jnomem(p);
        memcpy(sorted, keys, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, key_order);
        for (size_t i = 1; i < n; i++)
            if (same_key(sorted[i - 1], sorted[i]) && (!dup || sorted[i]->offset < dup->offset))
                dup = sorted[i];
        free(sorted);
    }
    if (!dup) return 0;
    return jfail(p, dup->offset, NTG_ERR_PARSE, "duplicate key \"%.*s\"%s",
                 (int)(dup->len > 60 ? 60 : dup->len), dup->str, dup->len > 60 ? "..." : "");
}

static const ntg_json *parse_value(jparser *p, int depth);

/* Array or object at p->pos; items are gathered on the shared stack and moved
 * into the pool when the container closes. */
static const ntg_json *parse_container(jparser *p, int depth)
{
    size_t start = p->pos;
    int is_obj = p->s[start] == '{';
    char close = is_obj ? '}' : ']';
    if (depth >= NTG_JSON_MAX_DEPTH) {
        jfail(p, start, NTG_ERR_PARSE, "nesting deeper than %d arrays and objects",
              NTG_JSON_MAX_DEPTH);
        return NULL;
    }
    ntg_json *v = new_node(p, is_obj ? NTG_JSON_OBJECT : NTG_JSON_ARRAY, start);
    if (!v) return NULL;
    size_t base = p->stack.len;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return v;
    }
    for (;;) {
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                unexpected(p, "a string key");
                return NULL;
            }
            const ntg_json *key = parse_string(p);
            if (!key || push(p, key)) return NULL;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                unexpected(p, "':' after an object key");
                return NULL;
            }
            p->pos++;
        }
        const ntg_json *item = parse_value(p, depth + 1);
        if (!item || push(p, item)) return NULL;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        unexpected(p, is_obj ? "',' or '}'" : "',' or ']'");
        return NULL;
    }
    size_t count = p->stack.len - base;
    const ntg_json **top = (const ntg_json **)p->stack.data + base;
    if (is_obj) {
        size_t n = count / 2;
        const ntg_json **keys = ntg__pool_array(p->pool, n, sizeof *keys);
        const ntg_json **vals = ntg__pool_array(p->pool, n, sizeof *vals);
        if (!keys || !vals) {
            jnomem(p);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            keys[i] = top[2 * i];
            vals[i] = top[2 * i + 1];
        }
        if (check_duplicates(p, keys, n)) return NULL;
        v->n = n;
        v->keys = keys;
        v->items = vals;
    } else {
        const ntg_json **items = ntg__pool_array(p->pool, count, sizeof *items);
        if (!items) {
            jnomem(p);
            return NULL;
        }
        memcpy(items, top, count * sizeof *items);
        v->n = count;
        v->items = items;
    }
    p->stack.len = base;
    return v;
}

static const ntg_json *parse_literal(jparser *p, const char *word, ntg_json_kind kind)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        unexpected(p, "a value");
        return NULL;
    }
    ntg_json *v = new_node(p, kind, p->pos);
    p->pos += n;
    return v;
}

static const ntg_json *parse_value(jparser *p, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len) {
        unexpected(p, "a value");
        return NULL;
    }
    switch (p->s[p->pos]) {
    case '{':
    case '[':
        return parse_container(p, depth);
    case '"':
        return parse_string(p);
    case 't':
        return parse_literal(p, "true", NTG_JSON_TRUE);
    case 'f':
        return parse_literal(p, "false", NTG_JSON_FALSE);
    case 'n':
        return parse_literal(p, "null", NTG_JSON_NULL);
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos])) return parse_number(p);
        unexpected(p, "a value");
        return NULL;
    }
}

ntg_status ntg__json_parse(const char *text, size_t len, ntg_pool *pool, const ntg_json **out,
                           char *msg, size_t cap, size_t *offset)
{
    jparser p;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.len = text ? len : 0;
    p.pool = pool;
    p.msg = msg;
    p.cap = cap;
    ntg__vec_init(&p.stack, sizeof(const ntg_json *));
    if (msg && cap) msg[0] = '\0';
    const ntg_json *root = parse_value(&p, 0);
    if (root) {
        skip_ws(&p);
        if (p.pos < p.len) {
            root = NULL;
            unexpected(&p, "the end of input after the value");
        }
    }
    ntg__vec_free(&p.stack);
    if (out) *out = root;
    if (offset) *offset = root ? 0 : p.err_off;
    return root ? NTG_OK : p.status;
}

/* ---------------------------------------------------------------- lookups */

const ntg_json *ntg__json_get(const ntg_json *v, const char *key)
{
    if (!v || v->kind != NTG_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < v->n; i++)
        if (v->keys[i]->len == n && memcmp(v->keys[i]->str, key, n) == 0) return v->items[i];
    return NULL;
}

const ntg_json *ntg__json_at(const ntg_json *v, size_t i)
{
    if (!v || v->kind != NTG_JSON_ARRAY || i >= v->n) return NULL;
    return v->items[i];
}

int ntg__json_is(const ntg_json *v, ntg_json_kind k)
{
    return v && v->kind == k;
}

const char *ntg__json_kind_name(ntg_json_kind k)
{
    switch (k) {
    case NTG_JSON_NULL:
        return "null";
    case NTG_JSON_FALSE:
        return "false";
    case NTG_JSON_TRUE:
        return "true";
    case NTG_JSON_NUMBER:
        return "number";
    case NTG_JSON_STRING:
        return "string";
    case NTG_JSON_ARRAY:
        return "array";
    case NTG_JSON_OBJECT:
        return "object";
    }
    return "unknown";
}

/* ----------------------------------------------------------------- writer */

int ntg__json_put_string(FILE *f, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(u + i, n - i);
            if (k) {
                fwrite(u + i, 1, k, f);
                i += k;
            } else {
                fputs("\\ufffd", f);
                i++;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c < 0x20)
                fprintf(f, "\\u%04x", c);
            else
                fputc((int)c, f);
        }
    }
    fputc('"', f);
    return ferror(f) ? -1 : 0;
}

/* printf may spell the decimal point the locale's way (',' or a multibyte
 * separator): rewrite whatever sits between the digits as '.'. */
static void c_locale_number(char *s)
{
    char *o = s;
    for (const char *i = s; *i;) {
        if (is_digit((unsigned char)*i) || *i == '-' || *i == '+' || *i == 'e' || *i == 'E') {
            *o++ = *i++;
        } else {
            *o++ = '.';
            while (*i && !is_digit((unsigned char)*i) && *i != '-' && *i != '+' && *i != 'e' &&
                   *i != 'E')
                i++;
        }
    }
    *o = '\0';
}

int ntg__json_fmt_number(char buf[NTG_JSON_NUMBER_CAP], double v)
{
    if (isnan(v) || isinf(v)) {
        memcpy(buf, "null", 5);
        return 1;
    }
    if (v == floor(v) && fabs(v) < 1e17) {
        /* Exact: an integral double below 1e17 prints all its digits. */
        snprintf(buf, NTG_JSON_NUMBER_CAP, "%.0f", v);
        return 0;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, NTG_JSON_NUMBER_CAP, "%.*g", prec, v);
        c_locale_number(buf);
        double back;
        if (prec == 17 || (ntg__json_strtod(buf, strlen(buf), &back) == 0 && back == v)) break;
    }
    return 0;
}

int ntg__json_put_number(FILE *f, double v)
{
    char buf[NTG_JSON_NUMBER_CAP];
    ntg__json_fmt_number(buf, v);
    fputs(buf, f);
    return ferror(f) ? -1 : 0;
}
