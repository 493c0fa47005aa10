/* memplace.c — placement of arena blocks for the memory planner (compiler/memplan.c).
 *
 * Blocks are placed one at a time, each at the lowest offset where it overlaps no placed
 * block that is live at the same time (in some program).  Comparing with every placed
 * block costs O(n) per block; on a training plan of a long chain every forward activation
 * lives until its backward op, so each is live with all the others and planning was
 * quadratic.
 *
 * Here the placed blocks are kept in a treap ordered by offset.  Each subtree knows the
 * lowest start and highest end of its blocks, an upper bound on the largest hole in the
 * union of their byte ranges, and, per program, the hull of their live intervals (to see
 * that none of them is live with the new block) and the latest start / earliest end (to
 * see that all of them are).  The search walks the blocks in offset order, as the pairwise
 * scan did, but skips a subtree in O(1) when none of its blocks clashes with the new one,
 * or when all of them do and no hole in them is big enough: a stack of activations that
 * all live together is passed over at once.  The result is exactly the pairwise scan's. */
#include "memplace.h"

#include <stdlib.h>

typedef struct agg {
    int32_t min_first, max_last; /* hull of the spans present (empty: INT32_MAX, -1) */
    int32_t max_first, min_last; /* over all blocks; one absent: INT32_MAX, INT32_MIN */
} agg;

typedef struct node {
    uint64_t off, end;    /* this block */
    uint64_t lo, hi, gap; /* subtree: lowest start, highest end, bound on its largest hole */
    uint32_t left, right; /* node numbers, 0 = none; node k + 1 is block k */
    uint32_t prio;
    agg a[NTG_MEMPLACE_MAX_PROGRAMS];
} node;

typedef struct place_ctx {
    node *nd;
    int np;
    const ntg_mp_span *sp;
    size_t stride;
    const uint32_t *ids;
    /* the block being placed */
    ntg_mp_span q[NTG_MEMPLACE_MAX_PROGRAMS];
    uint64_t size, cur;
} place_ctx;

static uint32_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(x ^ (x >> 31));
}

static const ntg_mp_span *span_of(const place_ctx *c, uint32_t x, int p)
{
    return &c->sp[(size_t)p * c->stride + c->ids[x - 1]];
}

static void pull(place_ctx *c, uint32_t x)
{
    node *n = &c->nd[x];
    const node *l = n->left ? &c->nd[n->left] : NULL;
    const node *r = n->right ? &c->nd[n->right] : NULL;
    n->lo = l ? l->lo : n->off;
    n->gap = 0;
    uint64_t reach = n->end;
    if (l) {
        /* blocks on the right start at or after this one, so they fill no hole on the left */
        n->gap = l->gap;
        if (n->off > l->hi) n->gap = n->off - l->hi > n->gap ? n->off - l->hi : n->gap;
        if (l->hi > reach) reach = l->hi;
    }
    n->hi = reach;
    if (r) {
        /* the right subtree's holes may be covered from the left: an upper bound */
        if (r->gap > n->gap) n->gap = r->gap;
        if (r->lo > reach && r->lo - reach > n->gap) n->gap = r->lo - reach;
        if (r->hi > n->hi) n->hi = r->hi;
    }
    for (int p = 0; p < c->np; p++) {
        const ntg_mp_span *s = span_of(c, x, p);
        agg a;
        if (s->first >= 0) {
            a = (agg){s->first, s->last, s->first, s->last};
        } else {
            a = (agg){INT32_MAX, -1, INT32_MAX, INT32_MIN};
        }
        for (int side = 0; side < 2; side++) {
            const node *ch = side ? r : l;
            if (!ch) continue;
            const agg *b = &ch->a[p];
            if (b->min_first < a.min_first) a.min_first = b->min_first;
            if (b->max_last > a.max_last) a.max_last = b->max_last;
            if (b->max_first > a.max_first) a.max_first = b->max_first;
            if (b->min_last < a.min_last) a.min_last = b->min_last;
        }
        n->a[p] = a;
    }
}

