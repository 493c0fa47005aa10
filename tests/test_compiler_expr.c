/* test_compiler_expr.c — the expression language: operators, Python semantics, functions, errors.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ntg_error.h"
#include "expr.h"
#include "graph.h"
#include "pool.h"

static ntg_pool *pool;

static void setup(void)
{
    pool = ntg__pool_create();
}

static void teardown(void)
{
    ntg__pool_destroy(pool);
}

TestSuite(compiler, .init = setup, .fini = teardown);

/* Names the tests evaluate against: h = 96, hidden = 512, pools = [2, 2, 1], x = 0.5,
 * s = 'ab'. */
static ntg_status lookup(void *user, const char *name, ntg_loc at, ntg_value *out, ntg_error *err)
{
    (void)user;
    (void)at;
    (void)err;
    static ntg_value pools_items[3] = {
        {.kind = NTG_V_INT, .i = 2}, {.kind = NTG_V_INT, .i = 2}, {.kind = NTG_V_INT, .i = 1}};
    memset(out, 0, sizeof *out);
    if (strcmp(name, "h") == 0) {
        out->kind = NTG_V_INT;
        out->i = 96;
    } else if (strcmp(name, "hidden") == 0) {
        out->kind = NTG_V_INT;
        out->i = 512;
    } else if (strcmp(name, "pools") == 0) {
        out->kind = NTG_V_LIST;
        out->items = pools_items;
        out->n = 3;
    } else if (strcmp(name, "x") == 0) {
        out->kind = NTG_V_FLOAT;
        out->f = 0.5;
    } else if (strcmp(name, "s") == 0) {
        out->kind = NTG_V_STR;
        out->s = "ab";
    } else {
        return NTG_ERR_NOT_FOUND;
    }
    return NTG_OK;
}

static void names(void *user, ntg_nearest *near)
{
    (void)user;
    const char *all[] = {"h", "hidden", "pools", "x", "s"};
    for (size_t i = 0; i < 5; i++) ntg__nearest_try(near, all[i]);
}

/* Parse and evaluate `text` as if written at t.yaml:3:10 on one line. */
static ntg_status ev_env(const char *text, int bare, ntg_value *v, ntg_error *err)
{
    ntg_loc loc = {"t.yaml", 3, 10};
    ntg_expr *e;
    ntg_status st = ntg__expr_parse(pool, text, strlen(text), loc, 1, &e, err);
    if (st) return st;
    ntg_expr_env env = {lookup, names, NULL, pool, bare};
    return ntg__expr_eval(e, &env, v, err);
}

static ntg_status ev(const char *text, ntg_value *v, ntg_error *err)
{
    return ev_env(text, 0, v, err);
}

static void check_int(const char *text, int64_t want)
{
    ntg_value v;
    ntg_error err = {0};
    ntg_status st = ev(text, &v, &err);
    cr_assert_eq(st, NTG_OK, "%s: %s", text, err.message);
    cr_assert_eq(v.kind, NTG_V_INT, "%s: kind %d", text, (int)v.kind);
    cr_assert_eq(v.i, want, "%s = %lld, want %lld", text, (long long)v.i, (long long)want);
}

static void check_float(const char *text, double want)
{
    ntg_value v;
    ntg_error err = {0};
    ntg_status st = ev(text, &v, &err);
    cr_assert_eq(st, NTG_OK, "%s: %s", text, err.message);
    cr_assert_eq(v.kind, NTG_V_FLOAT, "%s: kind %d", text, (int)v.kind);
    cr_assert(v.f == want || (isnan(want) && isnan(v.f)), "%s = %.17g, want %.17g", text, v.f,
              want);
}

static void check_text(const char *text, const char *want)
{
    ntg_value v;
    ntg_error err = {0};
    ntg_status st = ev(text, &v, &err);
    cr_assert_eq(st, NTG_OK, "%s: %s", text, err.message);
    const char *got = ntg__value_str(pool, &v);
    cr_assert_str_eq(got, want, "%s gives %s, want %s", text, got, want);
}

static void check_err(const char *text, ntg_status want_st, const char *want_msg)
{
    ntg_value v;
    ntg_error err = {0};
    ntg_status st = ev(text, &v, &err);
    cr_assert_eq(st, want_st, "%s: status %d (%s)", text, (int)st, err.message);
    cr_assert_str_eq(err.message, want_msg, "%s:\n got  %s\n want %s", text, err.message, want_msg);
}

