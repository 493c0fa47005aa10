/* cli_testutil.h — running the built ntgraph command from a Criterion suite: a temporary
 * folder per test, file names in it, and a shell runner that captures the output. */
#ifndef NTG_CLI_TESTUTIL_H
#define NTG_CLI_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char tmpdir[256];

static inline void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ntg-cli-XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

static inline void rm_tmp(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* `name` inside the test's folder (four buffers in rotation). */
static inline const char *tmp(const char *name)
{
    static _Thread_local char buf[4][512];
    static _Thread_local int k;
    char *b = buf[k++ & 3];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

/* Run a shell command line (ntgraph is $NTG, the source root $SRC); capture stdout and
 * stderr into out (caller frees) and return the exit status. */
static inline int sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int sh(char **out, const char *fmt, ...)
{
    char cmd[4096], full[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    /* tu_src/tu_build return static buffers: copy each before the next call */
    char src[2048], bin[2048];
    snprintf(src, sizeof src, "%s", tu_src(""));
    snprintf(bin, sizeof bin, "%s", tu_build("cli/ntgraph"));
    snprintf(full, sizeof full, "cd '%s' && NTG='%s' && SRC='%s' && (%s) >'%s' 2>&1", src, bin, src,
             cmd, tmp("out.txt"));
    int rc = system(full);
    size_t n;
    char *text = tu_read_file(tmp("out.txt"), &n);
    cr_assert(text);
    if (out)
        *out = text;
    else
        free(text);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

#endif /* NTG_CLI_TESTUTIL_H */
