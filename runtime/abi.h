/* abi.h — the size field of the public structs: checking a caller's struct, copying it in
 * over the defaults, copying a report out as far as the caller's struct reaches. */
#ifndef NTG_ABI_H
#define NTG_ABI_H

#include <stddef.h>

#include "ntgraph.h"

/* Bytes of `type` up to and including `field`: the smallest `size` a caller may pass when
 * `field` was the last field of the struct's first sized layout (soversion 1). */
#define NTG__SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Check the size field (the first member) of the caller's struct `p` of type `type` (its
 * name, for the message), whose first layout ends at `v1` and which is `cur` bytes in this
 * library: NTG_ERR_INVALID_ARG naming `fn` and the struct when it is 0, below v1,
 * misaligned or above cur. */
ntg_status ntg__abi_check(const void *p, size_t v1, size_t cur, const char *type, const char *fn,
                          ntg_error *err);

/* Options in: `local` (cur bytes) holds the defaults from the struct's _init; copy the
 * caller's `size` bytes over it (the fields an older caller lacks keep their defaults),
 * keeping local's own size.  `caller` NULL leaves the defaults. */
ntg_status ntg__abi_in(void *local, const void *caller, size_t v1, size_t cur, const char *type,
                       const char *fn, ntg_error *err);

/* Report out: copy the complete `local` report into the caller's struct as far as its size
 * reaches (checked before with ntg__abi_check), keeping the caller's size. */
void ntg__abi_out(void *caller, const void *local);

/* The shorthands for a struct `T` whose first sized layout ends at field `last`. */
#define NTG__ABI_CHECK(p, T, last, fn, err)                                                        \
    ntg__abi_check((p), NTG__SIZE_THROUGH(T, last), sizeof(T), #T, (fn), (err))
#define NTG__ABI_IN(local, caller, T, last, fn, err)                                               \
    ntg__abi_in((local), (caller), NTG__SIZE_THROUGH(T, last), sizeof(T), #T, (fn), (err))

#endif /* NTG_ABI_H */
