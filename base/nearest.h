/* nearest.h — "did you mean": the known name nearest to a misspelt one. */
#ifndef NTG_NEAREST_H
#define NTG_NEAREST_H

#include <stddef.h>

/* Edit distance with an adjacent transposition counted as one edit (optimal string alignment:
 * "gleu" is one edit from "gelu", "hte" from "the").  Names longer than NTG_NEAREST_MAX_LEN
 * bytes are not compared: the distance is then NTG_NEAREST_FAR. */
#define NTG_NEAREST_MAX_LEN 127
#define NTG_NEAREST_FAR 1000
int ntg__edit_distance(const char *a, const char *b);

/* The search: offer candidates one by one, then read `best` (NULL when none is close enough
 * to be worth suggesting).  A candidate is close enough when at most `max_d` edits away
 * (3 after ntg__nearest_init) and, unless `short_ok`, fewer edits than `name` has bytes (a
 * suggestion must keep part of the name: 'h' is no hint for 'x'); a candidate that starts
 * with the whole name, 3 bytes or more ("layer" for "layers"), counts as one edit.  The first
 * of equally near candidates wins; `name` itself is never suggested. */
typedef struct ntg_nearest {
    const char *name;
    const char *best;
    int best_d;
    int max_d;
    int short_ok;
} ntg_nearest;

void ntg__nearest_init(ntg_nearest *n, const char *name);
void ntg__nearest_try(ntg_nearest *n, const char *cand);
/* "; did you mean 'x'?" for the best candidate, or "" when there is none; returns buf. */
const char *ntg__nearest_hint(const ntg_nearest *n, char *buf, size_t cap);

#endif /* NTG_NEAREST_H */