static uint32_t rotate_right(place_ctx *c, uint32_t x)
{
    uint32_t y = c->nd[x].left;
    c->nd[x].left = c->nd[y].right;
    c->nd[y].right = x;
    pull(c, x);
    pull(c, y);
    return y;
}

static uint32_t rotate_left(place_ctx *c, uint32_t x)
{
    uint32_t y = c->nd[x].right;
    c->nd[x].right = c->nd[y].left;
    c->nd[y].left = x;
    pull(c, x);
    pull(c, y);
    return y;
}

/* Insert node k (the newest: among equal offsets it goes last) under x; the new root. */
static uint32_t insert(place_ctx *c, uint32_t x, uint32_t k)
{
    if (!x) {
        pull(c, k);
        return k;
    }
    if (c->nd[k].off < c->nd[x].off) {
        c->nd[x].left = insert(c, c->nd[x].left, k);
        if (c->nd[c->nd[x].left].prio > c->nd[x].prio) return rotate_right(c, x);
    } else {
        c->nd[x].right = insert(c, c->nd[x].right, k);
        if (c->nd[c->nd[x].right].prio > c->nd[x].prio) return rotate_left(c, x);
    }
    pull(c, x);
    return x;
}

static int clashes_none(const place_ctx *c, const node *n)
{
    for (int p = 0; p < c->np; p++) {
        const ntg_mp_span *q = &c->q[p];
        if (q->first < 0) continue;
        if (q->first <= n->a[p].max_last && n->a[p].min_first <= q->last) return 0;
    }
    return 1;
}

static int clashes_all(const place_ctx *c, const node *n)
{
    for (int p = 0; p < c->np; p++) {
        const ntg_mp_span *q = &c->q[p];
        if (q->first < 0) continue;
        if (q->first <= n->a[p].min_last && n->a[p].max_first <= q->last) return 1;
    }
    return 0;
}

static int clashes(const place_ctx *c, uint32_t x)
{
    for (int p = 0; p < c->np; p++) {
        const ntg_mp_span *q = &c->q[p], *s = span_of(c, x, p);
        if (q->first >= 0 && s->first >= 0 && q->first <= s->last && s->first <= q->last) return 1;
    }
    return 0;
}

/* The pairwise scan over the subtree's blocks in offset order: c->cur is the lowest offset
 * not yet ruled out; returns 1 once a block starts at or above cur + size (then so do all
 * later ones, and cur is the answer). */
static int scan(place_ctx *c, uint32_t x)
{
    if (!x) return 0;
    const node *n = &c->nd[x];
    if (n->lo >= c->cur + c->size) return 1;
    if (clashes_none(c, n)) return 0;
    if (n->gap < c->size && clashes_all(c, n)) {
        /* every hole is too small, and the first block starts below cur + size */
        if (n->hi > c->cur) c->cur = n->hi;
        return 0;
    }
    if (scan(c, n->left)) return 1;
    if (n->off >= c->cur + c->size) return 1;
    if (clashes(c, x) && n->end > c->cur) c->cur = n->end;
    return scan(c, n->right);
}

int ntg__memplace(size_t n, int np, const ntg_mp_span *sp, size_t stride, const uint32_t *ids,
                  const uint64_t *size, uint64_t *off, uint64_t *arena)
{
    if (np < 0 || np > NTG_MEMPLACE_MAX_PROGRAMS || n >= UINT32_MAX) return -1;
    place_ctx c = {.np = np, .sp = sp, .stride = stride, .ids = ids};
    c.nd = calloc(n + 1, sizeof *c.nd);
    if (!c.nd) return -1;
    uint32_t root = 0;
    uint64_t top = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t x = (uint32_t)k + 1;
        for (int p = 0; p < np; p++) c.q[p] = *span_of(&c, x, p);
        c.size = size[k];
        c.cur = 0;
        scan(&c, root);
        off[k] = c.cur;
        if (c.cur + size[k] > top) top = c.cur + size[k];
        c.nd[x].off = c.cur;
        c.nd[x].end = c.cur + size[k];
        c.nd[x].prio = mix(k);
        root = insert(&c, root, x);
    }
    free(c.nd);
    *arena = top;
    return 0;
}
