/* plan_load.c — plan.bin v1 loading (mapped, copied or borrowed bytes, validated by
 * plan_validate.c), saving, and the backends' shared data of a loaded plan. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef MAP_POPULATE
#define NTG_MAP_POPULATE MAP_POPULATE
#else
#define NTG_MAP_POPULATE 0
#endif
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "ntg_error.h"
#include "plan_int.h"
#include "plan_validate.h"
#include "pool.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "plan.bin is little-endian and read in place; big-endian hosts are not supported"
#endif

#define MEMORY_NAME "<memory>"

/* ------------------------------------------------------- shared backend data */

/* One entry of a plan's shared cache: `bytes` of immutable data made once by a backend. */
typedef struct shared_entry {
    struct shared_entry *next;
    char *key;
    void *mem;
    size_t bytes;
    unsigned refs;
} shared_entry;

struct ntg_plan_shared {
    pthread_mutex_t mu;
    shared_entry *head;
};

static ntg_status shared_get(void *self, const char *key, size_t bytes, ntg_shared_fill_fn fill,
                             void *ctx, void **out, ntg_error *err)
{
    struct ntg_plan_shared *c = self;
    ntg_status st = NTG_OK;
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    shared_entry *e = c->head;
    while (e && strcmp(e->key, key) != 0) e = e->next;
    if (e && e->bytes != bytes) {
        st = ntg__fail(err, NTG_ERR_INTERNAL,
                       "shared data '%s' was made with %zu bytes, asked for with %zu", key,
                       e->bytes, bytes);
    } else if (e) {
        e->refs++;
        *out = e->mem;
    } else {
        /* made under the lock: a second session preparing at the same time waits for this
         * packing instead of doing its own */
        e = calloc(1, sizeof *e);
        size_t klen = strlen(key) + 1;
        if (e) e->key = malloc(klen);
        if (e && e->key && posix_memalign(&e->mem, 64, bytes ? bytes : 64) != 0) e->mem = NULL;
        if (!e || !e->key || !e->mem) {
            st = ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes of shared data '%s'",
                           bytes, key);
        } else {
            memcpy(e->key, key, klen);
            e->bytes = bytes;
            st = fill ? fill(ctx, e->mem, err) : NTG_OK;
        }
        if (st) {
            if (e) {
                free(e->mem);
                free(e->key);
                free(e);
            }
        } else {
            e->refs = 1;
            e->next = c->head;
            c->head = e;
            *out = e->mem;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

static void shared_put(void *self, void *mem)
{
    struct ntg_plan_shared *c = self;
    if (!mem) return;
    pthread_mutex_lock(&c->mu);
    for (shared_entry **pe = &c->head; *pe; pe = &(*pe)->next) {
        shared_entry *e = *pe;
        if (e->mem != mem) continue;
        if (--e->refs == 0) {
            *pe = e->next;
            free(e->mem);
            free(e->key);
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
}

static ntg_status shared_init(ntg_plan *p, const char *where, ntg_error *err)
{
    p->shared = calloc(1, sizeof *p->shared);
    if (!p->shared) return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "out of memory");
    if (pthread_mutex_init(&p->shared->mu, NULL) != 0) {
        free(p->shared);
        p->shared = NULL;
        return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "cannot initialise a mutex");
    }
    p->shared_api.self = p->shared;
    p->shared_api.get = shared_get;
    p->shared_api.put = shared_put;
    p->view.shared = &p->shared_api;
    return NTG_OK;
}

/* The plan's sessions are gone (the API contract): whatever is left is freed. */
static void shared_free(ntg_plan *p)
{
    if (!p->shared) return;
    for (shared_entry *e = p->shared->head, *n; e; e = n) {
        n = e->next;
        free(e->mem);
        free(e->key);
        free(e);
    }
    pthread_mutex_destroy(&p->shared->mu);
    free(p->shared);
    p->shared = NULL;
}

/* Validate p->base/p->size and build the derived tables. */
static ntg_status plan_init(ntg_plan *p, const char *where, ntg_error *err)
{
    ntg_status st = ntg__plan_validate(p->base, p->size, where, &p->img, err);
    if (st != NTG_OK) return st;
    const ntg_plan_image *img = &p->img;

    p->programs = calloc(img->n_programs, sizeof *p->programs);
    p->param_ids = calloc(img->info.n_params ? img->info.n_params : 1, sizeof *p->param_ids);
    if (!p->programs || !p->param_ids)
        return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "out of memory");
    p->infer_program = -1;
    for (uint32_t i = 0; i < img->n_programs; i++) {
        const ntg_program_rec *r = &img->programs[i];
        p->programs[i].name = ntg__plan_str(p, r->name);
        p->programs[i].ops = r->n_ops ? img->indices + r->ops : NULL;
        p->programs[i].n_ops = r->n_ops;
        if (p->infer_program < 0 && strcmp(p->programs[i].name, "infer") == 0)
            p->infer_program = (int)i;
    }
    p->n_params = 0;
    for (uint32_t i = 0; i < img->n_tensors; i++)
        if (img->tensors[i].role == NTG_ROLE_PARAM) p->param_ids[p->n_params++] = i;

    ntg_plan_view *w = &p->view;
    w->tensors = img->tensors;
    w->n_tensors = img->n_tensors;
    w->ops = img->ops;
    w->n_ops = img->n_ops;
    w->operands = img->operands;
    w->n_operands = img->n_operands;
    w->attrs = img->attrs;
    w->n_attrs = img->n_attrs;
    w->programs = p->programs;
    w->n_programs = img->n_programs;
    w->strings = img->strings;
    memcpy(w->storage_bytes, img->info.storage_bytes, sizeof w->storage_bytes);
    w->max_batch = (int)img->info.max_batch;
    return shared_init(p, where, err);
}

/* ---------------------------------------------------------------- load, save */

static ntg_status io_err(ntg_error *err, const char *path, const char *what, int e)
{
    char eb[128];
    return ntg__err_os(err, NTG_ERR_IO, e, path, "%s: %s", what, ntg__errno_str(e, eb, sizeof eb));
}

static ntg_status load_bytes(const void *data, size_t size, unsigned flags, void *owned,
                             const char *where, ntg_plan **out, ntg_error *err);

/* NTG_LOAD_COPY: the file's bytes read into memory of the plan's own. */
static ntg_status load_copy(int fd, size_t size, const char *path, ntg_plan **out, ntg_error *err)
{
    uint8_t *buf = ntg__aligned_alloc(size);
    if (!buf) {
        close(fd);
        return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "cannot allocate %zu bytes", size);
    }
    size_t got = 0;
    int e = ntg__read_full(fd, buf, size, &got);
    if (e || got < size) {
        close(fd);
        ntg__aligned_free(buf);
        if (e) return io_err(err, path, "cannot read", e);
        /* a file that shrank while it was read is a truncated plan */
        return ntg__err(err, NTG_ERR_PLAN, path, 0, 0,
                        "file shrank to %zu bytes while it was read (%zu expected)", got, size);
    }
    close(fd);
    return load_bytes(buf, size, 0, buf, path, out, err);
}

