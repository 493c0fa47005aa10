/* strbuf.h — one growable text/byte buffer for every module (metadata text, SVG, canonical
 * graph text, store keys and records). */
#ifndef NTG_STRBUF_H
#define NTG_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "ntg_error.h"

/* Start with `ntg_strbuf b = {0};` (optionally set `limit`).  The bytes are kept
 * NUL-terminated after the first put, so `p` is a C string when only text was put.
 * `oom` is sticky: once an allocation fails or `limit` would be passed, nothing more is added
 * and the caller reports it once at the end. */
typedef struct ntg_strbuf {
    char *p;      /* the bytes, NUL-terminated; NULL until the first put */
    size_t len;   /* bytes held, without the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* most bytes it may hold; 0: as many as memory allows */
    int oom;      /* an allocation failed or `limit` would have been passed */
} ntg_strbuf;

/* Append `n` bytes (any bytes, NULs included). */
void ntg__sb_put(ntg_strbuf *b, const void *s, size_t n);
void ntg__sb_puts(ntg_strbuf *b, const char *s);
void ntg__sb_putc(ntg_strbuf *b, char c);
/* Append printf-formatted text (no length cap but `limit`). */
void ntg__sb_putf(ntg_strbuf *b, const char *fmt, ...) NTG_PRINTF(2, 3);
void ntg__sb_vputf(ntg_strbuf *b, const char *fmt, va_list ap) NTG_PRINTF(2, 0);
/* The bytes as a malloc'ed, NUL-terminated string the caller frees (an empty one when
 * nothing was put), *len (may be NULL) their count; NULL when `oom` or out of memory now.
 * The buffer is left empty either way. */
char *ntg__sb_take(ntg_strbuf *b, size_t *len);
/* Free the bytes and empty the buffer (`limit` is kept). */
void ntg__sb_free(ntg_strbuf *b);

#endif /* NTG_STRBUF_H */
