/* test_base_json.c — the strict JSON reader (base/json.c) and its writer helpers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testutil.h"

/* Parse a C string; on failure leave the message and offset in *msg / *off. */
static const ntg_json *parse(ntg_pool *pool, const char *text, ntg_status *st, char *msg,
                             size_t *off)
{
    const ntg_json *v = NULL;
    size_t o = 0;
    char m[256];
    *st = ntg__json_parse(text, strlen(text), pool, &v, m, sizeof m, &o);
    if (msg) strcpy(msg, m);
    if (off) *off = o;
    return v;
}

static const ntg_json *ok(ntg_pool *pool, const char *text)
{
    ntg_status st;
    char msg[256];
    const ntg_json *v = parse(pool, text, &st, msg, NULL);
    cr_assert_eq(st, NTG_OK, "%s: %s", text, msg);
    cr_assert_not_null(v);
    return v;
}

static void bad(const char *text, size_t len, const char *want, size_t want_off)
{
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *v = (const ntg_json *)1;
    char msg[256];
    size_t off = 999;
    ntg_status st = ntg__json_parse(text, len, pool, &v, msg, sizeof msg, &off);
    cr_assert_eq(st, NTG_ERR_PARSE, "accepted: %.*s", (int)len, text);
    cr_assert_null(v);
    cr_assert_str_eq(msg, want, "for %.*s", (int)len, text);
    cr_assert_eq(off, want_off, "offset %zu for %.*s (%s)", off, (int)len, text, msg);
    ntg__pool_destroy(pool);
}

#define BAD(text, want, off) bad(text, sizeof(text) - 1, want, off)

