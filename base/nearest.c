/* nearest.c — edit distance and the "did you mean" search of nearest.h. */
#include "nearest.h"

#include <string.h>

#include "ntg_error.h"

int ntg__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > NTG_NEAREST_MAX_LEN || lb > NTG_NEAREST_MAX_LEN) return NTG_NEAREST_FAR;
    /* three rows of the table: i-2, i-1 and i */
    int rows[3][NTG_NEAREST_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++) rows[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int *cur = rows[i % 3], *prev = rows[(i - 1) % 3], *prev2 = rows[(i + 1) % 3];
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            int m = sub < del ? sub : del;
            m = m < ins ? m : ins;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < m)
                m = prev2[j - 2] + 1;
            cur[j] = m;
        }
    }
    return rows[la % 3][lb];
}

void ntg__nearest_init(ntg_nearest *n, const char *name)
{
    n->name = name;
    n->best = NULL;
    n->best_d = NTG_NEAREST_FAR;
    n->max_d = 3;
    n->short_ok = 0;
}

void ntg__nearest_try(ntg_nearest *n, const char *cand)
{
    if (!n->name || !cand || strcmp(cand, n->name) == 0) return;
    size_t len = strlen(n->name);
    int d = ntg__edit_distance(n->name, cand);
    if (len >= 3 && strncmp(cand, n->name, len) == 0) d = 1;
    if (d > n->max_d || (!n->short_ok && (size_t)d >= len)) return;
    if (d < n->best_d) {
        n->best_d = d;
        n->best = cand;
    }
}

const char *ntg__nearest_hint(const ntg_nearest *n, char *buf, size_t cap)
{
    if (!n->best) {
        if (cap) buf[0] = '\0';
        return buf;
    }
    return ntg__strfmt(buf, cap, "; did you mean '%s'?", n->best);
}