Test(compiler, expr_integer_operators)
{
    check_int("1 + 2", 3);
    check_int("10 - 2 - 3", 5);
    check_int("6 * 7", 42);
    check_int("7 // 2", 3);
    check_int("7 % 3", 1);
    check_int("100 // 10 // 3", 3);
    check_int("5 * h", 480);
    check_int("h//4", 24);
    check_int("-3", -3);
    check_int("+3", 3);
    check_int("- -3", 3);
    check_int("2 * -3", -6);
    check_int("true + 1", 2);
}

Test(compiler, expr_precedence)
{
    check_int("1 + 2 * 3", 7);
    check_int("(1 + 2) * 3", 9);
    check_int("2 * 3 % 4", 2);
    check_int("-2 * 3", -6);
    check_int("1 - 2 + 3", 2);
    check_int("-pools[0]", -2);
    check_float("1 + 2 * 3 - 4 / 2", 5.0);
}

Test(compiler, expr_python_floor_semantics)
{
    check_int("-7 // 2", -4);
    check_int("7 // -2", -4);
    check_int("-7 // -2", 3);
    check_int("-7 % 3", 2);
    check_int("7 % -3", -2);
    check_int("-7 % -3", -1);
    check_int("-6 // 3", -2);
    check_int("-9223372036854775807 - 1", INT64_MIN);
    check_int("(-9223372036854775807 - 1) % -1", 0);
    check_float("7.5 // 2", 3.0);
    check_float("-7.5 // 2", -4.0);
    check_float("-7.5 % 2", 0.5);
    check_float("7.5 % -2", -0.5);
}

Test(compiler, expr_true_division_and_mixing)
{
    check_float("7 / 2", 3.5);
    check_float("6 / 3", 2.0);
    check_float("2 * 3.0", 6.0);
    check_float("1 + 0.5", 1.5);
    check_float("x * 4", 2.0);
    check_float("1e3", 1000.0);
    check_float(".5", 0.5);
    check_float("2.5e-1", 0.25);
    check_float("1.", 1.0);
}

Test(compiler, expr_literals)
{
    check_text("true", "true");
    check_text("False", "false");
    check_text("'a b'", "a b");
    check_text("\"q\"", "q");
    check_text("'ab' + 'c'", "abc");
    check_text("s[1]", "b");
    check_text("s[-2]", "a");
}

Test(compiler, expr_functions)
{
    check_int("ceil(2.1)", 3);
    check_int("ceil(-2.1)", -2);
    check_int("ceil(7)", 7);
    check_int("ceil(h / 5)", 20);
    check_int("floor(2.9)", 2);
    check_int("floor(-2.1)", -3);
    check_int("round(2.5)", 2);
    check_int("round(3.5)", 4);
    check_int("round(-2.5)", -2);
    check_int("round(2.6)", 3);
    check_int("round(-0.4)", 0);
    check_int("max(1, 5, 3)", 5);
    check_int("max(pools)", 2);
    check_int("min(pools)", 1);
    check_int("max(h // 96, 1)", 1);
    check_float("min([4, 2.5])", 2.5);
    check_int("max(2, 2.0)", 2);
    check_int("len(pools)", 3);
    check_int("len([])", 0);
    check_int("len(s)", 2);
    check_int("abs(-4)", 4);
    check_float("abs(-1.5)", 1.5);
    check_float("sqrt(16)", 4.0);
    check_float("sqrt(x * 8)", 2.0);
    check_int("int(3.9)", 3);
    check_int("int(-3.9)", -3);
    check_int("int(true)", 1);
    check_float("float(2)", 2.0);
}

Test(compiler, expr_lists_and_indexing)
{
    check_int("pools[0]", 2);
    check_int("pools[-1]", 1);
    check_int("pools[len(pools) - 1]", 1);
    check_int("[1, 2, [3, 4]][2][1]", 4);
    check_text("[h, 2 * h]", "[96, 192]");
    check_text("[1, 2] + [3]", "[1, 2, 3]");
    check_text("[0] * 3", "[0, 0, 0]");
    check_text("2 * [1]", "[1, 1]");
    check_text("[1] * -1", "[]");
    check_text("[]", "[]");
    check_text("[1, 2,]", "[1, 2]");
    check_text("[1, 2.5, 'a', true, [batch]]", "[1, 2.5, 'a', true, [batch]]");
    check_text("batch", "batch");
}

