/* host_buf.h — host-memory buffers, shared by the backends whose kernels run on the CPU (cpu,
 * xnnpack): the vtable's buffer functions, written once. */
#ifndef NTG_HOST_BUF_H
#define NTG_HOST_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* A buffer of such a backend: memory the storages' views point into. */
struct ntg_buffer {
    uint8_t *data;
    size_t size;
    int owned;    /* allocated here (freed with the buffer), not the caller's */
    int readonly; /* wrapped read-only memory (an inference session's mapped weights) */
};

/* 64-byte aligned and zeroed: tensors start on cache lines, state starts at zero. */
ntg_status ntg__host_buffer_alloc(ntg_backend *b, size_t size, ntg_buffer **out, ntg_error *err);
/* The caller's memory, used in place (not freed with the buffer). */
ntg_status ntg__host_buffer_wrap(ntg_backend *b, void *host, size_t size, int readonly,
                                 ntg_buffer **out, ntg_error *err);
void ntg__host_buffer_free(ntg_backend *b, ntg_buffer *buf);
/* memcpy in and out, range-checked; an upload into read-only memory is refused. */
ntg_status ntg__host_upload(ntg_backend *b, ntg_buffer *dst, size_t offset, const void *src,
                            size_t size, ntg_error *err);
ntg_status ntg__host_download(ntg_backend *b, const ntg_buffer *src, size_t offset, void *dst,
                              size_t size, ntg_error *err);

/* run_elems of the host backends: narrow the elementwise operands of optimizer op `code` (adam:
 * param, grad, m, v; sgd: param, grad and its momentum buffer; not the control tensor) to
 * elements [lo, hi) as 1-D views, keeping the originals in saved[0 .. n_in) for
 * ntg__host_elems_restore.  NTG_ERR_INTERNAL for another op, more than 8 inputs or a range
 * outside the parameter. */
ntg_status ntg__host_elems_narrow(uint32_t code, ntg_view *in, int n_in, uint64_t lo, uint64_t hi,
                                  ntg_view saved[8], ntg_error *err);
void ntg__host_elems_restore(ntg_view *in, int n_in, const ntg_view saved[8]);

#endif /* NTG_HOST_BUF_H */
