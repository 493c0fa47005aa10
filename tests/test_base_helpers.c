/* test_base_helpers.c — base/'s shared helpers: the string buffer (growth, limit, out of
 * memory), whole-file reads (limits and errors), atomic replacement, and "did you mean". */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "fileio.h"
#include "nearest.h"
#include "ntg_error.h"
#include "strbuf.h"
#include "testutil.h"

/* ------------------------------------------------------------------ strbuf */

Test(base_strbuf, grows_keeps_bytes_and_terminates)
{
    ntg_strbuf b = {0};
    cr_assert_null(b.p);
    /* many small puts force several doublings; the text stays exact and NUL-terminated */
    for (int i = 0; i < 1000; i++) ntg__sb_putf(&b, "%d,", i % 10);
    cr_assert_eq(b.len, 2000);
    cr_assert_geq(b.cap, b.len + 1);
    cr_assert_eq(b.p[b.len], '\0');
    for (size_t i = 0; i < b.len; i += 2) {
        cr_assert_eq(b.p[i], (char)('0' + (i / 2) % 10), "at %zu", i);
        cr_assert_eq(b.p[i + 1], ',');
    }
    /* bytes with a NUL inside are kept as bytes */
    ntg__sb_put(&b, "a\0b", 3);
    cr_assert_eq(b.len, 2003);
    cr_assert_eq(memcmp(b.p + 2000, "a\0b", 3), 0);
    ntg__sb_putc(&b, 'z');
    cr_assert_eq(b.p[2003], 'z');
    cr_assert_not(b.oom);
    size_t len = 0;
    char *s = ntg__sb_take(&b, &len);
    cr_assert_eq(len, 2004);
    cr_assert_eq(s[len], '\0');
    cr_assert_null(b.p);
    cr_assert_eq(b.len, 0);
    free(s);
}

Test(base_strbuf, putf_longer_than_the_room_is_formatted_whole)
{
    ntg_strbuf b = {0};
    ntg__sb_puts(&b, "x"); /* 64 bytes of room, 63 free */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ntg__sb_putf(&b, "<%s>", big);
    cr_assert_eq(b.len, 1 + 1 + 4999 + 1);
    cr_assert_eq(b.p[0], 'x');
    cr_assert_eq(b.p[1], '<');
    cr_assert_eq(b.p[b.len - 1], '>');
    cr_assert_eq(strlen(b.p), b.len);
    ntg__sb_free(&b);
    cr_assert_null(b.p);
}

Test(base_strbuf, empty_take_is_an_empty_string)
{
    ntg_strbuf b = {0};
    size_t len = 99;
    char *s = ntg__sb_take(&b, &len);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    cr_assert_eq(len, 0);
    free(s);
}

Test(base_strbuf, limit_stops_it_and_is_sticky)
{
    ntg_strbuf b = {.limit = 10};
    ntg__sb_puts(&b, "0123456789"); /* exactly the limit: fine */
    cr_assert_not(b.oom);
    cr_assert_eq(b.len, 10);
    ntg__sb_putc(&b, 'x'); /* one past */
    cr_assert(b.oom);
    cr_assert_eq(b.len, 10, "a refused put adds nothing");
    cr_assert_str_eq(b.p, "0123456789");
    b.oom = 0;
    ntg__sb_putf(&b, "%s", "y"); /* the formatted path refuses too, and keeps the NUL */
    cr_assert(b.oom);
    cr_assert_str_eq(b.p, "0123456789");
    ntg__sb_puts(&b, ""); /* nothing is added once oom, not even nothing */
    cr_assert(b.oom);
    size_t len = 5;
    cr_assert_null(ntg__sb_take(&b, &len), "a buffer that failed gives no text");
    cr_assert_eq(len, 0);
    cr_assert_eq(b.limit, 10, "the limit is kept for the next use");
    cr_assert_not(b.oom);
}

Test(base_strbuf, size_overflow_is_refused_not_wrapped)
{
    ntg_strbuf b = {0};
    ntg__sb_puts(&b, "abc");
    /* a length that would wrap len + n + 1 around SIZE_MAX */
    ntg__sb_put(&b, "", SIZE_MAX - 1);
    cr_assert(b.oom);
    cr_assert_eq(b.len, 3);
    ntg__sb_free(&b);
}

Test(base_strbuf, out_of_memory_is_sticky)
{
    if (!af_available()) cr_skip_test("the malloc interposer is compiled out (sanitizer build)");
    af_mark_thread();
    ntg_strbuf b = {0};
    af_inject(1);
    ntg__sb_puts(&b, "hello");
    long seen = af_inject_stop();
    cr_assert(af_injected(), "the first allocation (%ld seen) was failed", seen);
    cr_assert(b.oom);
    cr_assert_null(b.p);
    ntg__sb_puts(&b, "again"); /* no second allocation is even tried */
    cr_assert(b.oom);
    cr_assert_null(ntg__sb_take(&b, NULL));
}

/* ------------------------------------------------------------------ files */

static char tmpdir_path[64];

