/* pool.c — bump allocator, growable vectors and a small string map. */
#include "pool.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct ntg_pool {
    chunk *head;
    size_t total;
};

ntg_pool *ntg__pool_create(void)
{
    return calloc(1, sizeof(ntg_pool));
}

void ntg__pool_destroy(ntg_pool *p)
{
    if (!p) return;
    for (chunk *c = p->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(p);
}

void *ntg__pool_alloc(ntg_pool *p, size_t size)
{
    if (size > SIZE_MAX / 2) return NULL;
    size_t need = (size + 15) & ~(size_t)15;
    if (need == 0) need = 16;
    chunk *c = p->head;
    if (!c || c->size - c->used < need) {
        size_t cs = need > 60000 ? need : 60000;
        chunk *n = malloc(sizeof(chunk) + cs);
        if (!n) return NULL;
        n->size = cs;
        n->used = 0;
        /* a big one-off block goes behind the current chunk so it keeps filling */
        if (c && need > 60000) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            p->head = n;
        }
        c = n;
    }
    void *r = c->data + c->used;
    c->used += need;
    p->total += need;
    memset(r, 0, need);
    return r;
}

void *ntg__pool_array(ntg_pool *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / 2 / size) return NULL;
    return ntg__pool_alloc(p, n * size);
}

char *ntg__pool_strndup(ntg_pool *p, const char *s, size_t n)
{
    char *r = ntg__pool_alloc(p, n + 1);
    if (r) memcpy(r, s, n);
    return r;
}

char *ntg__pool_strdup(ntg_pool *p, const char *s)
{
    return ntg__pool_strndup(p, s, strlen(s));
}

char *ntg__pool_fmt(ntg_pool *p, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *r = n < 0 ? NULL : ntg__pool_alloc(p, (size_t)n + 1);
    if (r) vsnprintf(r, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return r;
}

size_t ntg__pool_used(const ntg_pool *p)
{
    return p->total;
}

void ntg__vec_init(ntg_vec *v, size_t item_size)
{
    v->data = NULL;
    v->len = v->cap = 0;
    v->item = item_size;
}

void *ntg__vec_push(ntg_vec *v)
{
    if (v->len == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        if (nc > SIZE_MAX / v->item) return NULL;
        void *nd = realloc(v->data, nc * v->item);
        if (!nd) return NULL;
        v->data = nd;
        v->cap = nc;
    }
    void *r = (unsigned char *)v->data + v->len * v->item;
    memset(r, 0, v->item);
    v->len++;
    return r;
}

void *ntg__vec_at(const ntg_vec *v, size_t i)
{
    return (unsigned char *)v->data + i * v->item;
}

void ntg__vec_free(ntg_vec *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

/* FNV-1a: short keys, no adversary (names from the caller's own graph). */
static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

void ntg__strmap_init(ntg_strmap *m)
{
    memset(m, 0, sizeof *m);
}

static int strmap_grow(ntg_strmap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 64;
    const char **nk = calloc(nc, sizeof *nk);
    unsigned *nv = calloc(nc, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash_str(m->keys[i]) & (nc - 1);
        while (nk[j]) j = (j + 1) & (nc - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = nc;
    return 0;
}

int ntg__strmap_put(ntg_strmap *m, const char *key, unsigned val)
{
    if ((m->len + 1) * 2 > m->cap && strmap_grow(m)) return -1;
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key) != 0) j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) m->len++;
    m->keys[j] = key;
    m->vals[j] = val;
    return 0;
}

int ntg__strmap_get(const ntg_strmap *m, const char *key, unsigned *val)
{
    if (!m->cap) return 0;
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            *val = m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

void ntg__strmap_free(ntg_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