Test(runtime, json_parses_scalars)
{
    ntg_pool *pool = ntg__pool_create();
    cr_assert_eq(ok(pool, "null")->kind, NTG_JSON_NULL);
    cr_assert_eq(ok(pool, " true ")->kind, NTG_JSON_TRUE);
    cr_assert_eq(ok(pool, "\t\r\nfalse\n")->kind, NTG_JSON_FALSE);
    const ntg_json *s = ok(pool, "\"h\\u00e9llo \\\"w\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"");
    cr_assert_eq(s->kind, NTG_JSON_STRING);
    cr_assert_str_eq(s->str, "h\xC3\xA9llo \"w\" \\ / \b\f\n\r\t");
    cr_assert_eq(s->len, strlen(s->str));
    cr_assert_eq(ok(pool, "  \"\"")->offset, 2);
    ntg__pool_destroy(pool);
}

Test(runtime, json_numbers_keep_text_double_and_exact_int)
{
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *v = ok(pool, "12");
    cr_assert(v->is_int && v->i64 == 12 && v->num == 12.0);
    cr_assert_str_eq(v->str, "12");
    v = ok(pool, "-0");
    cr_assert(v->is_int && v->i64 == 0 && signbit(v->num));
    v = ok(pool, "1.50");
    cr_assert(!v->is_int && v->num == 1.5);
    cr_assert_str_eq(v->str, "1.50");
    v = ok(pool, "1e2");
    cr_assert(!v->is_int && v->num == 100.0, "an exponent makes a float, as in serde_json");
    v = ok(pool, "9223372036854775807");
    cr_assert(v->is_int && v->i64 == INT64_MAX);
    v = ok(pool, "-9223372036854775808");
    cr_assert(v->is_int && v->i64 == INT64_MIN);
    v = ok(pool, "9223372036854775808");
    cr_assert(!v->is_int && v->num == 9223372036854775808.0);
    v = ok(pool, "-9223372036854775809");
    cr_assert(!v->is_int);
    v = ok(pool, "0.1");
    cr_assert_eq(v->num, 0.1);
    v = ok(pool, "2.2250738585072014e-308");
    cr_assert_eq(v->num, 2.2250738585072014e-308);
    v = ok(pool, "1E-400");
    cr_assert_eq(v->num, 0.0, "underflow rounds to zero");
    v = ok(pool, "123456789012345678901234567890");
    cr_assert(!v->is_int && v->num == 123456789012345678901234567890.0);
    ntg__pool_destroy(pool);
}

Test(runtime, json_objects_keep_order_and_lookups_work)
{
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *o = ok(pool, "{\"b\": [1, {\"c\": null}, \"x\"], \"a\": {}, \"\": []}");
    cr_assert_eq(o->kind, NTG_JSON_OBJECT);
    cr_assert_eq(o->n, 3);
    cr_assert_str_eq(o->keys[0]->str, "b");
    cr_assert_str_eq(o->keys[1]->str, "a");
    cr_assert_str_eq(o->keys[2]->str, "");
    const ntg_json *b = ntg__json_get(o, "b");
    cr_assert(ntg__json_is(b, NTG_JSON_ARRAY));
    cr_assert_eq(b->n, 3);
    cr_assert_eq(b->offset, 6);
    cr_assert(ntg__json_is(ntg__json_get(ntg__json_at(b, 1), "c"), NTG_JSON_NULL));
    cr_assert_null(ntg__json_at(b, 3));
    cr_assert_null(ntg__json_at(o, 0), "not an array");
    cr_assert_null(ntg__json_get(b, "c"), "not an object");
    cr_assert_null(ntg__json_get(o, "z"));
    cr_assert_null(ntg__json_get(NULL, "z"));
    cr_assert(ntg__json_is(ntg__json_get(o, "a"), NTG_JSON_OBJECT));
    cr_assert_eq(ntg__json_get(o, "a")->n, 0);
    cr_assert(ntg__json_is(ntg__json_get(o, ""), NTG_JSON_ARRAY));
    cr_assert(!ntg__json_is(NULL, NTG_JSON_NULL));
    cr_assert_str_eq(ntg__json_kind_name(NTG_JSON_OBJECT), "object");
    cr_assert_str_eq(ntg__json_kind_name(NTG_JSON_NUMBER), "number");
    ntg__pool_destroy(pool);
}

Test(runtime, json_unicode_escapes_become_utf8)
{
    ntg_pool *pool = ntg__pool_create();
    cr_assert_str_eq(ok(pool, "\"\\u00e9\\u20AC\"")->str, "\xC3\xA9\xE2\x82\xAC");
    cr_assert_str_eq(ok(pool, "\"\\ud83d\\ude00\"")->str, "\xF0\x9F\x98\x80");
    cr_assert_str_eq(ok(pool, "\"\\uDBFF\\uDFFF\"")->str, "\xF4\x8F\xBF\xBF");
    cr_assert_str_eq(ok(pool, "\"\xF0\x9F\x98\x80 \xEF\xBF\xBD\"")->str,
                     "\xF0\x9F\x98\x80 \xEF\xBF\xBD");
    const ntg_json *z = ok(pool, "\"a\\u0000b\"");
    cr_assert_eq(z->len, 3, "an escaped NUL stays in the counted length");
    cr_assert(memcmp(z->str, "a\0b", 4) == 0);
    ntg__pool_destroy(pool);
}

Test(runtime, json_rejects_syntax_errors_with_offsets)
{
    BAD("", "unexpected end of input, expected a value", 0);
    BAD("   ", "unexpected end of input, expected a value", 3);
    BAD("01", "leading zeros are not allowed in numbers", 0);
    BAD("-", "unexpected end of input, expected a digit", 1);
    BAD("1.", "unexpected end of input, expected a digit after the decimal point", 2);
    BAD(".5", "unexpected '.', expected a value", 0);
    BAD("+1", "unexpected '+', expected a value", 0);
    BAD("1e", "unexpected end of input, expected a digit in the exponent", 2);
    BAD("NaN", "unexpected 'N', expected a value", 0);
    BAD("-Infinity", "unexpected 'I', expected a digit", 1);
    BAD("1e400", "number 1e400 is out of the range of a double", 0);
    BAD("[1,]", "unexpected ']', expected a value", 3);
    BAD("{\"a\":1,}", "unexpected '}', expected a string key", 7);
    BAD("{'a':1}", "unexpected ''', expected a string key", 1);
    BAD("{\"a\" 1}", "unexpected '1', expected ':' after an object key", 5);
    BAD("[1 2]", "unexpected '2', expected ',' or ']'", 3);
    BAD("{\"a\":1 \"b\":2}", "unexpected '\"', expected ',' or '}'", 7);
    BAD("[1] // c", "unexpected '/', expected the end of input after the value", 4);
    BAD("1 2", "unexpected '2', expected the end of input after the value", 2);
    BAD("tru", "unexpected 't', expected a value", 0);
    BAD("nul", "unexpected 'n', expected a value", 0);
    BAD("[", "unexpected end of input, expected a value", 1);
    BAD("{", "unexpected end of input, expected a string key", 1);
    BAD("[1", "unexpected end of input, expected ',' or ']'", 2);
    BAD("\xEF\xBB\xBF{}", "unexpected byte 0xEF, expected a value", 0);
}

Test(runtime, json_rejects_bad_strings)
{
    BAD("\"abc", "unterminated string", 0);
    BAD("[\"a\\\"]", "unterminated string", 1);
    BAD("\"a\nb\"", "control character U+000A in a string (escape it)", 2);
    BAD("\"\t\"", "control character U+0009 in a string (escape it)", 1);
    BAD("\"\\x\"", "invalid escape: backslash followed by 'x'", 1);
    BAD("\"\\u12\"", "unexpected '\"' in a \\u escape, expected a hex digit", 5);
    BAD("\"\\u12G4\"", "unexpected 'G' in a \\u escape, expected a hex digit", 5);
    BAD("\"\\ud83d\"", "lone leading surrogate \\uD83D", 1);
    BAD("\"\\ud83dx\"", "lone leading surrogate \\uD83D", 1);
    BAD("\"\\ud83d\\u0041\"", "lone leading surrogate \\uD83D", 1);
    BAD("\"ab\\ude00\"", "lone trailing surrogate \\uDE00", 3);
    BAD("\"\xC0\x80\"", "invalid UTF-8 in a string", 1);         /* overlong NUL */
    BAD("\"\xE0\x80\xAF\"", "invalid UTF-8 in a string", 1);     /* overlong '/' */
    BAD("\"\xED\xA0\x80\"", "invalid UTF-8 in a string", 1);     /* a UTF-16 surrogate */
    BAD("\"\xF4\x90\x80\x80\"", "invalid UTF-8 in a string", 1); /* above U+10FFFF */
    BAD("\"a\xF5\x80\x80\x80\"", "invalid UTF-8 in a string", 2);
    BAD("\"\xC3\"", "invalid UTF-8 in a string", 1); /* cut short */
    BAD("\"\x80\"", "invalid UTF-8 in a string", 1); /* lone continuation */
    BAD("\"\xE2\x82\"", "invalid UTF-8 in a string", 1);
}

Test(runtime, json_rejects_duplicate_keys)
{
    BAD("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key \"a\"", 13);
    BAD("{\"x\":{\"k\":1,\"\\u006b\":2}}", "duplicate key \"k\"", 12);
    /* more keys than the quadratic check handles: the sorted path, and the
     * duplicate reported is the one whose second occurrence comes first */
    char text[2048];
    size_t k = 0;
    k += (size_t)sprintf(text + k, "{");
    for (int i = 0; i < 40; i++) k += (size_t)sprintf(text + k, "\"key%02d\":%d,", i, i);
    size_t at_b = k;
    k += (size_t)sprintf(text + k, "\"key31\":0,");
    k += (size_t)sprintf(text + k, "\"key07\":0}");
    bad(text, k, "duplicate key \"key31\"", at_b);
    /* distinct keys that share prefixes or differ only after a NUL are fine */
    ntg_pool *pool = ntg__pool_create();
    const ntg_json *o = ok(pool, "{\"a\":1,\"a\\u0000\":2,\"ab\":3}");
    cr_assert_eq(o->n, 3);
    cr_assert_eq(ntg__json_get(o, "a")->i64, 1, "C-string lookups match the NUL-free key");
    ntg__pool_destroy(pool);
}

Test(runtime, json_limits_nesting_depth)
{
    char text[600];
    ntg_pool *pool = ntg__pool_create();
    int d = NTG_JSON_MAX_DEPTH;
    memset(text, '[', (size_t)d);
    memset(text + d, ']', (size_t)d);
    text[2 * d] = '\0';
    const ntg_json *v = ok(pool, text);
    for (int i = 1; i < d; i++) v = ntg__json_at(v, 0);
    cr_assert(ntg__json_is(v, NTG_JSON_ARRAY));
    cr_assert_eq(v->n, 0);
    memset(text, '[', (size_t)d + 1);
    memset(text + d + 1, ']', (size_t)d + 1);
    bad(text, 2 * (size_t)d + 2, "nesting deeper than 128 arrays and objects", 128);
    ntg__pool_destroy(pool);
}

Test(runtime, json_parse_needs_no_terminator_and_reports_without_msg)
{
    ntg_pool *pool = ntg__pool_create();
    const char buf[] = {'[', '7', ']', 'x'};
    const ntg_json *v = NULL;
    cr_assert_eq(ntg__json_parse(buf, 3, pool, &v, NULL, 0, NULL), NTG_OK);
    cr_assert_eq(ntg__json_at(v, 0)->i64, 7);
    cr_assert_eq(ntg__json_parse(buf, 4, pool, &v, NULL, 0, NULL), NTG_ERR_PARSE);
    cr_assert_null(v);
    const char num[] = {'1', '2', '3'};
    cr_assert_eq(ntg__json_parse(num, 2, pool, &v, NULL, 0, NULL), NTG_OK);
    cr_assert_str_eq(v->str, "12");
    ntg__pool_destroy(pool);
}

static char *put_string(const char *s)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cr_assert_eq(ntg__json_put_string(f, s), 0);
    fclose(f);
    return buf;
}

