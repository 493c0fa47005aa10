/* session_int.h — the session object, shared by the runtime's training loop and the CLI. */
#ifndef NTG_SESSION_INT_H
#define NTG_SESSION_INT_H

#include "backend.h"
#include "ntgraph.h"

struct ntg_session {
    const struct ntg_plan *plan;
    const ntg_backend_class *cls;
    ntg_backend *be;
    ntg_buffer *storage[NTG_STORE_COUNT];
    int max_batch;
    int last_batch;          /* batch of the last successful run; 0 before the first */
    int last_program;        /* program index of that run: only its outputs may be read */
    int trainable;           /* weights are the session's own copy */
    uint8_t *writes_weights; /* per program: it updates parameters in place */
    /* Host backends: arena and state are anonymous mappings the backend wraps, so a page
     * is only made (zeroed) by the kernel when a run first touches it; NULL otherwise. */
    void *host_map[NTG_STORE_COUNT];
    size_t host_map_bytes[NTG_STORE_COUNT];
    int host_fd[NTG_STORE_COUNT]; /* > 0: the mapping is this memfd's (ntg__session_share) */
    /* Bytes of each storage open to the backend: the plan's, except in a lean session (a
     * host backend without NTG_SESSION_TRAINABLE), whose arena is open up to the infer
     * program's arena_peak and whose optimizer state is closed; the rest of the mapping is
     * reserved (PROT_NONE, no memory) and opened the first time a program that needs it
     * runs or an input there is set (ntg__session_open). */
    uint64_t open_bytes[NTG_STORE_COUNT];
    int lean;
    uint8_t *reads_state; /* per program: an operand lives in the optimizer state */
};

/* Bytes of host memory the session's own storages may use now (arena and state open to the
 * backend; what a run touches of them is what becomes resident).  For tests and benches. */
uint64_t ntg__session_open_bytes(const ntg_session *s);

/* Copy the whole WEIGHTS (or STATE) storage out of / into the session. */
ntg_status ntg__session_read_storage(ntg_session *s, int storage, void *dst, ntg_error *err);
ntg_status ntg__session_write_storage(ntg_session *s, int storage, const void *src, ntg_error *err);
/* set_input / get_output by tensor id, no name lookup (training loops). */
ntg_status ntg__session_set_tensor(ntg_session *s, uint32_t id, const float *data, size_t count,
                                   ntg_error *err);
ntg_status ntg__session_get_tensor(ntg_session *s, uint32_t id, float *out, size_t count,
                                   ntg_error *err);

/* Where tensor `id` lives in the session's own host memory (the arena, optimizer state or a
 * trainable session's weights on a host backend, opened for its whole extent at the session's
 * maximum batch), or NULL when the backend keeps it elsewhere (a device) or it is not the
 * session's (an inference session's weights are the plan's, read-only).  The training loop
 * reads and writes a program's gradients in place through it; a backend run must not be in
 * progress on the bytes touched. */
float *ntg__session_host_tensor(ntg_session *s, uint32_t id);

/* Tensor id of input (is_output 0) or output (1) `name` in any program, or NTG_NONE. */
uint32_t ntg__session_find(const ntg_session *s, const char *name, int is_output);
/* Run program index `program` (no name lookup). */
ntg_status ntg__session_run_index(ntg_session *s, int program, int batch, ntg_error *err);
/* Op `op` of `program` (adam or sgd) over elements [lo, hi) of its parameter alone, after
 * ntg__session_run_range opened a run of the program (ntg_backend_class.run_elems: cpu,
 * xnnpack).  NTG_ERR_UNSUPPORTED on other backends; NTG_ERR_STATE before a run was opened;
 * NTG_ERR_INTERNAL for an op that is not an elementwise optimizer op. */
int ntg__session_can_run_elems(const ntg_session *s);
ntg_status ntg__session_run_elems(ntg_session *s, int program, uint32_t op, uint64_t lo,
                                  uint64_t hi, ntg_error *err);
/* Make storage `sto` (NTG_STORE_*) of a trainable host session shareable with other processes
 * (data-parallel workers on one host read each other's gradients and weights in place:
 * docs/internals.md, "In place"): its mapping becomes a MAP_SHARED mapping of a memfd at the
 * same address, with the same contents.  Gives the memfd (the session keeps it open), the
 * address and the mapped bytes.  NTG_ERR_UNSUPPORTED when the storage is not such memory (device
 * backends, a lean session); NTG_ERR_IO / NTG_ERR_NOMEM. */
ntg_status ntg__session_share(ntg_session *s, int sto, int *fd, void **base, size_t *bytes,
                              ntg_error *err);
/* 1 when the session's backend runs a program in op ranges (ntg_backend_class.run_range). */
int ntg__session_can_run_range(const ntg_session *s);
/* Run the ops at positions [first, end) of program `program` (a run is such ranges in turn,
 * from 0 to the program's op count; between them the tensors no later op writes may be read
 * with ntg__session_get_tensor).  NTG_ERR_UNSUPPORTED when the backend cannot. */
ntg_status ntg__session_run_range(ntg_session *s, int program, int batch, uint32_t first,
                                  uint32_t end, ntg_error *err);

#endif /* NTG_SESSION_INT_H */
