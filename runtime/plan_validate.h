/* plan_validate.h — the plan.bin validator, between the loader and the bytes (private to the
 * runtime: plan_load.c calls it, plan_validate.c is it). */
#ifndef NTG_PLAN_VALIDATE_H
#define NTG_PLAN_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "plan_format.h"

/* Check `size` bytes at `base` (a whole plan file, 64-byte aligned) as plan.bin v1: the header,
 * the section table, every record and every cross-reference, so that nothing read in place
 * later can go out of bounds.  On success fill `img` with views into the bytes.  Errors
 * (NTG_ERR_PLAN, NTG_ERR_NOMEM) name `where` and the first problem found. */
ntg_status ntg__plan_validate(const uint8_t *base, size_t size, const char *where,
                              ntg_plan_image *img, ntg_error *err);

#endif /* NTG_PLAN_VALIDATE_H */
