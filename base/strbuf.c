/* strbuf.c — the growable buffer of strbuf.h. */
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `n` more bytes and the NUL; 0, or -1 with `oom` set. */
static int reserve(ntg_strbuf *b, size_t n)
{
    if (b->oom) return -1;
    size_t max = b->limit ? b->limit : SIZE_MAX - 1;
    if (n > max || b->len > max - n) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *q = realloc(b->p, cap);
    if (!q) {
        b->oom = 1;
        return -1;
    }
    b->p = q;
    b->cap = cap;
    return 0;
}

void ntg__sb_put(ntg_strbuf *b, const void *s, size_t n)
{
    if (reserve(b, n)) return;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ntg__sb_puts(ntg_strbuf *b, const char *s)
{
    ntg__sb_put(b, s, strlen(s));
}

void ntg__sb_putc(ntg_strbuf *b, char c)
{
    ntg__sb_put(b, &c, 1);
}

void ntg__sb_vputf(ntg_strbuf *b, const char *fmt, va_list ap)
{
    if (b->oom) return;
    va_list again;
    va_copy(again, ap);
    /* first into the room there is; only a longer text costs a second formatting */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        b->oom = 1;
    } else if ((size_t)n < room) {
        size_t max = b->limit ? b->limit : SIZE_MAX - 1;
        if ((size_t)n > max - b->len) {
            b->p[b->len] = '\0';
            b->oom = 1;
        } else {
            b->len += (size_t)n;
        }
    } else if (reserve(b, (size_t)n) == 0) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    } else if (b->p) {
        b->p[b->len] = '\0'; /* the first try wrote past the text */
    }
    va_end(again);
}

void ntg__sb_putf(ntg_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__sb_vputf(b, fmt, ap);
    va_end(ap);
}

char *ntg__sb_take(ntg_strbuf *b, size_t *len)
{
    char *r = b->oom ? NULL : b->p ? b->p : calloc(1, 1);
    if (len) *len = r ? b->len : 0;
    if (!r) free(b->p);
    size_t limit = b->limit;
    memset(b, 0, sizeof *b);
    b->limit = limit;
    return r;
}

void ntg__sb_free(ntg_strbuf *b)
{
    free(b->p);
    size_t limit = b->limit;
    memset(b, 0, sizeof *b);
    b->limit = limit;
}
