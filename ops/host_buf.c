/* host_buf.c — host-memory buffers of the CPU-side backends (host_buf.h). */
#include "host_buf.h"

#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"

ntg_status ntg__host_buffer_alloc(ntg_backend *b, size_t size, ntg_buffer **out, ntg_error *err)
{
    (void)b;
    ntg_buffer *buf = calloc(1, sizeof *buf);
    void *mem = NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    if (buf && posix_memalign(&mem, 64, rounded ? rounded : 64) == 0) {
        memset(mem, 0, rounded ? rounded : 64);
        buf->data = mem;
        buf->size = size;
        buf->owned = 1;
        *out = buf;
        return NTG_OK;
    }
    free(buf);
    return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes", size);
}

ntg_status ntg__host_buffer_wrap(ntg_backend *b, void *host, size_t size, int readonly,
                                 ntg_buffer **out, ntg_error *err)
{
    (void)b;
    ntg_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    buf->data = host;
    buf->size = size;
    buf->readonly = readonly != 0;
    *out = buf;
    return NTG_OK;
}

void ntg__host_buffer_free(ntg_backend *b, ntg_buffer *buf)
{
    (void)b;
    if (!buf) return;
    if (buf->owned) free(buf->data);
    free(buf);
}

ntg_status ntg__host_upload(ntg_backend *b, ntg_buffer *dst, size_t offset, const void *src,
                            size_t size, ntg_error *err)
{
    (void)b;
    if (offset > dst->size || size > dst->size - offset)
        return ntg__fail(err, NTG_ERR_RANGE, "upload of %zu bytes at %zu outside a %zu-byte buffer",
                         size, offset, dst->size);
    if (dst->readonly)
        return ntg__fail(err, NTG_ERR_STATE, "upload into read-only memory (mapped weights)");
    memcpy(dst->data + offset, src, size);
    return NTG_OK;
}

ntg_status ntg__host_download(ntg_backend *b, const ntg_buffer *src, size_t offset, void *dst,
                              size_t size, ntg_error *err)
{
    (void)b;
    if (offset > src->size || size > src->size - offset)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "download of %zu bytes at %zu outside a %zu-byte buffer", size, offset,
                         src->size);
    memcpy(dst, src->data + offset, size);
    return NTG_OK;
}

ntg_status ntg__host_elems_narrow(uint32_t code, ntg_view *in, int n_in, uint64_t lo, uint64_t hi,
                                  ntg_view saved[8], ntg_error *err)
{
    int ctl = code == NTG_OP_adam ? 4 : code == NTG_OP_sgd ? 2 : -1;
    if (ctl < 0 || n_in < 2 || n_in > 8 || ctl >= n_in)
        return ntg__fail(err, NTG_ERR_INTERNAL,
                         "op %u is not an elementwise optimizer op: no part of it runs alone",
                         (unsigned)code);
    int64_t n = ntg__tdesc_numel(&in[0].d);
    if (lo > hi || hi > (uint64_t)n)
        return ntg__fail(err, NTG_ERR_INTERNAL, "elements %llu..%llu of a %lld-element parameter",
                         (unsigned long long)lo, (unsigned long long)hi, (long long)n);
    for (int i = 0; i < n_in; i++) {
        saved[i] = in[i];
        if (i == ctl || !in[i].data) continue;
        if (ntg__tdesc_numel(&in[i].d) != n) {
            ntg__host_elems_restore(in, i, saved);
            return ntg__fail(err, NTG_ERR_INTERNAL,
                             "input %d of an optimizer op is not elementwise", i);
        }
        in[i].data = (float *)in[i].data + lo;
        memset(in[i].d.dims, 0, sizeof in[i].d.dims);
        in[i].d.rank = 1;
        in[i].d.batched = 0;
        in[i].d.dims[0] = (int64_t)(hi - lo);
    }
    return NTG_OK;
}

void ntg__host_elems_restore(ntg_view *in, int n_in, const ntg_view saved[8])
{
    for (int i = 0; i < n_in; i++) in[i] = saved[i];
}