ntg_status ntg_plan_load_file(const char *path, ntg_plan **out, ntg_error *err)
{
    return ntg_plan_load_file_ex(path, 0, out, err);
}

ntg_status ntg_plan_load_file_ex(const char *path, unsigned flags, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!path || !out)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_file: NULL argument");
    if (flags & ~NTG_LOAD_COPY)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_file_ex: unknown flags 0x%x",
                         flags & ~NTG_LOAD_COPY);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_err(err, path, "cannot open", errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return io_err(err, path, "cannot stat", e);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ntg__err(err, NTG_ERR_IO, path, 0, 0, "not a regular file");
    }
    if (sb.st_size <= 0) {
        close(fd);
        /* an empty file is the shortest truncated plan, and says so as they do */
        return ntg__err(err, NTG_ERR_PLAN, path, 0, 0,
                        "header: file is empty (0 bytes), shorter than the %zu-byte header",
                        sizeof(ntg_plan_header));
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ntg__err(err, NTG_ERR_IO, path, 0, 0, "file is too large to map");
    }
    size_t size = (size_t)sb.st_size;
    if (flags & NTG_LOAD_COPY) return load_copy(fd, size, path, out, err);
    /* MAP_PRIVATE + PROT_READ: weights are used in place and no one can write through us.
     * MAP_POPULATE maps every page of the file up front (it is all read by the CRC check
     * anyway): one pass in the kernel instead of a page fault per 4 KiB, about half the
     * load time of a warm 14.7 MB plan. */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | NTG_MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return io_err(err, path, "cannot map", e);
    ntg_plan *p = calloc(1, sizeof *p);
    if (!p) {
        munmap(map, size);
        return ntg__err(err, NTG_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    p->map = map;
    p->base = map;
    p->size = size;
    ntg_status st = plan_init(p, path, err);
    if (st != NTG_OK) {
        ntg_plan_destroy(p);
        return st;
    }
    *out = p;
    return NTG_OK;
}

static ntg_status load_bytes(const void *data, size_t size, unsigned flags, void *owned,
                             const char *where, ntg_plan **out, ntg_error *err)
{
    ntg_plan *p = calloc(1, sizeof *p);
    if (!p) {
        ntg__aligned_free(owned);
        return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "out of memory");
    }
    if (owned) {
        p->owned = owned;
        p->base = owned;
    } else if (flags & NTG_LOAD_BORROW) {
        p->base = data;
    } else {
        p->owned = ntg__aligned_alloc(size);
        if (!p->owned) {
            free(p);
            return ntg__err(err, NTG_ERR_NOMEM, where, 0, 0, "cannot allocate %zu bytes", size);
        }
        memcpy(p->owned, data, size);
        p->base = p->owned;
    }
    p->size = size;
    ntg_status st = plan_init(p, where, err);
    if (st != NTG_OK) {
        ntg_plan_destroy(p);
        return st;
    }
    *out = p;
    return NTG_OK;
}