Test(runtime, json_put_string_escapes)
{
    char *o = put_string("a\"b\\c\n\t\r\b\f\x01\x1f\x7f/\xC3\xA9\xF0\x9F\x98\x80");
    cr_assert_str_eq(o,
                     "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\x7f/\xC3\xA9\xF0\x9F\x98\x80\"");
    free(o);
    o = put_string("bad \xC3( \xED\xA0\x80 \xFF");
    cr_assert_str_eq(o, "\"bad \\ufffd( \\ufffd\\ufffd\\ufffd \\ufffd\"",
                     "invalid UTF-8 is replaced so the output stays valid JSON");
    free(o);
    o = put_string("");
    cr_assert_str_eq(o, "\"\"");
    free(o);
}

Test(runtime, json_put_string_round_trips_through_the_parser)
{
    tu_rng r = {7};
    ntg_pool *pool = ntg__pool_create();
    for (int t = 0; t < 200; t++) {
        /* random bytes, then keep only what forms valid UTF-8 without NUL */
        char s[64];
        size_t n = 0;
        for (int i = 0; i < 40; i++) {
            char c = (char)(tu_next(&r) % 255 + 1);
            s[n++] = c;
            s[n] = '\0';
            if (!ntg__utf8_valid(s, n)) n--;
        }
        s[n] = '\0';
        char *o = put_string(s);
        const ntg_json *v = ok(pool, o);
        cr_assert_eq(v->kind, NTG_JSON_STRING);
        cr_assert_str_eq(v->str, s);
        free(o);
    }
    ntg__pool_destroy(pool);
}

