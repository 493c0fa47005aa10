/* json.h — strict RFC 8259 JSON reader into a pool-allocated tree, and the writer helpers. */
#ifndef NTG_JSON_H
#define NTG_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ntgraph.h"
#include "pool.h"

/*
 * READING
 *
 * ntg__json_parse() accepts exactly RFC 8259 (no comments, no trailing commas,
 * no NaN/Infinity, no byte order mark, no leading zeros) and additionally
 * refuses, as serde_json does, what RFC 8259 leaves to the implementation:
 *   - invalid UTF-8 anywhere and lone surrogates in \u escapes;
 *   - duplicate keys in one object (compared byte for byte after unescaping);
 *   - nesting deeper than NTG_JSON_MAX_DEPTH arrays/objects;
 *   - numbers whose magnitude overflows a double (1e400).
 * Whitespace is allowed before and after the value (safetensors pads its header
 * with spaces).  Every node and string lives in the pool passed in; nothing
 * else is allocated after return, so destroying the pool frees the tree.
 */

#define NTG_JSON_MAX_DEPTH 128

typedef enum ntg_json_kind {
    NTG_JSON_NULL = 0,
    NTG_JSON_FALSE,
    NTG_JSON_TRUE,
    NTG_JSON_NUMBER,
    NTG_JSON_STRING,
    NTG_JSON_ARRAY,
    NTG_JSON_OBJECT
} ntg_json_kind;

typedef struct ntg_json ntg_json;
struct ntg_json {
    ntg_json_kind kind;
    size_t offset; /* byte offset of the value's first byte in the parsed text */
    /* STRING: the unescaped bytes, NUL-terminated; `len` excludes the terminator
     * and counts embedded NULs (from \u0000), so C-string users see a prefix.
     * NUMBER: the number's text exactly as written, NUL-terminated. */
    const char *str;
    size_t len;
    /* NUMBER: the value as a double (correctly rounded by strtod) and, when the
     * text is an integer literal (no fraction, no exponent: "12", "-0" but not
     * "12.0" or "1e2", as serde_json decides for integer fields) that fits,
     * is_int = 1 and i64 holds it exactly. */
    double num;
    int is_int;
    int64_t i64;
    /* ARRAY: n items.  OBJECT: n members, keys[i] (a STRING node) -> items[i],
     * in document order. */
    size_t n;
    const ntg_json **items;
    const ntg_json **keys;
};

/* Parse `len` bytes at `text` (need not be NUL-terminated).  On success *out is
 * the root and NTG_OK is returned.  On failure *out is NULL; the return is
 * NTG_ERR_PARSE (or NTG_ERR_NOMEM), `msg` (cap bytes, may be NULL) receives what
 * is wrong without a place ("unexpected character '}'") and *offset (may be
 * NULL) the byte offset where it was found. */
ntg_status ntg__json_parse(const char *text, size_t len, ntg_pool *pool, const ntg_json **out,
                           char *msg, size_t cap, size_t *offset);

/* Member `key` of an object (C string, so keys with embedded NULs never match);
 * NULL when `v` is NULL, not an object, or lacks the key.  Linear in the number
 * of members: objects in our files are small. */
const ntg_json *ntg__json_get(const ntg_json *v, const char *key);
/* Item `i` of an array; NULL when `v` is not an array or i >= n. */
const ntg_json *ntg__json_at(const ntg_json *v, size_t i);
/* 1 when v is not NULL and of kind k. */
int ntg__json_is(const ntg_json *v, ntg_json_kind k);
/* "null", "false", "true", "number", "string", "array", "object". */
const char *ntg__json_kind_name(ntg_json_kind k);

/* strtod for a decimal literal already checked by the caller's grammar (JSON or
 * CSV: digits, one '.', an exponent; no hex, no inf/nan), of `n` bytes, not
 * necessarily NUL-terminated.  Independent of the C locale's decimal point.
 * Returns 0 and *out; 1 when the magnitude overflows a double (*out = +-HUGE_VAL);
 * -1 when out of memory (only for literals longer than 256 bytes). */
int ntg__json_strtod(const char *s, size_t n, double *out);

/* 1 when the n bytes at s are valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF), else 0. */
int ntg__utf8_valid(const char *s, size_t n);

/*
 * WRITING (the CLI's --json output and the safetensors header)
 */

/* Write `s` as a JSON string with its quotes.  '"', '\\' and control characters
 * are escaped (\n, \t, ... or \u00XX); valid UTF-8 is written as is; bytes that
 * are not valid UTF-8 are written as \ufffd so the output is always valid JSON.
 * Returns 0, or -1 when the stream reports a write error. */
int ntg__json_put_string(FILE *f, const char *s);

/* Longest text ntg__json_fmt_number writes, with its NUL. */
#define NTG_JSON_NUMBER_CAP 32

/* Format a finite double so that strtod gives the same bits back: integral
 * values below 1e17 in magnitude as integers ("3", "-0"), others in the shortest
 * of %.15g/%.16g/%.17g that round-trips, always with '.' as the decimal point.
 * NaN and +-Inf have no JSON spelling: they are written as "null" (as
 * JavaScript's JSON.stringify does) and the function returns 1; otherwise 0. */
int ntg__json_fmt_number(char buf[NTG_JSON_NUMBER_CAP], double v);

/* ntg__json_fmt_number to a stream.  Returns 0 (NaN/Inf written as null, see
 * above), or -1 on a write error. */
int ntg__json_put_number(FILE *f, double v);

#endif /* NTG_JSON_H */
