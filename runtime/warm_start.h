/* warm_start.h — fine-tuning: start a compiled graph from another plan's parameters. */
#ifndef NTG_WARM_START_H
#define NTG_WARM_START_H

#include "plan_int.h"

/* A new plan equal to `plan` (compiled from a graph) whose parameters are `src`'s, matched by
 * name, and whose metadata holds `src`'s fitted scaler (scaler.*, when it has one).  Every
 * parameter of `plan` must be in `src` with the same type and shape, and `src` may have no other
 * parameter.  Errors: NTG_ERR_SHAPE naming the first parameter that is missing or differs (both
 * shapes), NTG_ERR_NOMEM. */
ntg_status ntg__plan_warm_start(const struct ntg_plan *plan, const struct ntg_plan *src,
                                struct ntg_plan **out, ntg_error *err);

#endif /* NTG_WARM_START_H */
