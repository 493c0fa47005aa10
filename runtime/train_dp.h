/* train_dp.h — the training loop's data-parallel hook (docs/internals.md, "Data-parallel
 * training"): the runtime splits each step's global batch and calls these between "gradients
 * computed" and "optimizer applied"; the transport (mesh/) lives behind the callbacks, so the
 * runtime does not depend on it. */
#ifndef NTG_TRAIN_DP_H
#define NTG_TRAIN_DP_H

#include <stddef.h>
#include <stdint.h>

#include "ntgraph.h"

typedef struct ntg__train_dp {
    int rank, world; /* 0 <= rank < world; rank 0 validates, checkpoints and resumes */
    void *user;
    /* Sum n floats across all workers, in place; every worker calls it with the same n, in the
     * same order, and must get bitwise the same result.  `step` is the training step it serves
     * (0 during setup). */
    ntg_status (*allreduce)(void *user, long step, float *buf, size_t n, ntg_error *err);
    /* Copy rank 0's nbytes at buf to every worker's buf. */
    ntg_status (*broadcast)(void *user, void *buf, size_t nbytes, ntg_error *err);
    /* Elastic continuation (all three NULL: a lost worker ends the run).  When allreduce or
     * broadcast fail with NTG_ERR_PEER_LOST, every worker calls reform, which forms the next
     * generation from the survivors and any joiners and gives this worker's new rank and world
     * (rank 0 stays rank 0); training then goes on from rank 0's state: its newest checkpoint
     * after a loss, its current weights after its own request.  Rank 0 asks `joiners` between
     * steps and, when some wait, breaks the generation with `request_reform` to let them in. */
    ntg_status (*reform)(void *user, int *rank, int *world, ntg_error *err);
    int (*joiners)(void *user);
    ntg_status (*request_reform)(void *user, ntg_error *err);
    /* Overlap (docs/internals.md, "Overlap"; both NULL, bucket_bytes 0 or a backend without
     * run_range: `allreduce` once after backward).  allreduce_start hands n floats at buf to
     * the transport and returns at once, to sum them while backward goes on; allreduce_wait
     * returns once buf holds the sum (or the failure; the trainer waits for every bucket it
     * started, also after one failed).  Buckets 0, 1, ... of a step are started in the same
     * order and sizes on every worker, at most NTG__TRAIN_DP_MAX_BUCKETS of them. */
    ntg_status (*allreduce_start)(void *user, long step, unsigned bucket, float *buf, size_t n,
                                  ntg_error *err);
    ntg_status (*allreduce_wait)(void *user, unsigned bucket, ntg_error *err);
    /* Optional, with allreduce_wait (NULL: the trainer copies the gradients into one buffer for
     * allreduce_start or allreduce and back): allreduce_start of the concatenation of n pieces
     * ptrs[i][0 .. lens[i]), summed where they lie (the gradients in a host backend's arena),
     * this worker's values counting as (float)((double)x * scale), its share of the batch.
     * The trainer keeps the arrays and the pieces untouched until the wait returns. */
    ntg_status (*allreduce_startv)(void *user, long step, unsigned bucket, float *const *ptrs,
                                   const size_t *lens, unsigned n, double scale, ntg_error *err);
    size_t bucket_bytes; /* gradient bytes per bucket (at least; 0: no buckets) */
    /* Optional, with allreduce_startv (docs/internals.md, "Sharded optimizer"): allreduce_startv
     * of one part of the all-reduce, its segments cut at bounds[0 .. world] (element offsets
     * of the vector; the caller keeps them until the wait): NTG__TRAIN_DP_REDUCE, the
     * reduce-scatter, after which this worker holds the sum of segment (rank + 1) mod world;
     * NTG__TRAIN_DP_GATHER, the all-gather, which sends that segment as it is (scale 1) and
     * copies every other segment from its owner.  With shard_optimizer set and a plan whose
     * update allows it, each worker runs the optimizer only on the parameters of the segments
     * it owns and the all-gather carries the updated weights (ZeRO-1). */
    ntg_status (*allreduce_startx)(void *user, long step, unsigned bucket, float *const *ptrs,
                                   const size_t *lens, unsigned n, double scale,
                                   const uint64_t *bounds, int part, ntg_error *err);
    int shard_optimizer;
    /* Optional, with a sharded optimizer: offer region `id` of this worker's memory (`bytes` at
     * `base`, a MAP_SHARED mapping of memfd `fd`) to the workers on its host, which may then
     * read the gradients, weights and optimizer state there in place instead of receiving
     * copies (docs/internals.md, "In place").  The trainer calls it once per storage (arena,
     * weights, state: ids NTG_STORE_*) before the first step; the regions stay put. */
    ntg_status (*share)(void *user, unsigned id, const void *base, size_t bytes, int fd,
                        ntg_error *err);
    /* Optional: one line on how the trainer cuts a step (buckets, or why it does not). */
    void (*info)(void *user, const char *line);
} ntg__train_dp;

#define NTG__TRAIN_DP_MAX_BUCKETS 60
enum { NTG__TRAIN_DP_REDUCE = 1, NTG__TRAIN_DP_GATHER = 2 }; /* = NTG__MESH_PART_* */

/* ntg_train, as worker dp->rank of dp->world (dp NULL: ntg_train itself).  Every worker passes
 * the same plan, data, split and settings (checked against rank 0's); workers other than rank 0
 * never call checkpoint_put/checkpoint_get nor touch checkpoint_dir.  The trained plan is the
 * same on every worker. */
ntg_status ntg__train_dp_run(const ntg_plan *plan, const ntg_series *data,
                             const ntg_train_options *opts, const ntg__train_dp *dp,
                             ntg_plan **trained, ntg_train_report *report, ntg_error *err);

#endif /* NTG_TRAIN_DP_H */