Test(compiler, expr_value_text)
{
    check_text("0.1", "0.1");
    check_text("96.0", "96.0");
    check_text("1 / 3", "0.3333333333333333");
    check_text("1e16", "1e+16");
    check_text("1e-5", "1e-05");
    check_text("0.0001", "0.0001");
    check_text("123.456", "123.456");
    check_text("-0.0", "-0.0");
    check_text("1.5e300", "1.5e+300");
}

Test(compiler, expr_syntax_errors)
{
    check_err("2 * (h", NTG_ERR_PARSE, "t.yaml:3:16: bad expression '2 * (h': expected ')'");
    check_err("2 *", NTG_ERR_PARSE, "t.yaml:3:13: bad expression '2 *': expected a value");
    check_err("2 * )", NTG_ERR_PARSE, "t.yaml:3:14: bad expression '2 * )': unexpected ')'");
    check_err("1 2", NTG_ERR_PARSE, "t.yaml:3:12: bad expression '1 2': unexpected '2'");
    check_err("2 $ 3", NTG_ERR_PARSE, "t.yaml:3:12: bad expression '2 $ 3': unexpected '$'");
    check_err("", NTG_ERR_PARSE, "t.yaml:3:10: bad expression '': empty");
    check_err("'abc", NTG_ERR_PARSE, "t.yaml:3:10: bad expression ''abc': unterminated string");
    check_err("[1, 2", NTG_ERR_PARSE, "t.yaml:3:15: bad expression '[1, 2': expected ']'");
    check_err("pools[0", NTG_ERR_PARSE, "t.yaml:3:17: bad expression 'pools[0': expected ']'");
    check_err("max(1, 2", NTG_ERR_PARSE, "t.yaml:3:18: bad expression 'max(1, 2': expected ')'");
    check_err("1e", NTG_ERR_PARSE, "t.yaml:3:10: bad expression '1e': bad number '1e'");
    check_err("3h", NTG_ERR_PARSE, "t.yaml:3:10: bad expression '3h': bad number '3h'");
    check_err("99999999999999999999", NTG_ERR_PARSE,
              "t.yaml:3:10: bad expression '99999999999999999999': integer "
              "99999999999999999999 is too large");
    check_err("max + 1", NTG_ERR_PARSE,
              "t.yaml:3:10: bad expression 'max + 1': 'max' is a function: call it as max(...)");
}

Test(compiler, expr_deep_nesting_is_refused)
{
    char text[700];
    memset(text, '(', 300);
    text[300] = '1';
    memset(text + 301, ')', 300);
    text[601] = '\0';
    ntg_value v;
    ntg_error err = {0};
    cr_assert_eq(ev(text, &v, &err), NTG_ERR_PARSE);
    cr_assert(strstr(err.message, "nested too deeply"), "%s", err.message);
}

/* `1 + 1 + ... + 1` is a chain, not nesting: 300 terms (and 5000) evaluate; real
 * nesting on the right is still bounded. */
Test(compiler, expr_flat_chain_is_not_nesting)
{
    static char text[5000 * 4 + 8];
    for (int terms = 300; terms <= 5000; terms += 4700) {
        size_t n = 0;
        for (int i = 0; i < terms; i++) n += (size_t)sprintf(text + n, i ? " + 1" : "1");
        check_int(text, terms);
    }
    check_int("2 * 3 - 1 + 10 // 3 * 2 - 4 % 3", 10); /* precedence inside a chain */
    size_t n = 0;
    for (int i = 0; i < 300; i++) n += (size_t)sprintf(text + n, "1 + (");
    text[n++] = '1';
    for (int i = 0; i < 300; i++) text[n++] = ')';
    text[n] = '\0';
    ntg_value v;
    ntg_error err = {0};
    cr_assert_eq(ev(text, &v, &err), NTG_ERR_PARSE);
    cr_assert(strstr(err.message, "nested too deeply"), "%s", err.message);
}

