/* tune_space.h — `ntgraph tune`'s search space (graph hparams and train keys with uniform,
 * log-uniform, integer or choice distributions) and its two samplers: random search and a
 * TPE-style proposal (Bergstra et al., NeurIPS 2011). Pure functions of the space, the seed,
 * the trial number and the finished trials, so a study is the same whatever order its trials
 * finish in (docs/tuning.md). */
#ifndef NTG_CLI_TUNE_SPACE_H
#define NTG_CLI_TUNE_SPACE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TUNE_UNIFORM, TUNE_LOGUNIFORM, TUNE_INT, TUNE_CHOICE } tune_kind;
typedef enum { TUNE_HPARAM, TUNE_TRAIN } tune_target;

#define TUNE_MAX_PARAMS 32
#define TUNE_MAX_CHOICES 32

typedef struct tune_param {
    char name[64];      /* without its prefix: "lr", "input_size" */
    tune_target target; /* hparams.NAME (-D) or train.KEY (-T) */
    tune_kind kind;
    double lo, hi; /* uniform, loguniform, int (inclusive bounds) */
    char *choices[TUNE_MAX_CHOICES];
    size_t n_choices;
} tune_param;

typedef struct tune_space {
    tune_param p[TUNE_MAX_PARAMS];
    size_t n;
} tune_space;

/* Add "NAME=SPEC" (NAME hparams.X or train.KEY; SPEC uniform(a,b), loguniform(a,b), int(a,b)
 * or choice(v1,v2,...), a value may be a [list]). 0, or -1 with the problem in msg (naming
 * the parameter). */
int tune_space_add(tune_space *s, const char *line, char *msg, size_t cap);
/* Every NAME=SPEC line of a file ('#' comments, blank lines skipped); -1 with "FILE:LINE:
 * problem" in msg. */
int tune_space_load(tune_space *s, const char *path, char *msg, size_t cap);
void tune_space_free(tune_space *s);

/* A point of the space: one double per parameter, the value itself (an integral value for
 * int) or a choice's index. */
void tune_sample_random(const tune_space *s, uint64_t seed, uint64_t trial, double *x);

typedef struct tune_tpe_options {
    double gamma;   /* fraction of the finished trials that are "good" (0.25) */
    int candidates; /* samples drawn from l(x) per parameter (24) */
} tune_tpe_options;

/* The TPE proposal for trial `trial` from n finished trials (X: n rows of s->n values, y: their
 * losses, NaN or inf for a failed trial, which counts as bad): the good trials are the
 * ceil(gamma n) lowest losses; per parameter a Parzen estimator l of the good ones and g of the
 * rest (each with a prior component over the whole range), and the candidate drawn from l
 * with the largest l/g. Random when fewer than two trials finished. */
void tune_sample_tpe(const tune_space *s, const double *X, const double *y, size_t n,
                     const tune_tpe_options *o, uint64_t seed, uint64_t trial, double *x);

/* The point of p that the text value (a graph's default, as the plan's metadata writes it)
 * is: 0 with *x set, or -1 when the value is not in p's space (a choice none of whose values
 * it equals, ignoring spaces and comparing numbers as numbers; a number outside the bounds,
 * or not an integer for int). */
int tune_value_of(const tune_param *p, const char *text, double *x);

/* The text of value v of parameter p, as -D / -T take it. */
void tune_format(const tune_param *p, double v, char *buf, size_t cap);

#endif /* NTG_CLI_TUNE_SPACE_H */
