/* fuzz_safetensors.c — libFuzzer target: the safetensors reader and its JSON parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every byte an accepted file hands out, so a tensor that points outside the
 * file shows up under ASan here; the tables must also agree with each other. */
static unsigned exercise(const ntg_st_file *f)
{
    unsigned acc = 0;
    for (size_t i = 0; i < ntg__st_count(f); i++) {
        const ntg_st_tensor *t = ntg__st_get(f, i);
        const unsigned char *d = t->data;
        for (uint64_t b = 0; b < t->nbytes; b++) acc += d[b];
        uint64_t numel = 1;
        for (int k = 0; k < t->rank; k++) numel *= (uint64_t)t->shape[k];
        if (t->rank < 0 || t->rank > 8 || numel * (uint64_t)t->dtype_size != t->nbytes ||
            ntg__st_dtype_size(t->dtype) != t->dtype_size || ntg__st_find(f, t->name) != t)
            __builtin_trap(); /* the reader accepted something inconsistent */
        if (i > 0 &&
            (const unsigned char *)ntg__st_get(f, i - 1)->data + ntg__st_get(f, i - 1)->nbytes != d)
            __builtin_trap(); /* tensors must tile the buffer */
    }
    for (size_t i = 0; i < ntg__st_meta_count(f); i++) {
        const char *k, *v;
        if (ntg__st_meta_at(f, i, &k, &v) != NTG_OK || ntg__st_meta(f, k) == NULL) __builtin_trap();
        acc += (unsigned)(strlen(k) + strlen(v));
    }
    return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ntg_st_file *f = NULL;
    ntg_error err;
    if (ntg__st_parse(data, size, "fuzz.safetensors", &f, &err) == NTG_OK) {
        volatile unsigned sink = exercise(f);
        (void)sink;
    } else if (f != NULL || err.message[0] == '\0') {
        __builtin_trap(); /* a refusal must come with a message and no file */
    }
    ntg__st_free(f);
    return 0;
}

#ifdef NTG_FUZZ_SEED_MAIN
/* Seed corpus: small valid files written by our own writer into argv[1]. */
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    float w[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    int64_t i64[2] = {-1, 1};
    uint16_t h[3] = {0x3c00, 0x4000, 0xbc00};
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s3[1] = {3}, s0[2] = {0, 4};
    ntg_st_out t[] = {{"layer.weight", "F32", 2, s23, w},
                      {"steps", "I64", 1, s2, i64},
                      {"half", "F16", 1, s3, h},
                      {"empty", "BF16", 2, s0, NULL}};
    const char *meta[] = {"producer", "ntgraph fuzz seed", "note", "tab\there \xC3\xA9"};
    char path[4096];
    snprintf(path, sizeof path, "%s/four.safetensors", argv[1]);
    ntg_error err;
    if (ntg__st_write(path, t, 4, meta, 2, &err) != NTG_OK) goto fail;
    snprintf(path, sizeof path, "%s/one.safetensors", argv[1]);
    if (ntg__st_write(path, t, 1, NULL, 0, &err) != NTG_OK) goto fail;
    snprintf(path, sizeof path, "%s/none.safetensors", argv[1]);
    if (ntg__st_write(path, NULL, 0, meta, 1, &err) != NTG_OK) goto fail;
    return 0;
fail:
    fprintf(stderr, "%s\n", err.message);
    return 1;
}
#endif
