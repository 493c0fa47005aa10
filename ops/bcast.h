/* bcast.h — numpy broadcasting of a binary elementwise op, shared by the CPU backends. */
#ifndef NTG_BCAST_H
#define NTG_BCAST_H

#include <stdint.h>

#include "ops.h"

enum { NTG_BC_ADD, NTG_BC_SUB, NTG_BC_MUL };

/*
 * The output's index space with each operand's element strides (0 on its broadcast axes).
 * Axes of extent 1 are dropped and neighbours that are contiguous in every operand merged,
 * so [B, h] + [B, h] is one run and [B, 1] + [B, h] is B runs of h; the innermost stride of
 * each operand is then 0 or 1.
 */
typedef struct ntg_bcast {
    int rank;
    int64_t dims[NTG_MAX_RANK];
    int64_t st[2][NTG_MAX_RANK];
} ntg_bcast;

/* The iteration space of o = a op b. */
void ntg__bcast_init(ntg_bcast *it, const ntg_tdesc *a, const ntg_tdesc *b, const ntg_tdesc *o);
/* Number of innermost runs (the product of the outer axes). */
int64_t ntg__bcast_runs(const ntg_bcast *it);
/* Odometer position and operand offsets of run r. */
void ntg__bcast_seek(const ntg_bcast *it, int64_t r, int64_t *idx, int64_t off[2]);
/* Advance the odometer over the outer axes by one run, keeping both operands' offsets. */
void ntg__bcast_next(const ntg_bcast *it, int64_t *idx, int64_t off[2]);

/* y = a op b (NTG_BC_*) over runs [r0, r1), elements [e0, e1) of each run. */
void ntg__bcast_span(const ntg_bcast *it, int op, const float *a, const float *b, float *y,
                     int64_t r0, int64_t r1, int64_t e0, int64_t e1);

/*
 * Gradient of operand k (0 = a, 1 = b) of y = a op b, added into g (zeroed by the caller):
 * dy * sign (* the other operand for mul), summed over the axes operand k was broadcast
 * along.  Runs along which k is broadcast are summed in double before touching g; the order
 * is fixed (runs in output order), so results are reproducible and every backend that calls
 * this gets the reference's bits.
 */
void ntg__bcast_grad(const ntg_bcast *it, int op, int k, const float *dy, const float *other,
                     float *g);

#endif /* NTG_BCAST_H */