Test(runtime, json_numbers_print_as_ints_or_round_trip_doubles)
{
    char b[NTG_JSON_NUMBER_CAP];
    cr_assert_eq(ntg__json_fmt_number(b, 3), 0);
    cr_assert_str_eq(b, "3");
    ntg__json_fmt_number(b, -0.0);
    cr_assert_str_eq(b, "-0");
    ntg__json_fmt_number(b, -123456789012.0);
    cr_assert_str_eq(b, "-123456789012");
    ntg__json_fmt_number(b, 99999999999999984.0);
    cr_assert_str_eq(b, "99999999999999984");
    ntg__json_fmt_number(b, 0.1);
    cr_assert_str_eq(b, "0.1");
    ntg__json_fmt_number(b, 1.0 / 3.0);
    cr_assert_str_eq(b, "0.3333333333333333");
    ntg__json_fmt_number(b, 0.1 + 0.2);
    cr_assert_str_eq(b, "0.30000000000000004");
    ntg__json_fmt_number(b, 1e300);
    cr_assert_str_eq(b, "1e+300");
    ntg__json_fmt_number(b, 5e-324);
    cr_assert_str_eq(b, "4.94065645841247e-324");
    ntg__json_fmt_number(b, -1.7976931348623157e308);
    cr_assert_str_eq(b, "-1.7976931348623157e+308");
    cr_assert_eq(ntg__json_fmt_number(b, NAN), 1);
    cr_assert_str_eq(b, "null");
    cr_assert_eq(ntg__json_fmt_number(b, -INFINITY), 1);
    cr_assert_str_eq(b, "null");

    /* random bit patterns: the text parses back to the same double */
    tu_rng r = {42};
    ntg_pool *pool = ntg__pool_create();
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = tu_next(&r);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isnan(v) || isinf(v)) continue;
        ntg__json_fmt_number(b, v);
        const ntg_json *j = ok(pool, b);
        cr_assert_eq(j->kind, NTG_JSON_NUMBER);
        uint64_t back;
        memcpy(&back, &j->num, sizeof back);
        cr_assert_eq(back, bits, "%s", b);
        if (i % 1000 == 0) {
            ntg__pool_destroy(pool);
            pool = ntg__pool_create();
        }
    }
    ntg__pool_destroy(pool);
}

