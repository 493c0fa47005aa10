/* ntg_error.c — ntg_strerror and the helpers that fill caller-owned ntg_error structs. */
#include "ntg_error.h"

#include <stdio.h>
#include <string.h>

const char *ntg_strerror(ntg_status status)
{
    switch (status) {
    case NTG_OK:
        return "ok";
    case NTG_ERR_INVALID_ARG:
        return "invalid argument";
    case NTG_ERR_NOMEM:
        return "out of memory";
    case NTG_ERR_IO:
        return "input/output error";
    case NTG_ERR_PARSE:
        return "syntax error";
    case NTG_ERR_GRAPH:
        return "invalid graph";
    case NTG_ERR_SHAPE:
        return "shape mismatch";
    case NTG_ERR_PLAN:
        return "invalid plan file";
    case NTG_ERR_VERSION:
        return "unsupported plan version";
    case NTG_ERR_NOT_FOUND:
        return "not found";
    case NTG_ERR_UNSUPPORTED:
        return "not supported";
    case NTG_ERR_BACKEND:
        return "backend failure";
    case NTG_ERR_RANGE:
        return "value out of range";
    case NTG_ERR_DATA:
        return "invalid data";
    case NTG_ERR_STATE:
        return "invalid state";
    case NTG_ERR_INTERNAL:
        return "internal error";
    case NTG_ERR_PEER_LOST:
        return "mesh peer lost";
    }
    return "unknown status";
}

static void copy_trunc(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* dst = a + b, truncated to cap. */
static void join2(char *dst, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= cap) la = cap - 1;
    memmove(dst, a, la);
    if (lb >= cap - la) lb = cap - la - 1;
    memmove(dst + la, b, lb);
    dst[la + lb] = '\0';
}

ntg_status ntg__verr(ntg_error *err, ntg_status status, const char *file, int line, int column,
                     const char *fmt, va_list ap)
{
    if (!err) return status;
    char body[sizeof err->message];
    vsnprintf(body, sizeof body, fmt, ap);
    err->status = status;
    err->os_errno = 0;
    err->line = line;
    err->column = column;
    copy_trunc(err->file, sizeof err->file, file ? file : "");
    char place[sizeof err->file + 32];
    place[0] = '\0';
    if (file && file[0] && line > 0 && column > 0)
        snprintf(place, sizeof place, "%.255s:%d:%d: ", file, line, column);
    else if (file && file[0] && line > 0)
        snprintf(place, sizeof place, "%.255s:%d: ", file, line);
    else if (file && file[0])
        snprintf(place, sizeof place, "%.255s: ", file);
    join2(err->message, sizeof err->message, place, body);
    return status;
}

ntg_status ntg__err(ntg_error *err, ntg_status status, const char *file, int line, int column,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(err, status, file, line, column, fmt, ap);
    va_end(ap);
    return status;
}

ntg_status ntg__err_os(ntg_error *err, ntg_status status, int os_errno, const char *file,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ntg__verr(err, status, file, 0, 0, fmt, ap);
    va_end(ap);
    if (err) err->os_errno = os_errno;
    return status;
}

void ntg__err_prefix(ntg_error *err, const char *fmt, ...)
{
    if (!err || !fmt) return;
    char pre[256], old[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    copy_trunc(old, sizeof old, err->message);
    join2(err->message, sizeof err->message, pre, old);
}

char *ntg__strfmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

const char *ntg__errno_str(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0) ntg__strfmt(buf, cap, "error %d", e);
    return buf;
}
