/* plan_int.h — a loaded, validated plan: views into its bytes (private to the runtime). */
#ifndef NTG_PLAN_INT_H
#define NTG_PLAN_INT_H

#include "backend.h"
#include "plan_format.h"

struct ntg_plan {
    /* the bytes: mapped file, owned copy, or borrowed caller memory */
    const uint8_t *base;
    size_t size;
    void *map;   /* non-NULL: munmap(map, size) on destroy */
    void *owned; /* non-NULL: ntg__aligned_free on destroy */

    /* validated views into the bytes (NULL/0 for an empty section) */
    ntg_plan_image img;

    /* derived tables, allocated at load */
    ntg_program_view *programs; /* img.n_programs entries; names point into strings */
    uint32_t *param_ids;        /* tensor ids with role PARAM, in tensor order */
    uint32_t n_params;
    int infer_program;  /* index of "infer" */
    ntg_plan_view view; /* what backends get */
    /* what its sessions share (packed weights): view.shared points at shared_api */
    struct ntg_plan_shared *shared;
    ntg_shared_cache shared_api;
};

/* Take ownership of `buf` (from ntg__aligned_alloc, `size` bytes of a plan file), validate
 * it and wrap it in a plan; `buf` is freed on failure too.  `name` names the bytes in
 * messages (NULL: "<memory>").  For the compiler, which writes a plan and keeps it. */
ntg_status ntg__plan_adopt(void *buf, size_t size, const char *name, struct ntg_plan **out,
                           ntg_error *err);

/* A new plan equal to `p` but with parameter values `weights` (the whole WEIGHTS storage,
 * or NULL to keep them) and the metadata pairs `meta` (n_meta key, value pairs) added or
 * replacing the entries of the same key. */
ntg_status ntg__plan_rewrite(const struct ntg_plan *p, const void *weights, const char *const *meta,
                             size_t n_meta, struct ntg_plan **out, ntg_error *err);

/* String at offset `off` of the plan's string table (validated at load). */
static inline const char *ntg__plan_str(const struct ntg_plan *p, uint32_t off)
{
    return p->img.strings + off;
}

/* Index of the program called `name`, or -1. */
int ntg__plan_program(const struct ntg_plan *p, const char *name);
/* Tensor id of tensor `name` among the inputs (is_output 0) or outputs (1) of
 * program `prog`, or NTG_NONE. */
uint32_t ntg__plan_io(const struct ntg_plan *p, int prog, int is_output, const char *name);
/* Fill the public description of tensor `id`. */
void ntg__plan_tensor_info(const struct ntg_plan *p, uint32_t id, ntg_tensor_info *info);
/* Byte pointer to the stored data of a WEIGHTS tensor. */
const uint8_t *ntg__plan_weights(const struct ntg_plan *p, uint32_t id);

#endif /* NTG_PLAN_INT_H */