ntg_status ntg_plan_load_memory(const void *data, size_t size, unsigned flags, ntg_plan **out,
                                ntg_error *err)
{
    if (out) *out = NULL;
    if (!out || (!data && size))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_memory: NULL argument");
    if (flags & ~NTG_LOAD_BORROW)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_load_memory: unknown flags 0x%x",
                         flags & ~NTG_LOAD_BORROW);
    if (!data)
        return ntg__err(err, NTG_ERR_PLAN, MEMORY_NAME, 0, 0,
                        "header: file is 0 bytes, shorter than the %zu-byte header",
                        sizeof(ntg_plan_header));
    if ((flags & NTG_LOAD_BORROW) && ((uintptr_t)data % NTG_PLAN_ALIGN) != 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "ntg_plan_load_memory: NTG_LOAD_BORROW needs 64-byte aligned data");
    return load_bytes(data, size, flags, NULL, MEMORY_NAME, out, err);
}

ntg_status ntg__plan_adopt(void *buf, size_t size, const char *name, ntg_plan **out, ntg_error *err)
{
    if (out) *out = NULL;
    if (!buf || !out || ((uintptr_t)buf % NTG_PLAN_ALIGN) != 0) {
        ntg__aligned_free(buf);
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg__plan_adopt: bad argument");
    }
    return load_bytes(buf, size, 0, buf, name ? name : MEMORY_NAME, out, err);
}

ntg_status ntg_plan_save(const ntg_plan *plan, const char *path, ntg_error *err)
{
    if (!plan || !path) return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_save: NULL argument");
    ntg_span whole = {plan->base, plan->size};
    return ntg__file_replace(path, &whole, 1, err);
}

ntg_status ntg_plan_serialize(const ntg_plan *plan, void **data, size_t *size, ntg_error *err)
{
    if (data) *data = NULL;
    if (size) *size = 0;
    if (!plan || !data || !size)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "ntg_plan_serialize: NULL argument");
    void *buf = malloc(plan->size);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "cannot allocate %zu bytes", plan->size);
    /* a loaded plan is its validated file bytes, unchanged */
    memcpy(buf, plan->base, plan->size);
    *data = buf;
    *size = plan->size;
    return NTG_OK;
}

void ntg_plan_destroy(ntg_plan *plan)
{
    if (!plan) return;
    shared_free(plan);
    if (plan->map) munmap(plan->map, plan->size);
    ntg__aligned_free(plan->owned);
    free(plan->programs);
    free(plan->param_ids);
    free(plan);
}
