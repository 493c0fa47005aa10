/* test_build_summary.c — the build's summary() claims only what this tree builds: every part
 * it reports as YES has its source folder (a 'cuda: YES' without ops/cuda/ misled users). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

/* The source folder behind each summary entry. */
static const char *part_dir(const char *name)
{
    static const char *const map[][2] = {
        {"cpu (reference)", "ops/cpu"},     {"xnnpack", "ops/xnnpack"},
        {"vulkan", "ops/vulkan"},           {"cuda", "ops/cuda"},
        {"rocksdb store", "store"},         {"zeromq mesh", "mesh"},
        {"serve (libmicrohttpd)", "serve"}, {"tests (criterion)", "tests"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], name) == 0) return map[i][1];
    return NULL;
}

Test(build, summary_claims_only_what_is_built)
{
    size_t n;
    char *log = tu_read_file(tu_build("meson-logs/meson-log.txt"), &n);
    if (!log) cr_skip_test("no meson-logs/meson-log.txt in the build folder");
    /* the last configure's summary: its sections start with "  Backends" */
    char *at = NULL;
    for (char *p = log; (p = strstr(p, "\n  Backends\n")); p++) at = p;
    cr_assert(at, "no Backends section in the build's summary");
    int entries = 0, sections = 0;
    char *next = NULL;
    for (char *line = at + 1; line && *line; line = next) {
        char *end = strchr(line, '\n');
        if (!end) break;
        *end = '\0';
        next = end + 1;
        if (strncmp(line, "  ", 2) == 0 && line[2] != ' ') { /* a section title */
            if (strcmp(line + 2, "Backends") && strcmp(line + 2, "Components")) break;
            sections++;
            continue;
        }
        char *colon = strchr(line, ':');
        if (strncmp(line, "    ", 4) != 0 || !colon) continue;
        char *name = line + 4, *value = colon + 1, *ne = colon;
        while (ne > name && ne[-1] == ' ') ne--;
        *ne = '\0';
        while (*value == ' ') value++;
        entries++;
        if (strcmp(value, "YES") != 0) continue;
        const char *dir = part_dir(name);
        cr_assert(dir, "summary entry '%s' is YES: map it to its source folder here", name);
        struct stat sb;
        cr_assert(stat(tu_src(dir), &sb) == 0 && S_ISDIR(sb.st_mode),
                  "the summary says '%s: YES', but the tree has no %s/", name, dir);
    }
    cr_assert_eq(sections, 2, "Backends and Components");
    cr_assert_geq(entries, 5);
    free(log);
}
