/* store_crash.h — what the crash test's child commits, so that the parent can regenerate it. */
#ifndef NTG_STORE_CRASH_H
#define NTG_STORE_CRASH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ntgraph.h"
#include "plan_int.h"
#include "testutil.h"

#define CRASH_CKPT_WEIGHTS (1u << 20)
#define CRASH_CKPT_STATE (256u << 10)

/* Commit number `seq` goes to model "m<seq % 2>"; a version every time, a checkpoint every
 * third, a gc every seventh. */
static inline const char *crash_model(uint64_t seq)
{
    return seq % 2 ? "m1" : "m0";
}

/* The plan of commit `seq`: base with parameter seq % n filled from seq (NULL on failure). */
static inline ntg_plan *crash_plan(const ntg_plan *base, uint64_t seq)
{
    const ntg_plan_image *im = &base->img;
    uint8_t *w = malloc(im->weights_bytes + 1);
    if (!w) return NULL;
    memcpy(w, im->weights, im->weights_bytes);
    const ntg_tensor_rec *t = &im->tensors[base->param_ids[seq % base->n_params]];
    tu_rng r = {seq * 7919 + 17};
    tu_fill(&r, (float *)(void *)(w + t->offset), (size_t)(t->nbytes / 4), -0.5, 0.5);
    ntg_plan *out = NULL;
    ntg_status st = ntg__plan_rewrite(base, w, NULL, 0, &out, NULL);
    free(w);
    return st ? NULL : out;
}

/* Checkpoint blob bytes of commit `seq`: "weights" from seq, "state" from seq + 1, "best" the
 * weights of the commit before (so consecutive checkpoints share a chunk). */
static inline void crash_fill(uint8_t *dst, size_t n, uint64_t seed)
{
    tu_rng r = {seed * 31 + 5};
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t x = tu_next(&r);
        memcpy(dst + i, &x, 8);
    }
}

#endif /* NTG_STORE_CRASH_H */