/* A long expression is cut in the middle of the quote; the reason stays whole. */
Test(compiler, expr_long_message_keeps_the_reason)
{
    static char text[2000 * 4 + 8];
    size_t n = 0;
    for (int i = 0; i < 2000; i++) n += (size_t)sprintf(text + n, "1 + ");
    sprintf(text + n, "(2");
    ntg_value v;
    ntg_error err = {0};
    cr_assert_eq(ev(text, &v, &err), NTG_ERR_PARSE);
    size_t len = strlen(err.message);
    cr_assert(len >= 14 && strcmp(err.message + len - 14, ": expected ')'") == 0, "%s",
              err.message);
    cr_assert(strstr(err.message, "bad expression '1 + 1 + "), "%s", err.message);
    cr_assert(strstr(err.message, "..."), "%s", err.message);
    err.message[0] = '\0';
    cr_assert_eq(ev("1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + "
                    "1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 // 0",
                    &v, &err),
                 NTG_ERR_GRAPH);
    cr_assert(strstr(err.message, "division by zero in '1 + 1 + "), "%s", err.message);
    cr_assert(strstr(err.message, "+ 1 + 1 // 0'"), "%s", err.message);
}

Test(compiler, expr_name_errors)
{
    check_err("hiden", NTG_ERR_GRAPH,
              "t.yaml:3:10: undefined name 'hiden' in expression; did you mean 'hidden'?");
    check_err("h + zz", NTG_ERR_GRAPH, "t.yaml:3:14: undefined name 'zz' in expression");
    check_err("foo(1)", NTG_ERR_GRAPH,
              "t.yaml:3:10: unknown function 'foo' in expression; did you mean 'floor'?");
    check_err("ceil(1, 2)", NTG_ERR_GRAPH, "t.yaml:3:10: ceil() takes 1 argument, got 2");
    check_err("max()", NTG_ERR_GRAPH, "t.yaml:3:10: max() takes at least 1 argument, got 0");
}

Test(compiler, expr_evaluation_errors)
{
    check_err("1 / 0", NTG_ERR_GRAPH, "t.yaml:3:12: division by zero in '1 / 0'");
    check_err("h // 0", NTG_ERR_GRAPH, "t.yaml:3:12: division by zero in 'h // 0'");
    check_err("7 % 0", NTG_ERR_GRAPH, "t.yaml:3:12: division by zero in '7 % 0'");
    check_err("1.0 / 0.0", NTG_ERR_GRAPH, "t.yaml:3:14: division by zero in '1.0 / 0.0'");
    check_err("9223372036854775807 + 1", NTG_ERR_GRAPH,
              "t.yaml:3:30: integer overflow in '9223372036854775807 + 1'");
    check_err("-9223372036854775807 - 2", NTG_ERR_GRAPH,
              "t.yaml:3:31: integer overflow in '-9223372036854775807 - 2'");
    check_err("4611686018427387904 * 2", NTG_ERR_GRAPH,
              "t.yaml:3:30: integer overflow in '4611686018427387904 * 2'");
    check_err("(-9223372036854775807 - 1) // -1", NTG_ERR_GRAPH,
              "t.yaml:3:37: integer overflow in '(-9223372036854775807 - 1) // -1'");
    check_err("pools[3]", NTG_ERR_GRAPH,
              "t.yaml:3:16: index 3 is out of range for a list of length 3");
    check_err("pools[-4]", NTG_ERR_GRAPH,
              "t.yaml:3:16: index -4 is out of range for a list of length 3");
    check_err("pools[0.5]", NTG_ERR_GRAPH, "t.yaml:3:16: an index must be an integer, not float");
    check_err("h[0]", NTG_ERR_GRAPH, "t.yaml:3:11: cannot index int in 'h[0]'");
    check_err("[1, 2] - 1", NTG_ERR_GRAPH,
              "t.yaml:3:17: cannot apply '-' to list and int in '[1, 2] - 1'");
    check_err("-pools", NTG_ERR_GRAPH, "t.yaml:3:10: cannot apply unary '-' to list in '-pools'");
    check_err("batch + 1", NTG_ERR_GRAPH,
              "t.yaml:3:10: 'batch' is only valid as the first entry of an input shape or a "
              "reshape shape");
    check_err("max(batch, 1)", NTG_ERR_GRAPH,
              "t.yaml:3:10: 'batch' is only valid as the first entry of an input shape or a "
              "reshape shape");
    check_err("max([])", NTG_ERR_GRAPH, "t.yaml:3:10: max() of an empty list");
    check_err("max(3)", NTG_ERR_GRAPH, "t.yaml:3:10: max() of one argument needs a list, not int");
    check_err("len(3)", NTG_ERR_GRAPH, "t.yaml:3:10: len() takes a list or a string, not int");
    check_err("ceil(pools)", NTG_ERR_GRAPH, "t.yaml:3:10: ceil() takes a number, not list");
    check_err("sqrt(-1)", NTG_ERR_GRAPH, "t.yaml:3:10: sqrt() of a negative number in 'sqrt(-1)'");
    check_err("ceil(1e300)", NTG_ERR_GRAPH,
              "t.yaml:3:10: cannot convert 1e+300 to an integer in 'ceil(1e300)'");
    check_err("mae", NTG_ERR_GRAPH, "t.yaml:3:10: undefined name 'mae' in expression");
}

