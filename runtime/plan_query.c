/* plan_query.c — what a loaded plan holds: its programs, inputs, outputs, parameters and
 * metadata (the ntg_plan_* queries and their internal forms). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "abi.h"
#include "ntg_error.h"
#include "plan_int.h"

int ntg__plan_program(const struct ntg_plan *p, const char *name)
{
    if (!p || !name) return -1;
    for (uint32_t i = 0; i < p->img.n_programs; i++)
        if (strcmp(p->programs[i].name, name) == 0) return (int)i;
    return -1;
}

static const ntg_program_rec *program_rec(const struct ntg_plan *p, int prog)
{
    if (!p || prog < 0 || (uint32_t)prog >= p->img.n_programs) return NULL;
    return &p->img.programs[prog];
}

uint32_t ntg__plan_io(const struct ntg_plan *p, int prog, int is_output, const char *name)
{
    const ntg_program_rec *r = program_rec(p, prog);
    if (!r || !name) return NTG_NONE;
    uint32_t first = is_output ? r->outputs : r->inputs, n = is_output ? r->n_outputs : r->n_inputs;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t id = p->img.indices[first + j];
        if (strcmp(ntg__plan_str(p, p->img.tensors[id].name), name) == 0) return id;
    }
    return NTG_NONE;
}

void ntg__plan_tensor_info(const struct ntg_plan *p, uint32_t id, ntg_tensor_info *info)
{
    const ntg_tensor_rec *t = &p->img.tensors[id];
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    info->name = ntg__plan_str(p, t->name);
    info->dtype = (ntg_dtype)t->dtype;
    info->role = (ntg_role)t->role;
    info->rank = t->rank;
    for (int d = 0; d < t->rank; d++) info->shape[d] = t->dims[d];
    info->batched = (t->flags & NTG_TF_BATCHED) ? 1 : 0;
    info->nbytes = (size_t)t->nbytes;
}

const uint8_t *ntg__plan_weights(const struct ntg_plan *p, uint32_t id)
{
    if (!p || id >= p->img.n_tensors) return NULL;
    const ntg_tensor_rec *t = &p->img.tensors[id];
    if (t->storage != NTG_STORE_WEIGHTS || !p->img.weights) return NULL;
    return p->img.weights + t->offset;
}

void ntg_tensor_info_init(ntg_tensor_info *info)
{
    if (!info) return;
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
}

/* The caller's `info` checked, tensor `id` described into it as far as its size reaches. */
static ntg_status tensor_info_out(const ntg_plan *plan, uint32_t id, ntg_tensor_info *info,
                                  const char *fn, ntg_error *err)
{
    ntg_status st = NTG__ABI_CHECK(info, ntg_tensor_info, nbytes, fn, err);
    if (st) return st;
    ntg_tensor_info full;
    ntg__plan_tensor_info(plan, id, &full);
    ntg__abi_out(info, &full);
    return NTG_OK;
}

static ntg_status io_info(const ntg_plan *plan, int is_output, size_t index, ntg_tensor_info *info,
                          ntg_error *err)
{
    const char *fn = is_output ? "ntg_plan_output" : "ntg_plan_input";
    if (!plan || !info) return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: NULL argument", fn);
    const ntg_program_rec *r = program_rec(plan, plan->infer_program);
    uint32_t n = is_output ? r->n_outputs : r->n_inputs;
    if (index >= n)
        return ntg__fail(err, NTG_ERR_RANGE, "%s: index %zu, but the plan has %u %s", fn, index, n,
                         is_output ? "outputs" : "inputs");
    uint32_t first = is_output ? r->outputs : r->inputs;
    return tensor_info_out(plan, plan->img.indices[first + index], info, fn, err);
}

size_t ntg_plan_input_count(const ntg_plan *plan)
{
    return plan ? program_rec(plan, plan->infer_program)->n_inputs : 0;
}

size_t ntg_plan_output_count(const ntg_plan *plan)
{
    return plan ? program_rec(plan, plan->infer_program)->n_outputs : 0;
}

ntg_status ntg_plan_input(const ntg_plan *plan, size_t index, ntg_tensor_info *info, ntg_error *err)
{
    return io_info(plan, 0, index, info, err);
}

ntg_status ntg_plan_output(const ntg_plan *plan, size_t index, ntg_tensor_info *info,
                           ntg_error *err)
{
    return io_info(plan, 1, index, info, err);
}

size_t ntg_plan_param_count(const ntg_plan *plan)
{
    return plan ? plan->n_params : 0;
}

ntg_status ntg_plan_param(const ntg_plan *plan, size_t index, ntg_tensor_info *info, ntg_error *err)
{
    if (!plan || !info) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_param: NULL argument");
    if (index >= plan->n_params)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "ntg_plan_param: index %zu, but the plan has %u "
                         "parameters",
                         index, plan->n_params);
    return tensor_info_out(plan, plan->param_ids[index], info, "ntg_plan_param", err);
}

const void *ntg_plan_param_data(const ntg_plan *plan, size_t index)
{
    if (!plan || index >= plan->n_params) return NULL;
    return ntg__plan_weights(plan, plan->param_ids[index]);
}

uint64_t ntg_plan_param_elements(const ntg_plan *plan)
{
    return plan ? plan->img.info.param_elements : 0;
}

int ntg_plan_max_batch(const ntg_plan *plan)
{
    return plan ? (int)plan->img.info.max_batch : 0;
}

uint64_t ntg_plan_arena_bytes(const ntg_plan *plan)
{
    return plan ? plan->img.info.storage_bytes[NTG_STORE_ARENA] : 0;
}

int ntg_plan_has_program(const ntg_plan *plan, const char *program)
{
    return ntg__plan_program(plan, program) >= 0;
}

const char *ntg_plan_meta(const ntg_plan *plan, const char *key)
{
    if (!plan || !key) return NULL;
    for (uint32_t i = 0; i < plan->img.n_meta; i++)
        if (strcmp(ntg__plan_str(plan, plan->img.meta[i].key), key) == 0)
            return ntg__plan_str(plan, plan->img.meta[i].value);
    return NULL;
}

size_t ntg_plan_meta_count(const ntg_plan *plan)
{
    return plan ? plan->img.n_meta : 0;
}

ntg_status ntg_plan_meta_at(const ntg_plan *plan, size_t index, const char **key,
                            const char **value, ntg_error *err)
{
    if (!plan) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_meta_at: plan is NULL");
    if (index >= plan->img.n_meta)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "ntg_plan_meta_at: index %zu, but the plan has %u "
                         "metadata entries",
                         index, plan->img.n_meta);
    if (key) *key = ntg__plan_str(plan, plan->img.meta[index].key);
    if (value) *value = ntg__plan_str(plan, plan->img.meta[index].value);
    return NTG_OK;
}
