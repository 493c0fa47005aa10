/* test_base_crc32c_gen.c — the CRC32C tables checked in to base/crc32c.c are exactly
 * what their generator, base/crc32c_gen.py, prints; and the check would see a difference. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Run `python3 crc32c_gen.py ARGS` with stderr joined to stdout; the exit status, or -1 when
 * the command could not be run.  *out gets the text (caller frees). */
static int run_gen(const char *args, char **out)
{
    char gen[4096], cmd[8192];
    snprintf(gen, sizeof gen, "%s", tu_src("base/crc32c_gen.py"));
    snprintf(cmd, sizeof cmd, "python3 '%s' %s 2>&1", gen, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[n] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_python(void)
{
    if (system("python3 -c 'import sys' >/dev/null 2>&1") != 0)
        cr_skip_test("python3 is not installed here: the generator cannot run");
}

/* The block between the clang-format markers of base/crc32c.c, as a new string. */
static char *checked_in_block(void)
{
    size_t size = 0;
    char *text = tu_read_file(tu_src("base/crc32c.c"), &size);
    cr_assert_not_null(text, "cannot read base/crc32c.c");
    const char *begin_mark = "/* clang-format off */\n";
    char *a = strstr(text, begin_mark);
    cr_assert_not_null(a, "base/crc32c.c has no clang-format off marker");
    a += strlen(begin_mark);
    char *b = strstr(a, "/* clang-format on */\n");
    cr_assert_not_null(b, "base/crc32c.c has no clang-format on marker");
    char *block = strndup(a, (size_t)(b - a));
    free(text);
    return block;
}

Test(crc32c_gen, generator_prints_the_checked_in_tables)
{
    need_python();
    char *out = NULL;
    int rc = run_gen("", &out);
    cr_assert_eq(rc, 0, "crc32c_gen.py failed (%d): %s", rc, out);
    char *block = checked_in_block();
    /* 8 slicing tables + 4 + 4 shift tables of 256 words */
    size_t words = 0;
    for (const char *s = out; (s = strstr(s, "0x")) != NULL; s += 2) words++;
    cr_assert_eq(words, 16u * 256u, "generator printed %zu words", words);
    cr_assert_str_eq(out, block, "base/crc32c.c's tables differ from crc32c_gen.py's output");
    free(block);
    free(out);
}

Test(crc32c_gen, check_mode_accepts_the_source)
{
    need_python();
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "--check '%s'", tu_src("base/crc32c.c"));
    int rc = run_gen(args, &out);
    cr_assert_eq(rc, 0, "crc32c_gen.py --check: %s", out);
    cr_assert_str_empty(out);
    free(out);
}

/* One word of crc_shift_short changed: --check names the line and exits 1. */
Test(crc32c_gen, check_mode_finds_a_changed_word)
{
    need_python();
    size_t size = 0;
    char *text = tu_read_file(tu_src("base/crc32c.c"), &size);
    cr_assert_not_null(text);
    char *hit = strstr(text, "static const uint32_t crc_shift_short");
    cr_assert_not_null(hit);
    hit = strstr(hit, "0xdcb17aa4"); /* crc_shift_short[0][1] */
    cr_assert_not_null(hit, "crc_shift_short[0][1] is not 0xdcb17aa4");
    hit[9] = '5';
    char path[] = "/tmp/ntg_crc32c_gen_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, size), (ssize_t)size);
    close(fd);
    free(text);
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "--check '%s'", path);
    int rc = run_gen(args, &out);
    unlink(path);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "checked-in table differs from the generator's") != NULL, "%s", out);
    cr_assert(strstr(out, "0xdcb17aa5") != NULL && strstr(out, "0xdcb17aa4") != NULL, "%s", out);
    free(out);
}
