/* test_ops_docs.c — docs/graph-format.md documents every op of ops.def and every attribute. */
#include <criterion/criterion.h>
#include <string.h>

#include "ops.h"
#include "testutil.h"

/* The op's section: a "### " heading naming it (alone or in a comma list). */
static const char *find_section(const char *doc, const char *op)
{
    for (const char *p = strstr(doc, "\n### "); p; p = strstr(p + 1, "\n### ")) {
        const char *end = strchr(p + 5, '\n');
        size_t n = strlen(op);
        for (const char *q = p + 5; q && q + n <= end; q++) {
            int starts = q == p + 5 || q[-1] == ' ';
            int ends = q + n == end || q[n] == ',' || q[n] == ' ';
            if (starts && ends && strncmp(q, op, n) == 0) return end;
        }
    }
    return NULL;
}

Test(ops, every_op_and_attribute_documented)
{
    char *doc = tu_read_file(tu_src("docs/graph-format.md"), NULL);
    cr_assert(doc, "docs/graph-format.md missing");
    for (uint32_t c = 0; c < NTG_OP_COUNT; c++) {
        const ntg_op_class *cls = ntg__op_info(c)->cls;
        const char *sec = find_section(doc, cls->name);
        cr_assert(sec, "op '%s' has no section in docs/graph-format.md", cls->name);
        const char *next = strstr(sec, "\n### ");
        size_t len = next ? (size_t)(next - sec) : strlen(sec);
        for (int k = 0; k < cls->n_attrs; k++) {
            char want[80];
            snprintf(want, sizeof want, "`%s`", cls->attrs[k].name);
            char *body = strndup(sec, len);
            cr_assert(strstr(body, want), "op '%s': attribute %s undocumented", cls->name, want);
            free(body);
        }
    }
    free(doc);
}
