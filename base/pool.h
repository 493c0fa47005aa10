/* pool.h — bump allocator for objects that live and die together (graphs, IR, plans). */
#ifndef NTG_POOL_H
#define NTG_POOL_H

#include <stddef.h>

typedef struct ntg_pool ntg_pool;

/* NULL on allocation failure. */
ntg_pool *ntg__pool_create(void);
void ntg__pool_destroy(ntg_pool *p);
/* Zeroed, 16-byte aligned memory that lives until the pool is destroyed; NULL on
 * failure (also when size overflows). */
void *ntg__pool_alloc(ntg_pool *p, size_t size);
/* n * size bytes, checked for overflow. */
void *ntg__pool_array(ntg_pool *p, size_t n, size_t size);
char *ntg__pool_strdup(ntg_pool *p, const char *s);
char *ntg__pool_strndup(ntg_pool *p, const char *s, size_t n);
/* printf into pool memory. */
char *ntg__pool_fmt(ntg_pool *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Bytes handed out so far. */
size_t ntg__pool_used(const ntg_pool *p);

/* Growable array of fixed-size items whose storage comes from the heap (not the
 * pool), so it can grow; free with ntg__vec_free. */
typedef struct ntg_vec {
    void *data;
    size_t len, cap, item;
} ntg_vec;

void ntg__vec_init(ntg_vec *v, size_t item_size);
/* Pointer to a new zeroed item at the end, or NULL when out of memory. */
void *ntg__vec_push(ntg_vec *v);
void *ntg__vec_at(const ntg_vec *v, size_t i);
void ntg__vec_free(ntg_vec *v);

/* String -> uint32 map (open addressing); keys are borrowed, not copied. */
typedef struct ntg_strmap {
    const char **keys;
    unsigned *vals;
    size_t cap, len;
} ntg_strmap;

void ntg__strmap_init(ntg_strmap *m);
/* 0 on success, -1 out of memory.  Replaces an existing key's value. */
int ntg__strmap_put(ntg_strmap *m, const char *key, unsigned val);
/* 1 and *val when found, else 0. */
int ntg__strmap_get(const ntg_strmap *m, const char *key, unsigned *val);
void ntg__strmap_free(ntg_strmap *m);

#endif /* NTG_POOL_H */
