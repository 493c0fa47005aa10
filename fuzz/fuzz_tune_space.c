/* fuzz_tune_space.c — libFuzzer target: `ntgraph tune`'s search-space lines (--space FILE,
 * -p NAME=SPEC) on arbitrary text, then the samplers and the value formatter on whatever
 * space it accepted. */
/* NTG_FUZZ_EXTRA_SOURCES: cli/tune_space.c */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tune_space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every point a sampler returns lies in the space: bounds for numbers (integral for int), an
 * index for choices; and formats to a non-empty value. */
static void check_point(const tune_space *s, const double *x)
{
    for (size_t i = 0; i < s->n; i++) {
        const tune_param *p = &s->p[i];
        if (!isfinite(x[i])) __builtin_trap();
        if (p->kind == TUNE_CHOICE) {
            if (x[i] < 0 || x[i] >= (double)p->n_choices || x[i] != floor(x[i])) __builtin_trap();
        } else if (x[i] < p->lo || x[i] > p->hi) {
            __builtin_trap();
        } else if (p->kind == TUNE_INT && x[i] != floor(x[i])) {
            __builtin_trap();
        }
        char buf[512];
        tune_format(p, x[i], buf, sizeof buf);
        if (!buf[0]) __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tune_space *s = calloc(1, sizeof *s);
    if (!s) {
        free(text);
        return 0;
    }
    /* one line each, as -p gives them; a refused line must say why */
    char msg[512];
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        msg[0] = '\0';
        if (tune_space_add(s, line, msg, sizeof msg) != 0 && !msg[0]) __builtin_trap();
    }
    if (s->n > TUNE_MAX_PARAMS) __builtin_trap();
    if (s->n) {
        double X[4 * TUNE_MAX_PARAMS], y[4] = {0.5, 0.1, NAN, 0.3}, x[TUNE_MAX_PARAMS];
        for (uint64_t t = 0; t < 4; t++) {
            tune_sample_random(s, 7, t, X + t * s->n);
            check_point(s, X + t * s->n);
        }
        tune_tpe_options o = {0.25, 24};
        tune_sample_tpe(s, X, y, 4, &o, 7, 4, x);
        check_point(s, x);
    }
    tune_space_free(s);
    free(s);
    free(text);
    return 0;
}