Test(compiler, expr_bare_words)
{
    ntg_value v;
    ntg_error err = {0};
    cr_assert_eq(ev_env("mae", 1, &v, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(v.kind, NTG_V_STR);
    cr_assert_str_eq(v.s, "mae");
    cr_assert_eq(ev_env("[mae, mse, h]", 1, &v, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg__value_str(pool, &v), "['mae', 'mse', 96]");
    /* a defined name still wins */
    cr_assert_eq(ev_env("hidden", 1, &v, &err), NTG_OK);
    cr_assert_eq(v.kind, NTG_V_INT);
    /* inside arithmetic a word is still a mistake */
    cr_assert_eq(ev_env("mae + 1", 1, &v, &err), NTG_ERR_GRAPH);
    cr_assert_str_eq(err.message, "t.yaml:3:10: undefined name 'mae' in expression");
}

Test(compiler, expr_inexact_location_points_at_the_scalar)
{
    ntg_loc loc = {"m.yaml", 7, 4};
    ntg_expr *e;
    ntg_error err = {0};
    cr_assert_eq(ntg__expr_parse(pool, "1 +\n (2", 7, loc, 0, &e, &err), NTG_ERR_PARSE);
    cr_assert_str_eq(err.message, "m.yaml:7:4: bad expression '1 +\n (2': expected ')'");
}

Test(compiler, expr_names_and_hints)
{
    cr_assert(ntg__is_ident("a_1"));
    cr_assert(!ntg__is_ident("1a"));
    cr_assert(!ntg__is_ident("a.b"));
    cr_assert(ntg__is_tensor_name("blocks.0.x"));
    cr_assert(!ntg__is_tensor_name("blocks/0"));
    cr_assert(!ntg__is_tensor_name(""));
    cr_assert(ntg__is_reserved("batch"));
    cr_assert(ntg__is_reserved("max"));
    cr_assert(ntg__is_reserved("true"));
    cr_assert(!ntg__is_reserved("h"));
    ntg_nearest near;
    char buf[64];
    ntg__nearest_init(&near, "x");
    ntg__nearest_try(&near, "h");
    cr_assert_str_eq(ntg__nearest_hint(&near, buf, sizeof buf), "");
    ntg__nearest_init(&near, "layer");
    ntg__nearest_try(&near, "units");
    ntg__nearest_try(&near, "layers");
    cr_assert_str_eq(ntg__nearest_hint(&near, buf, sizeof buf), "; did you mean 'layers'?");
}

/* ------------------------------------------- comparisons and conditionals */

static void check_bool(const char *text, int want)
{
    ntg_value v;
    ntg_error err = {0};
    ntg_status st = ev(text, &v, &err);
    cr_assert_eq(st, NTG_OK, "%s: %s", text, err.message);
    cr_assert_eq(v.kind, NTG_V_BOOL, "%s: kind %d", text, (int)v.kind);
    cr_assert_eq(v.i, want, "%s = %lld, want %d", text, (long long)v.i, want);
}

Test(compiler, expr_comparisons)
{
    check_bool("h > 64", 1);
    check_bool("h >= 96", 1);
    check_bool("h < 96", 0);
    check_bool("h <= 95", 0);
    check_bool("h == 96", 1);
    check_bool("h != 96", 0);
    /* arithmetic binds tighter: 2 * h > 100 is (2 * h) > 100 */
    check_bool("2 * h > 100 + 80", 1);
    /* Python's chains: 1 < h < 100 is 1 < h and h < 100 */
    check_bool("1 < h < 100", 1);
    check_bool("1 < h < 50", 0);
    check_bool("3 > 2 > 1", 1); /* not (3 > 2) > 1 */
    /* numbers by value across int, float and bool */
    check_bool("x == 0.5", 1);
    check_bool("1 == 1.0", 1);
    check_bool("true == 1", 1);
    check_bool("x < 1", 1);
    check_bool("9007199254740993 > 9007199254740992", 1); /* ints compared exactly */
    /* strings, lists; different kinds are unequal */
    check_bool("s == 'ab'", 1);
    check_bool("'abc' < 'abd'", 1);
    check_bool("pools == [2, 2, 1]", 1);
    check_bool("pools != [2, 2]", 1);
    check_bool("s == 1", 0);
    check_bool("s != 1", 1);
    /* a comparison is a bool: it counts as 0 or 1 */
    check_int("(h > 10) + (h > 100)", 1);
}

Test(compiler, expr_conditional)
{
    check_int("1 if h > 64 else 2", 1);
    check_int("1 if h > 100 else 2", 2);
    /* lowest precedence, right-associative: a if c else b if d else e */
    check_int("1 if h < 10 else 2 if h < 100 else 3", 2);
    check_int("h // 2 if h % 2 == 0 else h", 48);
    check_text("[1] + pools if len(pools) > 2 else []", "[1, 2, 2, 1]");
    /* Python's truth values */
    check_int("1 if 0 else 2", 2);
    check_int("1 if 0.0 else 2", 2);
    check_int("1 if '' else 2", 2);
    check_int("1 if [] else 2", 2);
    check_int("1 if pools else 2", 1);
    check_int("1 if s else 2", 1);
    /* only the chosen branch is evaluated */
    check_int("h if h > 0 else 1 // 0", 96);
    check_int("1 // 0 if h < 0 else h", 96);
    /* str() gives Python's text (for names built in expressions) */
    check_text("'h' + str(3)", "h3");
    check_text("str(pools)", "[2, 2, 1]");
    check_text("str(x)", "0.5");
}

Test(compiler, expr_conditional_bare_words)
{
    ntg_value v;
    ntg_error err = {0};
    cr_assert_eq(ev_env("gelu if h > 64 else relu", 1, &v, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(v.kind, NTG_V_STR);
    cr_assert_str_eq(v.s, "gelu");
    cr_assert_eq(ev_env("gelu if h > 100 else relu", 1, &v, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(v.s, "relu");
}

Test(compiler, expr_comparison_errors)
{
    check_err("s < 1", NTG_ERR_GRAPH, "t.yaml:3:12: cannot compare str < int in 's < 1'");
    check_err("pools < [3]", NTG_ERR_GRAPH,
              "t.yaml:3:16: cannot compare list < list in 'pools < [3]'");
    check_err("batch == 1", NTG_ERR_GRAPH,
              "t.yaml:3:16: 'batch' is only valid as the first entry of an input shape or a "
              "reshape shape");
    check_err("1 if batch else 2", NTG_ERR_GRAPH,
              "t.yaml:3:15: 'batch' is only valid as the first entry of an input shape or a "
              "reshape shape");
    check_err("1 if h > 2", NTG_ERR_PARSE,
              "t.yaml:3:20: bad expression '1 if h > 2': expected 'else' (a conditional is 'a if "
              "c else b')");
    check_err("h = 2", NTG_ERR_PARSE,
              "t.yaml:3:12: bad expression 'h = 2': unexpected '=' (compare with '==')");
    check_err("h ! 2", NTG_ERR_PARSE,
              "t.yaml:3:12: bad expression 'h ! 2': unexpected '!' (not equal is '!=')");
    /* if and else are words of the language, not names */
    cr_assert(ntg__is_reserved("if"));
    cr_assert(ntg__is_reserved("else"));
    cr_assert(ntg__is_reserved("str"));
}
