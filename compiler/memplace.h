/* memplace.h — the memory planner's placement step: lowest free offset per block, in a
 * given order, among blocks already placed that are live at the same time. */
#ifndef NTG_MEMPLACE_H
#define NTG_MEMPLACE_H

#include <stddef.h>
#include <stdint.h>

#define NTG_MEMPLACE_MAX_PROGRAMS 5

/* A block's live interval in one program, in steps (inclusive); first < 0 when absent. */
typedef struct ntg_mp_span {
    int32_t first, last;
} ntg_mp_span;

/* Places n blocks in order k = 0 .. n-1: block k (size[k] bytes) goes to the lowest offset
 * that no earlier block live at the same time in some program occupies.  Block k's span in
 * program p is sp[p * stride + ids[k]] (np programs, at most NTG_MEMPLACE_MAX_PROGRAMS).
 * Writes off[k] and the arena size (the highest end) to *arena.  Same result as comparing
 * every pair; cost about (n log n) when the blocks live together are packed together.
 * Returns 0, or -1 when out of memory (nothing written). */
int ntg__memplace(size_t n, int np, const ntg_mp_span *sp, size_t stride, const uint32_t *ids,
                  const uint64_t *size, uint64_t *off, uint64_t *arena);

#endif
