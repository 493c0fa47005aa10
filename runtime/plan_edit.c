/* plan_edit.c — a new plan from an existing one with other parameter values and metadata. */
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "plan_int.h"

ntg_status ntg__plan_rewrite(const ntg_plan *p, const void *weights, const char *const *meta,
                             size_t n_meta, ntg_plan **out, ntg_error *err)
{
    *out = NULL;
    const ntg_plan_image *im = &p->img;
    /* the old string table keeps every old offset valid; new strings are appended */
    size_t extra = 0;
    for (size_t i = 0; i < 2 * n_meta; i++) extra += strlen(meta[i]) + 1;
    char *strs = malloc(im->strings_bytes + extra + 1);
    ntg_meta_rec *mrec = calloc(im->n_meta + n_meta + 1, sizeof *mrec);
    if (!strs || !mrec) {
        free(strs);
        free(mrec);
        return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    }
    memcpy(strs, im->strings, im->strings_bytes);
    uint64_t at = im->strings_bytes;
    uint32_t nm = 0;
    for (uint32_t m = 0; m < im->n_meta; m++) {
        const char *key = ntg__plan_str(p, im->meta[m].key);
        int replaced = 0;
        for (size_t i = 0; i < n_meta && !replaced; i++) replaced = strcmp(meta[2 * i], key) == 0;
        if (!replaced) mrec[nm++] = im->meta[m];
    }
    for (size_t i = 0; i < n_meta; i++) {
        size_t kl = strlen(meta[2 * i]) + 1, vl = strlen(meta[2 * i + 1]) + 1;
        mrec[nm].key = (uint32_t)at;
        memcpy(strs + at, meta[2 * i], kl);
        at += kl;
        mrec[nm].value = (uint32_t)at;
        memcpy(strs + at, meta[2 * i + 1], vl);
        at += vl;
        nm++;
    }
    ntg_plan_image img = *im;
    img.strings = strs;
    img.strings_bytes = at;
    img.meta = mrec;
    img.n_meta = nm;
    if (weights) img.weights = weights;
    void *bytes = NULL;
    size_t size = 0;
    ntg_status st = ntg__plan_write(&img, &bytes, &size, err);
    free(strs);
    free(mrec);
    if (st) return st;
    return ntg__plan_adopt(bytes, size, NULL, out, err);
}
