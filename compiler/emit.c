/* emit.c — lowering the planned IR to plan.bin records and bytes. */
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "ir.h"
#include "plan_format.h"

ntg_status ntg__ir_emit(const ntg_ir *ir, void **bytes, size_t *size, ntg_error *err)
{
    size_t nt = ir->tensors.len, nn = ir->nodes.len;
    ntg_status st = NTG_OK;
    ntg_strtab *strs = ntg__strtab_create();
    ntg_tensor_rec *trec = calloc(nt + 1, sizeof *trec);
    ntg_op_rec *orec = calloc(nn + 1, sizeof *orec);
    ntg_meta_rec *mrec = calloc(ir->meta.len + 1, sizeof *mrec);
    ntg_program_rec *prec = calloc((size_t)ir->n_programs + 1, sizeof *prec);
    size_t n_operands = 0, n_attrs = 0, n_indices = 0;
    for (size_t k = 0; k < nn; k++) {
        const ntg_ir_node *n = ntg__ir_node(ir, (uint32_t)k);
        n_operands += (size_t)(n->n_in + n->n_out);
        n_attrs += n->n_attr;
    }
    for (int p = 0; p < ir->n_programs; p++)
        n_indices +=
            ir->programs[p].nodes.len + ir->programs[p].inputs.len + ir->programs[p].outputs.len;
    uint32_t *operands = calloc(n_operands + 1, sizeof *operands);
    ntg_attr *attrs = calloc(n_attrs + 1, sizeof *attrs);
    uint32_t *indices = calloc(n_indices + 1, sizeof *indices);
    uint8_t *weights = ir->weights_bytes ? calloc(ir->weights_bytes, 1) : NULL;
    if (!strs || !trec || !orec || !mrec || !prec || !operands || !attrs || !indices ||
        (ir->weights_bytes && !weights)) {
        st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint64_t param_elems = 0;
    uint32_t n_params = 0;
    for (size_t t = 0; t < nt; t++) {
        const ntg_ir_tensor *it = ntg__ir_tensor(ir, (uint32_t)t);
        ntg_tensor_rec *r = &trec[t];
        uint32_t name = ntg__strtab_add(strs, it->name);
        if (name == UINT32_MAX) goto nomem;
        r->name = name;
        r->dtype = it->desc.dtype;
        r->rank = it->desc.rank;
        r->role = (uint8_t)it->role;
        r->flags = it->desc.batched ? NTG_TF_BATCHED : 0;
        for (int d = 0; d < it->desc.rank; d++) r->dims[d] = (uint32_t)it->desc.dims[d];
        r->storage = (uint8_t)it->storage;
        r->link = it->link;
        r->offset = it->offset;
        r->nbytes = it->nbytes;
        if (it->storage == NTG_STORE_WEIGHTS && it->data)
            memcpy(weights + it->offset, it->data, it->nbytes);
        if (it->role == NTG_ROLE_PARAM) {
            n_params++;
            param_elems += (uint64_t)ntg__tdesc_numel(&it->desc);
        }
    }
    size_t oi = 0, ai = 0;
    for (size_t k = 0; k < nn; k++) {
        const ntg_ir_node *n = ntg__ir_node(ir, (uint32_t)k);
        ntg_op_rec *r = &orec[k];
        char loc[512];
        if (n->scope && n->scope[0])
            ntg__strfmt(loc, sizeof loc, "%s:%d:%d (%s)", n->loc.file ? n->loc.file : "",
                        n->loc.line, n->loc.col, n->scope);
        else
            ntg__strfmt(loc, sizeof loc, "%s:%d:%d", n->loc.file ? n->loc.file : "", n->loc.line,
                        n->loc.col);
        uint32_t lo = ntg__strtab_add(strs, loc);
        if (lo == UINT32_MAX) goto nomem;
        r->code = n->code;
        r->dir = n->dir;
        r->loc = lo;
        r->operands = (uint32_t)oi;
        r->n_in = (uint16_t)n->n_in;
        r->n_out = (uint16_t)n->n_out;
        r->attrs = (uint32_t)ai;
        r->n_attr = n->n_attr;
        r->saved = n->saved;
        for (int i = 0; i < n->n_in; i++) operands[oi++] = n->in[i];
        for (int o = 0; o < n->n_out; o++) operands[oi++] = n->out[o];
        if (n->n_attr) memcpy(attrs + ai, n->attr, n->n_attr * sizeof *attrs);
        ai += n->n_attr;
    }
    size_t xi = 0;
    for (int p = 0; p < ir->n_programs; p++) {
        const ntg_ir_program *pg = &ir->programs[p];
        ntg_program_rec *r = &prec[p];
        uint32_t name = ntg__strtab_add(strs, pg->name);
        if (name == UINT32_MAX) goto nomem;
        r->name = name;
        r->ops = (uint32_t)xi;
        r->n_ops = (uint32_t)pg->nodes.len;
        for (size_t i = 0; i < pg->nodes.len; i++) indices[xi++] = ntg__ir_u32(&pg->nodes, i);
        r->inputs = (uint32_t)xi;
        r->n_inputs = (uint32_t)pg->inputs.len;
        for (size_t i = 0; i < pg->inputs.len; i++) indices[xi++] = ntg__ir_u32(&pg->inputs, i);
        r->outputs = (uint32_t)xi;
        r->n_outputs = (uint32_t)pg->outputs.len;
        for (size_t i = 0; i < pg->outputs.len; i++) indices[xi++] = ntg__ir_u32(&pg->outputs, i);
        r->arena_peak = pg->arena_peak;
    }
    for (size_t m = 0; m < ir->meta.len; m++) {
        const ntg_ir_meta *im = ntg__vec_at(&ir->meta, m);
        uint32_t k = ntg__strtab_add(strs, im->key), v = ntg__strtab_add(strs, im->value);
        if (k == UINT32_MAX || v == UINT32_MAX) goto nomem;
        mrec[m].key = k;
        mrec[m].value = v;
    }

    ntg_plan_image img;
    memset(&img, 0, sizeof img);
    img.info.max_batch = (uint32_t)ir->max_batch;
    img.info.n_params = n_params;
    img.info.storage_bytes[NTG_STORE_ARENA] = ir->arena_bytes;
    img.info.storage_bytes[NTG_STORE_WEIGHTS] = ir->weights_bytes;
    img.info.storage_bytes[NTG_STORE_STATE] = ir->state_bytes;
    img.info.naive_arena_bytes = ir->naive_arena_bytes;
    img.info.param_elements = param_elems;
    img.strings = ntg__strtab_data(strs, &img.strings_bytes);
    img.meta = mrec;
    img.n_meta = (uint32_t)ir->meta.len;
    img.tensors = trec;
    img.n_tensors = (uint32_t)nt;
    img.ops = orec;
    img.n_ops = (uint32_t)nn;
    img.operands = operands;
    img.n_operands = (uint32_t)n_operands;
    img.attrs = attrs;
    img.n_attrs = (uint32_t)n_attrs;
    img.programs = prec;
    img.n_programs = (uint32_t)ir->n_programs;
    img.indices = indices;
    img.n_indices = (uint32_t)n_indices;
    img.weights = weights;
    img.weights_bytes = ir->weights_bytes;
    st = ntg__plan_write(&img, bytes, size, err);
    goto done;
nomem:
    st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
done:
    ntg__strtab_destroy(strs);
    free(trec);
    free(orec);
    free(mrec);
    free(prec);
    free(operands);
    free(attrs);
    free(indices);
    free(weights);
    return st;
}
