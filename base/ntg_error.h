/* ntg_error.h — filling ntg_error; the bottom of the module stack, so every module can report. */
#ifndef NTG_ERROR_H
#define NTG_ERROR_H

#include <stdarg.h>

#include "ntgraph.h"

#if defined(__GNUC__)
#define NTG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NTG_PRINTF(a, b)
#endif

/* Fill `err` (if not NULL) with status, place and message, and return `status`.
 * `file` may be NULL; line/column 0 mean "not applicable".  The message gets the
 * place as a prefix ("file:line:col: ", "file: "). */
ntg_status ntg__err(ntg_error *err, ntg_status status, const char *file, int line, int column,
                    const char *fmt, ...) NTG_PRINTF(6, 7);
ntg_status ntg__verr(ntg_error *err, ntg_status status, const char *file, int line, int column,
                     const char *fmt, va_list ap) NTG_PRINTF(6, 0);
/* ntg__err for a failed system call: also records `os_errno` (ntg_error.os_errno). */
ntg_status ntg__err_os(ntg_error *err, ntg_status status, int os_errno, const char *file,
                       const char *fmt, ...) NTG_PRINTF(5, 6);
/* Shorthand without a place. */
#define ntg__fail(err, status, ...) ntg__err((err), (status), NULL, 0, 0, __VA_ARGS__)

/* Prefix an already filled error's message with more context ("while loading X: ..."). */
void ntg__err_prefix(ntg_error *err, const char *fmt, ...) NTG_PRINTF(2, 3);

/* snprintf that never overflows and always terminates; returns buf. */
char *ntg__strfmt(char *buf, size_t cap, const char *fmt, ...) NTG_PRINTF(3, 4);

/* The system's text for errno `e` (strerror_r: thread-safe) in buf, or "error E"; returns buf. */
const char *ntg__errno_str(int e, char *buf, size_t cap);

#endif /* NTG_ERROR_H */