static void mk_tmpdir(void)
{
    snprintf(tmpdir_path, sizeof tmpdir_path, "/tmp/ntg_base_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir_path));
}

static void rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
    cr_assert_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(base_file, read_whole_file, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/a.txt", tmpdir_path);
    write_text(path, "line one\nline two\n");
    char *text = NULL;
    size_t len = 0;
    ntg_error err;
    cr_assert_eq(ntg__file_read(path, 0, &text, &len, &err), NTG_OK);
    cr_assert_eq(len, 18);
    cr_assert_str_eq(text, "line one\nline two\n");
    free(text);
    /* exactly at the limit is accepted */
    cr_assert_eq(ntg__file_read(path, 18, &text, &len, &err), NTG_OK);
    cr_assert_eq(len, 18);
    free(text);
    /* an empty file is an empty, terminated string */
    snprintf(path, sizeof path, "%s/empty", tmpdir_path);
    write_text(path, "");
    cr_assert_eq(ntg__file_read(path, 0, &text, &len, &err), NTG_OK);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(text, "");
    free(text);
}

Test(base_file, read_refuses_with_the_path_and_the_reason, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    char path[128], want[256];
    char *text = (char *)1;
    size_t len = 7;
    ntg_error err;

    snprintf(path, sizeof path, "%s/missing", tmpdir_path);
    cr_assert_eq(ntg__file_read(path, 0, &text, &len, &err), NTG_ERR_IO);
    cr_assert_null(text);
    cr_assert_eq(len, 0);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(err.message, want);
    cr_assert_str_eq(err.file, path);
    cr_assert_eq(err.os_errno, ENOENT);

    cr_assert_eq(ntg__file_read(tmpdir_path, 0, &text, &len, &err), NTG_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", tmpdir_path);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(err.os_errno, EISDIR);

    /* over the limit: refused from the size before reading; bad input, so no os_errno (the
     * CLI exits 2, not 1) */
    snprintf(path, sizeof path, "%s/big", tmpdir_path);
    write_text(path, "0123456789A");
    cr_assert_eq(ntg__file_read(path, 10, &text, &len, &err), NTG_ERR_IO);
    snprintf(want, sizeof want, "%s: the file is larger than 10 bytes", path);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(err.os_errno, 0);
    cr_assert_null(text);

    /* the raw form says what failed, for callers that phrase their own message */
    int e = 0;
    cr_assert_eq(ntg__file_slurp(path, 10, &text, &len, &e), NTG_FILE_TOO_BIG);
    cr_assert_eq(e, EFBIG);
    cr_assert_eq(ntg__file_slurp(tmpdir_path, 0, &text, &len, &e), NTG_FILE_READ);
    cr_assert_eq(e, EISDIR);
    snprintf(path, sizeof path, "%s/missing", tmpdir_path);
    cr_assert_eq(ntg__file_slurp(path, 0, &text, &len, &e), NTG_FILE_OPEN);
    cr_assert_eq(e, ENOENT);

    cr_assert_eq(ntg__file_read(NULL, 0, &text, &len, &err), NTG_ERR_INVALID_ARG);
}

Test(base_file, read_a_pipe_checks_the_limit_while_reading)
{
    /* a pipe has no size up front: the limit is checked as the bytes come */
    char *text = NULL;
    size_t len = 0;
    int e = 0;
    FILE *p = popen("printf 'abcdefghijklmnopqrstuvwxyz'", "r");
    cr_assert_not_null(p);
    char dev[64];
    snprintf(dev, sizeof dev, "/dev/fd/%d", fileno(p));
    cr_assert_eq(ntg__file_slurp(dev, 5, &text, &len, &e), NTG_FILE_TOO_BIG);
    cr_assert_eq(e, EFBIG);
    cr_assert_null(text);
    pclose(p);
    p = popen("printf 'abcdefghijklmnopqrstuvwxyz'", "r");
    cr_assert_not_null(p);
    snprintf(dev, sizeof dev, "/dev/fd/%d", fileno(p));
    cr_assert_eq(ntg__file_slurp(dev, 26, &text, &len, &e), NTG_FILE_OK);
    cr_assert_eq(len, 26);
    cr_assert_str_eq(text, "abcdefghijklmnopqrstuvwxyz");
    free(text);
    pclose(p);
}

Test(base_file, replace_writes_all_parts_at_once, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    char path[128], tmp[192];
    snprintf(path, sizeof path, "%s/out.bin", tmpdir_path);
    write_text(path, "old contents");
    ntg_span parts[3] = {{"head|", 5}, {"", 0}, {"tail", 4}};
    ntg_error err;
    cr_assert_eq(ntg__file_replace(path, parts, 3, &err), NTG_OK, "%s", err.message);
    size_t n = 0;
    char *disk = tu_read_file(path, &n);
    cr_assert_str_eq(disk, "head|tail");
    free(disk);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_eq(access(tmp, F_OK), -1, "no temporary file is left behind");

    /* exact permission bits, whatever the umask */
    mode_t old = umask(0);
    snprintf(path, sizeof path, "%s/secret", tmpdir_path);
    cr_assert_eq(ntg__file_replace_mode(path, parts, 1, 0600, &err), NTG_OK, "%s", err.message);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    umask(old);
}

Test(base_file, replace_failures_leave_the_old_file, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    char path[128], tmp[192], want[512];
    ntg_span part = {"new", 3};
    ntg_error err;
    snprintf(path, sizeof path, "%s/keep.txt", tmpdir_path);
    write_text(path, "old");

    /* someone else's file (or link) at the temporary name is never written through */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    write_text(tmp, "theirs");
    cr_assert_eq(ntg__file_replace(path, &part, 1, &err), NTG_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create %s: File exists", path, tmp);
    cr_assert_str_eq(err.message, want);
    cr_assert_eq(err.os_errno, EEXIST);
    char *disk = tu_read_file(tmp, NULL);
    cr_assert_str_eq(disk, "theirs");
    free(disk);
    cr_assert_eq(unlink(tmp), 0);

    /* the rename fails (a directory is there): the temporary file is removed */
    snprintf(path, sizeof path, "%s/adir", tmpdir_path);
    cr_assert_eq(mkdir(path, 0700), 0);
    char inner[192];
    snprintf(inner, sizeof inner, "%s/x", path);
    write_text(inner, "x"); /* not empty: rename(2) cannot replace it */
    cr_assert_eq(ntg__file_replace(path, &part, 1, &err), NTG_ERR_IO);
    cr_assert(strstr(err.message, "into place: "), "%s", err.message);
    cr_assert_neq(err.os_errno, 0);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_eq(access(tmp, F_OK), -1);

    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/no/such/file", tmpdir_path);
    cr_assert_eq(ntg__file_replace(path, &part, 1, &err), NTG_ERR_IO);
    cr_assert_eq(err.os_errno, ENOENT);
    cr_assert_str_eq(err.file, path);

    snprintf(path, sizeof path, "%s/keep.txt", tmpdir_path);
    disk = tu_read_file(path, NULL);
    cr_assert_str_eq(disk, "old");
    free(disk);
}

Test(base_file, write_full_reports_a_full_disk)
{
    /* /dev/full: every write fails with ENOSPC; it cannot hold a temporary file beside it,
     * so write straight to it to see ntg__write_full report the errno */
    FILE *f = fopen("/dev/full", "wb");
    if (!f) cr_skip_test("no /dev/full here");
    cr_assert_eq(ntg__write_full(fileno(f), "abc", 3), ENOSPC);
    fclose(f);
}

/* ------------------------------------------------------------------ nearest */

Test(base_nearest, edit_distance_counts_a_transposition_as_one)
{
    cr_assert_eq(ntg__edit_distance("gelu", "gelu"), 0);
    cr_assert_eq(ntg__edit_distance("gleu", "gelu"), 1);
    cr_assert_eq(ntg__edit_distance("hte", "the"), 1);
    cr_assert_eq(ntg__edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(ntg__edit_distance("", "abc"), 3);
    cr_assert_eq(ntg__edit_distance("abc", ""), 3);
    cr_assert_eq(ntg__edit_distance("ca", "abc"), 3); /* OSA, not Damerau: no edit twice */
    char long_name[NTG_NEAREST_MAX_LEN + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_assert_eq(ntg__edit_distance(long_name, "a"), NTG_NEAREST_FAR);
    long_name[NTG_NEAREST_MAX_LEN] = '\0'; /* the longest compared */
    cr_assert_eq(ntg__edit_distance(long_name, long_name), 0);
}

Test(base_nearest, suggests_the_nearest_close_enough_name)
{
    char buf[64];
    ntg_nearest n;
    ntg__nearest_init(&n, "input_sise");
    ntg__nearest_try(&n, "horizon");
    ntg__nearest_try(&n, "input_size");
    ntg__nearest_try(&n, "input_sizes");
    cr_assert_str_eq(n.best, "input_size");
    cr_assert_str_eq(ntg__nearest_hint(&n, buf, sizeof buf), "; did you mean 'input_size'?");

    /* a prefix of 3 bytes or more counts as one edit */
    ntg__nearest_init(&n, "layer");
    ntg__nearest_try(&n, "units");
    ntg__nearest_try(&n, "layers_norm");
    cr_assert_str_eq(n.best, "layers_norm");

    /* too far, or a whole short name replaced: no hint at all */
    ntg__nearest_init(&n, "x");
    ntg__nearest_try(&n, "h");
    cr_assert_null(n.best);
    cr_assert_str_eq(ntg__nearest_hint(&n, buf, sizeof buf), "");
    ntg__nearest_init(&n, "dropout");
    ntg__nearest_try(&n, "activation");
    cr_assert_null(n.best);
    /* ... unless short names may be suggested for short ones */
    ntg__nearest_init(&n, "x");
    n.short_ok = 1;
    ntg__nearest_try(&n, "h");
    cr_assert_str_eq(n.best, "h");

    /* the name itself and NULL are never suggested; the first of equals wins */
    ntg__nearest_init(&n, "relu");
    ntg__nearest_try(&n, "relu");
    ntg__nearest_try(&n, NULL);
    cr_assert_null(n.best);
    ntg__nearest_try(&n, "gelu");
    ntg__nearest_try(&n, "selu");
    cr_assert_str_eq(n.best, "gelu");
}
