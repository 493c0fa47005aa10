/* alloc_fail.c — the tests' malloc interposer (see alloc_fail.h). */
#define _GNU_SOURCE /* RTLD_NEXT, dl_iterate_phdr, memalign */
#include "alloc_fail.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define AF_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AF_OFF 1
#endif
#endif

#ifdef AF_OFF
/* AddressSanitizer owns malloc and pthread_create; a second interposer in the executable
 * crashes it at start-up.  Everything here is inert and af_available says so. */
bool af_available(void)
{
    return false;
}
void af_mark_thread(void) {}
void af_count_start(void) {}
long af_count_stop(void)
{
    return 0;
}
long af_live(void)
{
    return 0;
}
void af_inject(long nth)
{
    (void)nth;
}
void af_inject_libc(bool on)
{
    (void)on;
}
long af_inject_stop(void)
{
    return 0;
}
bool af_injected(void)
{
    return false;
}
#else

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

/* Exported: the project builds with -fvisibility=hidden, and the shared libraries (XNNPACK,
 * pthreadpool, libyaml) only see an interposer in the executable's dynamic symbol table. */
#define EXPORT __attribute__((visibility("default")))

/* The interposer's state is process-wide by nature (malloc is); it lives only in tests. */
static atomic_int counting, injecting, ready;
static atomic_long counted, live, seen, fail_at;
static atomic_bool failed;
static _Thread_local int mine;
/* our code: [exe_lo, exe_hi), the executable's text (libntgraph is linked in statically);
 * libc's text, [libc_lo, libc_hi), joins it under af_inject_libc */
static uintptr_t exe_lo, exe_hi, libc_lo, libc_hi;
static atomic_int with_libc;

typedef struct range_find {
    uintptr_t addr, lo, hi;
} range_find;

/* The executable PT_LOAD segment of the object that holds r->addr. */
static int find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    range_find *r = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (r->addr >= lo && r->addr < hi) {
            r->lo = lo;
            r->hi = hi;
            return 1;
        }
    }
    return 0;
}

bool af_available(void)
{
    if (atomic_load(&ready)) return true;
    bool (*self)(void) = af_available;
    range_find e = {0, 0, 0};
    memcpy(&e.addr, &self, sizeof e.addr);
    /* libc's own fopen (the program's may be a PLT stub) marks libc's text */
    void *sym = dlsym(RTLD_NEXT, "fopen");
    if (!sym) return false;
    range_find c = {(uintptr_t)sym, 0, 0};
    dl_iterate_phdr(find_range, &e);
    dl_iterate_phdr(find_range, &c);
    if (!e.hi || !c.hi) return false;
    exe_lo = e.lo;
    exe_hi = e.hi;
    libc_lo = c.lo;
    libc_hi = c.hi;
    atomic_store(&ready, 1);
    return true;
}

void af_mark_thread(void)
{
    mine = 1;
}

void af_count_start(void)
{
    atomic_store(&counted, 0);
    atomic_store(&counting, 1);
}

long af_count_stop(void)
{
    atomic_store(&counting, 0);
    return atomic_load(&counted);
}

long af_live(void)
{
    return atomic_load(&live);
}

void af_inject(long nth)
{
    atomic_store(&seen, 0);
    atomic_store(&failed, false);
    atomic_store(&fail_at, nth);
    atomic_store(&injecting, 1);
}

void af_inject_libc(bool on)
{
    atomic_store(&with_libc, on);
}

long af_inject_stop(void)
{
    atomic_store(&injecting, 0);
    return atomic_load(&seen);
}

bool af_injected(void)
{
    return atomic_load(&failed);
}

static bool ours(uintptr_t caller)
{
    return (caller >= exe_lo && caller < exe_hi) ||
           (atomic_load(&with_libc) && caller >= libc_lo && caller < libc_hi);
}

/* Called on every allocation: counts it, and says whether this one must fail. */
static bool should_fail(void *caller)
{
    if (!mine) return false;
    if (atomic_load(&counting)) atomic_fetch_add(&counted, 1);
    if (!atomic_load(&injecting) || !atomic_load(&ready) || !ours((uintptr_t)caller)) return false;
    long n = atomic_fetch_add(&seen, 1) + 1;
    long at = atomic_load(&fail_at);
    if (at > 0 && n == at) {
        atomic_store(&failed, true);
        return true;
    }
    return false;
}

static void *made(void *p)
{
    if (p && mine) atomic_fetch_add(&live, 1);
    return p;
}

#define CALLER __builtin_extract_return_addr(__builtin_return_address(0))

EXPORT void *malloc(size_t n)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return made(__libc_malloc(n));
}

EXPORT void *calloc(size_t n, size_t m)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return made(__libc_calloc(n, m));
}

EXPORT void *realloc(void *p, size_t n)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __libc_realloc(p, n);
    if (mine) {
        if (!p && q)
            atomic_fetch_add(&live, 1);
        else if (p && !n && !q)
            atomic_fetch_sub(&live, 1); /* glibc: realloc(p, 0) frees */
    }
    return q;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (should_fail(CALLER)) return ENOMEM;
    void *p = made(__libc_memalign(align, n));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return made(__libc_memalign(align, n));
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    return made(__libc_memalign(align, n));
}

EXPORT void free(void *p)
{
    if (p && mine) atomic_fetch_sub(&live, 1);
    __libc_free(p);
}

/* strdup and strndup are replaced too, so that a copy our code makes is a point of its own
 * (libc's would call malloc from libc, which is not ours: a failure there would hit every
 * library that calls libc) */
EXPORT char *strdup(const char *str)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t n = strlen(str) + 1;
    char *p = made(__libc_malloc(n));
    if (p) memcpy(p, str, n);
    return p;
}

EXPORT char *strndup(const char *str, size_t max)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t n = strnlen(str, max);
    char *p = made(__libc_malloc(n + 1));
    if (p) {
        memcpy(p, str, n);
        p[n] = '\0';
    }
    return p;
}

/* mmap by system call: the arenas (runtime/session.c) and mapped plans are mappings. */
EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (should_fail(CALLER)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (r == -1) return MAP_FAILED;
    return made((void *)r);
}

EXPORT int munmap(void *addr, size_t len)
{
    int r = (int)syscall(SYS_munmap, addr, len);
    if (r == 0 && mine) atomic_fetch_sub(&live, 1);
    return r;
}

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef struct tramp {
    void *(*fn)(void *);
    void *arg;
} tramp;

static void *trampoline(void *p)
{
    tramp t = *(tramp *)p;
    __libc_free(p);
    mine = 1;
    return t.fn(t.arg);
}

/* A thread a marked thread starts is marked too (pthreadpool's workers, our thread pool). */
EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    create_fn real;
    void *sym = dlsym(RTLD_NEXT, "pthread_create");
    memcpy(&real, &sym, sizeof real);
    if (!mine) return real(th, attr, fn, arg);
    tramp *t = __libc_malloc(sizeof *t);
    if (!t) return EAGAIN;
    t->fn = fn;
    t->arg = arg;
    return real(th, attr, trampoline, t);
}
#endif