Test(runtime, json_put_number_writes_to_a_stream)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cr_assert_eq(ntg__json_put_number(f, 2.5), 0);
    fputc(',', f);
    cr_assert_eq(ntg__json_put_number(f, NAN), 0);
    fclose(f);
    cr_assert_str_eq(buf, "2.5,null");
    free(buf);
}

Test(runtime, json_strtod_handles_long_literals)
{
    /* longer than the stack buffer: the heap path */
    char text[1200];
    memset(text, '0', sizeof text);
    memcpy(text, "0.5", 3);
    double v = 0;
    cr_assert_eq(ntg__json_strtod(text, 1100, &v), 0);
    cr_assert_eq(v, 0.5);
    text[1099] = '1';
    cr_assert_eq(ntg__json_strtod(text, 1100, &v), 0);
    cr_assert_eq(v, 0.5, "1e-1099 more still rounds to 0.5");
    cr_assert_eq(ntg__json_strtod("2.5e1x", 5, &v), 0);
    cr_assert_eq(v, 25.0);
    cr_assert_eq(ntg__json_strtod("-1e999", 6, &v), 1);
    cr_assert(isinf(v) && v < 0);
}

Test(runtime, json_utf8_validator)
{
    cr_assert(ntg__utf8_valid("", 0));
    cr_assert(ntg__utf8_valid("abc\xC3\xA9\xEF\xBF\xBD\xF0\x9F\x98\x80", 12));
    cr_assert(!ntg__utf8_valid("\xC3", 1));
    cr_assert(!ntg__utf8_valid("\xC1\xBF", 2));
    cr_assert(!ntg__utf8_valid("\xED\xBF\xBF", 3));
    cr_assert(!ntg__utf8_valid("\xF0\x8F\xBF\xBF", 4));
    cr_assert(!ntg__utf8_valid("\xF8\x88\x80\x80\x80", 5));
}
