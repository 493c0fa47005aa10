/* ntgraph.h — the public C API of ntgraph, a runtime for neural time-series forecasting. */
#ifndef NTGRAPH_H
#define NTGRAPH_H

/*
 * ntgraph compiles a forecasting model written as a YAML op graph into a static
 * execution plan ("plan.bin") and runs that plan: forecasting (the `infer`
 * program) and, for plans compiled with training support, `train_step` and
 * `eval`.  This header is the only one an embedding program includes.
 *
 * CONVENTIONS
 *
 *   Status.  Every fallible function returns an ntg_status: NTG_OK (0) on
 *   success, a negative NTG_ERR_* value otherwise.  Values are append-only and
 *   never renumbered.  ntg_strerror() names any value and never returns NULL.
 *
 *   Errors.  Fallible functions take an optional `ntg_error *err` as their last
 *   argument.  It is owned by the caller (usually on the stack); pass NULL if
 *   you only want the status.  On failure it is filled with the status, a
 *   complete human-readable message (prefixed with the place, e.g.
 *   "graphs/nhits.yaml:42:9: unknown op 'maxpool'; did you mean 'maxpool1d'?"),
 *   and the place split into `file`, `line` and `column` (0 when unknown).  On
 *   success it is left untouched.
 *
 *   Ownership.  Handles (ntg_plan, ntg_session, ntg_forecaster, ...) are opaque.  Every `create`,
 *   `compile` or `load` function that returns a handle through an out pointer
 *   transfers ownership to the caller, who releases it with the matching
 *   `destroy`.  destroy(NULL) is a no-op.  On failure the out pointer is set to
 *   NULL and nothing needs releasing.  Strings returned by query functions are
 *   owned by the handle they came from and live as long as it does.
 *
 *   Returned memory.  Memory the library hands to the caller that is not a handle is
 *   released with ntg_free(), never with the caller's free() (the library and the program
 *   may use different allocators).  Only ntg_plan_serialize() returns such memory today;
 *   any later function that does says so in its comment.
 *
 *   Structs.  Every struct the caller allocates and the library reads or fills (options,
 *   reports, windows, tensor descriptions) starts with `size_t size`, set by its `_init`
 *   function (ntg_compile_options_init, ntg_train_report_init, ...), which also sets every
 *   other field to its default.  Always call it; then set the fields you need.  The
 *   library checks `size` and answers NTG_ERR_INVALID_ARG naming the struct when it is 0
 *   (no `_init`), smaller than the first published layout, misaligned, or larger than the
 *   struct this library knows (a program built against a newer ntgraph.h).  A smaller
 *   `size` from an older ntgraph.h is accepted: the fields it lacks take their defaults,
 *   and a report is filled only as far as `size` reaches.  New fields are only ever added
 *   at the end, past the previous size, so programs built against an older header keep
 *   working with a newer library of the same NTG_SOVERSION.  Structs the library fills
 *   and hands to callbacks or lists (ntg_train_progress, ntg_train_checkpoint,
 *   ntg_store_version, ntg_store_checkpoint) carry the library's `size` the same way, so
 *   a caller can tell which fields exist.  Two kinds of struct are fixed instead and never
 *   change within a soversion: ntg_error (usable zeroed, `ntg_error err = {0}`, and filled
 *   even when the size check of another argument fails), and the small records that come
 *   in arrays (ntg_define, ntg_store_metric, ntg_store_blob, ntg_store_tensor): a record
 *   that needs a new field becomes a new type.
 *
 *   Queries.  A function that returns an ntg_status takes an ntg_error.  The queries that
 *   return a value instead (counts, names, numbers: ntg_plan_input_count,
 *   ntg_plan_max_batch, ntg_forecast_value, ntg_series_rows, ntg_store_list_at, ...) have
 *   nothing to report but a NULL handle or an index out of range, for which each returns
 *   the value its comment gives (0, NULL or NaN); nothing else can go wrong in them, since
 *   they read what the handle already holds.
 *
 *   Threads.  The library has no global mutable state; any number of threads
 *   may use it at once on different handles.  A plan is immutable after it is
 *   created and may be shared by any number of sessions and threads.  A session
 *   (and a forecaster) is used by one thread at a time (the caller serialises).  A
 *   session keeps a pointer to its plan: destroy sessions and forecasters before their
 *   plan.
 *
 *   Memory.  The library never calls abort() or exit() on caller input, file
 *   contents or device errors.  ntg_session_run() and ntg_session_run_program()
 *   allocate nothing: every buffer a run needs is allocated when the session is
 *   created.
 *
 *   Batch.  Tensors whose leading dimension is the batch are sized for the
 *   plan's maximum batch (chosen at compile time).  A run takes the actual
 *   batch, 1 <= batch <= that maximum; only the first `batch` rows of batched
 *   inputs and outputs take part.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(NTG_SHARED_BUILD)
#define NTG_API __declspec(dllexport)
#elif defined(__GNUC__)
#define NTG_API __attribute__((visibility("default")))
#else
#define NTG_API
#endif

/* ---------------------------------------------------------------- version */

/* The version is defined here and nowhere else: meson.build reads these lines
 * (scripts/version), so the build, the pkg-config file and the library agree. */
#define NTG_VERSION_MAJOR 0
#define NTG_VERSION_MINOR 1
#define NTG_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, e.g. 100 for 0.1.0 */
#define NTG_VERSION_NUMBER (NTG_VERSION_MAJOR * 10000 + NTG_VERSION_MINOR * 100 + NTG_VERSION_PATCH)
#define NTG_VERSION_STR_(x) #x
#define NTG_VERSION_STR(x) NTG_VERSION_STR_(x)
/* "0.1.0" */
#define NTG_VERSION_STRING                                                                         \
    NTG_VERSION_STR(NTG_VERSION_MAJOR)                                                             \
    "." NTG_VERSION_STR(NTG_VERSION_MINOR) "." NTG_VERSION_STR(NTG_VERSION_PATCH)
/* The ABI version of libntgraph: the shared library's soversion (libntgraph.so.1).  It goes
 * up with every change that breaks a program built against the previous header: a function
 * removed or its signature changed, a struct field moved or removed, a fixed struct changed
 * (ntg_error, the records), a status or flag given another meaning (docs/api.md, "ABI"). */
#define NTG_SOVERSION 1

/* The version of the library actually linked (compare with NTG_VERSION_NUMBER). */
NTG_API int ntg_version_number(void);
/* The same as a string, e.g. "0.1.0".  Static storage. */
NTG_API const char *ntg_version_string(void);

/* Release memory the library returned to the caller (ntg_plan_serialize's buffer; see
 * CONVENTIONS, "Returned memory").  NULL is a no-op. */
NTG_API void ntg_free(void *p);

/* ----------------------------------------------------------------- status */

typedef enum ntg_status {
    NTG_OK = 0,
    NTG_ERR_INVALID_ARG = -1,  /* a NULL handle, a bad option value, an unknown name */
    NTG_ERR_NOMEM = -2,        /* an allocation failed */
    NTG_ERR_IO = -3,           /* a file could not be opened, read, mapped or written */
    NTG_ERR_PARSE = -4,        /* malformed YAML, expression, JSON or CSV syntax */
    NTG_ERR_GRAPH = -5,        /* a well-formed graph that is wrong: unknown op, bad name, cycle */
    NTG_ERR_SHAPE = -6,        /* shapes or dtypes that do not fit together */
    NTG_ERR_PLAN = -7,         /* a plan file that is truncated, corrupted or inconsistent */
    NTG_ERR_VERSION = -8,      /* a plan written by an incompatible format version */
    NTG_ERR_NOT_FOUND = -9,    /* no input, output, parameter, program or key of that name */
    NTG_ERR_UNSUPPORTED = -10, /* the backend or build lacks what was asked */
    NTG_ERR_BACKEND = -11,     /* the backend failed (device lost, driver error) */
    NTG_ERR_RANGE = -12,       /* a value outside its allowed range (e.g. batch > max) */
    NTG_ERR_DATA = -13,        /* bad data content: tensor files, series, weights */
    NTG_ERR_STATE = -14,       /* a call out of order (e.g. train on an inference-only plan) */
    NTG_ERR_INTERNAL = -15,    /* a bug in ntgraph; please report it */
    NTG_ERR_PEER_LOST = -16    /* a mesh peer died, froze or left: form a new generation */
} ntg_status;

/* A short English description of `status` ("shape mismatch", ...).  Never NULL;
 * unknown values give "unknown status".  Static storage. */
NTG_API const char *ntg_strerror(ntg_status status);

/* Caller-owned error details, filled on failure (see CONVENTIONS). */
typedef struct ntg_error {
    ntg_status status; /* same as the return value */
    int line;          /* 1-based line in `file`, 0 when not applicable */
    int column;        /* 1-based column in `file`, 0 when not applicable */
    char file[256];    /* file name, section or object the error is about; "" if none */
    char message[768]; /* complete message, including the place */
    /* NTG_ERR_IO: the errno of the system call that failed (ENOENT, EISDIR, ENOSPC, EIO
     * ...), so a caller can tell a bad path (the user's) from a full disk or a failing
     * device (the machine's); 0 when there was none (a file too large, not a plan). */
    int os_errno;
} ntg_error;

/* -------------------------------------------------------------- tensors */

#define NTG_MAX_RANK 6

typedef enum ntg_dtype { NTG_DTYPE_F32 = 1, NTG_DTYPE_I32 = 2 } ntg_dtype;

/* What a tensor is to the plan. */
typedef enum ntg_role {
    NTG_ROLE_ACTIVATION = 0, /* intermediate value, in the arena */
    NTG_ROLE_INPUT = 1,      /* bound by the caller before a run */
    NTG_ROLE_OUTPUT = 2,     /* read by the caller after a run */
    NTG_ROLE_PARAM = 3,      /* trainable parameter, stored in the plan */
    NTG_ROLE_CONST = 4,      /* constant computed at compile time, stored in the plan */
    NTG_ROLE_GRAD = 5,       /* gradient of the loss w.r.t. a parameter */
    NTG_ROLE_STATE = 6,      /* optimizer state, persistent across training steps */
    NTG_ROLE_LOSS = 7        /* scalar loss of train_step / eval (also an output) */
} ntg_role;

/* Description of one tensor of a plan, filled by ntg_plan_input/output/param.  `name`
 * belongs to the plan. */
typedef struct ntg_tensor_info {
    size_t size; /* sizeof(ntg_tensor_info), set by ntg_tensor_info_init */
    const char *name;
    ntg_dtype dtype;
    ntg_role role;
    int rank;
    int64_t shape[NTG_MAX_RANK]; /* shape[0] is the maximum batch when `batched` */
    int batched;                 /* 1 when the leading dimension is the batch */
    size_t nbytes;               /* bytes at the maximum batch */
} ntg_tensor_info;

/* Zero `info` and set info->size. */
NTG_API void ntg_tensor_info_init(ntg_tensor_info *info);

/* ------------------------------------------------------------------ plans */

typedef struct ntg_plan ntg_plan;

/* One `-D NAME=VALUE` hparam override; VALUE is an expression in the graph's
 * expression language (e.g. "24", "[2, 2, 1]", "5 * h"). */
typedef struct ntg_define {
    const char *name;
    const char *value;
} ntg_define;

/* Compile flags. */
#define NTG_COMPILE_INFER_ONLY 0x1u     /* leave out train_step and eval */
#define NTG_COMPILE_STRICT_WEIGHTS 0x2u /* unknown tensors in weights_path are an error */

typedef struct ntg_compile_options {
    size_t size;               /* sizeof(ntg_compile_options), set by ntg_compile_options_init */
    const ntg_define *defines; /* hparam overrides, applied in order */
    size_t n_defines;
    int max_batch;            /* maximum batch of the plan; 0 = the graph's default (256) */
    unsigned flags;           /* NTG_COMPILE_* */
    const char *weights_path; /* safetensors file whose tensors replace initial parameters
                                 (F32, the parameter's shape, every value finite) */
    uint64_t seed;            /* seed of the parameter initializers (default 0) */
    /* Overrides of the graph's `train:` settings (name = key such as "loss", "lr";
     * value = an expression, bare words allowed: {"loss", "mse"}).  Unknown keys are
     * NTG_ERR_INVALID_ARG. */
    const ntg_define *train;
    size_t n_train;
    /* Optional sink for warnings (e.g. weights tensors that match no parameter).
     * Called synchronously during compile; NULL discards them. */
    void (*warn)(void *user, const char *message);
    void *warn_user;
} ntg_compile_options;

/* Fill `opts` with the defaults. */
NTG_API void ntg_compile_options_init(ntg_compile_options *opts);

/* Compile the YAML graph file at `path` into a plan.  `opts` may be NULL for the
 * defaults.  Errors: NTG_ERR_IO, NTG_ERR_PARSE, NTG_ERR_GRAPH, NTG_ERR_SHAPE,
 * NTG_ERR_DATA (weights: a missing tensor, a NaN or inf value, naming the tensor),
 * NTG_ERR_NOMEM; the error names file:line:column. */
NTG_API ntg_status ntg_compile_file(const char *path, const ntg_compile_options *opts,
                                    ntg_plan **out, ntg_error *err);

/* Compile a graph held in memory.  `name` is used in error messages and to
 * resolve relative `extends:` paths (may be NULL: "<string>"). */
NTG_API ntg_status ntg_compile_string(const char *yaml, size_t len, const char *name,
                                      const ntg_compile_options *opts, ntg_plan **out,
                                      ntg_error *err);

/* Load a plan file by mapping it into memory (read-only, weights used in place).
 * Every offset, size and count is validated before use; a truncated (an empty file
 * included), corrupted or hostile file gives NTG_ERR_PLAN (or NTG_ERR_VERSION) naming the
 * section.  Errors: NTG_ERR_INVALID_ARG, NTG_ERR_IO (the file cannot be opened, is not a
 * regular file, cannot be mapped), NTG_ERR_PLAN, NTG_ERR_VERSION, NTG_ERR_NOMEM.
 *
 * WARNING: the plan reads the mapped file for as long as it lives.  The file must not be
 * rewritten in place meanwhile (truncated, or written over by open(O_TRUNC)/write): the
 * plan would see the new bytes, or the process would get SIGBUS on pages that no longer
 * exist.  Replacing it by rename (as ntg_plan_save, `ntgraph compile` and `ntgraph train`
 * do) is safe: the mapping keeps the old file.  Where another program may rewrite the file
 * in place, load it with NTG_LOAD_COPY. */
NTG_API ntg_status ntg_plan_load_file(const char *path, ntg_plan **out, ntg_error *err);

/* Load-file flags. */
#define NTG_LOAD_COPY                                                                              \
    0x2u /* read the file into memory the plan owns instead of mapping it: the file may then       \
            be changed or removed at any time (costs the file's size in private memory) */

/* ntg_plan_load_file with flags (0 or NTG_LOAD_COPY); unknown flags are
 * NTG_ERR_INVALID_ARG.  With NTG_LOAD_COPY a file that shrinks while it is read is
 * NTG_ERR_PLAN; one changed while it is read fails the checksums (NTG_ERR_PLAN). */
NTG_API ntg_status ntg_plan_load_file_ex(const char *path, unsigned flags, ntg_plan **out,
                                         ntg_error *err);

/* Load-memory flags. */
#define NTG_LOAD_BORROW                                                                            \
    0x1u /* use `data` in place (it must stay valid and unchanged for                              \
            the plan's lifetime and be 64-byte aligned); default: copy */

/* Load a plan from `size` bytes at `data`, validated as ntg_plan_load_file. */
NTG_API ntg_status ntg_plan_load_memory(const void *data, size_t size, unsigned flags,
                                        ntg_plan **out, ntg_error *err);

/* Write `plan` to `path` (through a temporary file renamed into place, so an
 * existing file is replaced whole or not at all).  Errors: NTG_ERR_INVALID_ARG,
 * NTG_ERR_IO (naming the path; the existing file is left untouched). */
NTG_API ntg_status ntg_plan_save(const ntg_plan *plan, const char *path, ntg_error *err);

/* Serialise `plan` into a new buffer (*data, *size) that the caller releases with
 * ntg_free().  Errors: NTG_ERR_INVALID_ARG, NTG_ERR_NOMEM. */
NTG_API ntg_status ntg_plan_serialize(const ntg_plan *plan, void **data, size_t *size,
                                      ntg_error *err);

/* Release a plan (unmapping its file).  Sessions of the plan must be destroyed first. */
NTG_API void ntg_plan_destroy(ntg_plan *plan);

/* Inputs and outputs of the `infer` program, in declaration order.  The counts and the
 * other value queries below never fail on a valid plan; they return 0 / NULL for a NULL
 * plan. */
NTG_API size_t ntg_plan_input_count(const ntg_plan *plan);
NTG_API size_t ntg_plan_output_count(const ntg_plan *plan);
/* Fill `info` (initialised with ntg_tensor_info_init) for input / output `index`.
 * Errors: NTG_ERR_INVALID_ARG (NULL plan or info, a bad info->size), NTG_ERR_RANGE (index
 * out of range, naming the count). */
NTG_API ntg_status ntg_plan_input(const ntg_plan *plan, size_t index, ntg_tensor_info *info,
                                  ntg_error *err);
NTG_API ntg_status ntg_plan_output(const ntg_plan *plan, size_t index, ntg_tensor_info *info,
                                   ntg_error *err);

/* Trainable parameters, in plan order (the order of the graph). */
NTG_API size_t ntg_plan_param_count(const ntg_plan *plan);
/* As ntg_plan_input, for parameter `index`. */
NTG_API ntg_status ntg_plan_param(const ntg_plan *plan, size_t index, ntg_tensor_info *info,
                                  ntg_error *err);
/* The stored values of parameter `index` (nbytes of data, 64-byte aligned, read-only;
 * valid while the plan lives), or NULL when out of range. */
NTG_API const void *ntg_plan_param_data(const ntg_plan *plan, size_t index);
/* Total number of parameter elements. */
NTG_API uint64_t ntg_plan_param_elements(const ntg_plan *plan);

/* Largest batch the plan was compiled for. */
NTG_API int ntg_plan_max_batch(const ntg_plan *plan);
/* Bytes of the activation arena at the maximum batch (all programs share it). */
NTG_API uint64_t ntg_plan_arena_bytes(const ntg_plan *plan);

/* Programs: "infer" always; "eval" (forward + loss), "grad" (+ backward, no update) and
 * "train_step" (+ optimizer update) unless compiled infer-only. */
NTG_API int ntg_plan_has_program(const ntg_plan *plan, const char *program);

/* Metadata: string key/value pairs ("model.name", "model.kind", "hparam.h", ...).
 * Returns the value or NULL when the key is absent. */
NTG_API const char *ntg_plan_meta(const ntg_plan *plan, const char *key);
NTG_API size_t ntg_plan_meta_count(const ntg_plan *plan);
/* Key and value of entry `index` (owned by the plan; key or value may be NULL when not
 * wanted).  Errors: NTG_ERR_INVALID_ARG (NULL plan), NTG_ERR_RANGE (index out of range,
 * naming the count). */
NTG_API ntg_status ntg_plan_meta_at(const ntg_plan *plan, size_t index, const char **key,
                                    const char **value, ntg_error *err);

/* --------------------------------------------------------------- sessions */

typedef struct ntg_session ntg_session;

/* Session flags. */
#define NTG_SESSION_TRAINABLE                                                                      \
    0x1u /* the session may run train_step: it keeps its own,                                      \
            writable copy of the parameters (and optimizer state) */

typedef struct ntg_session_options {
    size_t size;         /* sizeof(ntg_session_options), set by ntg_session_options_init */
    const char *backend; /* "cpu" (reference), "auto" (the fastest available); NULL = "auto" */
    int threads;         /* threads; 0 = the CPUs this process may use (online CPUs, its
                          * affinity mask and cgroup CPU quota: docs/cpu-backend.md) */
    int max_batch;       /* largest batch this session will run; 0 = the plan's maximum */
    unsigned flags;      /* NTG_SESSION_* */
} ntg_session_options;

/* Fill `opts` with the defaults. */
NTG_API void ntg_session_options_init(ntg_session_options *opts);

/* Create a session that runs `plan` (which must outlive it).  Allocates the
 * arena and everything later runs need (host backends reserve the arena and the
 * state as mappings whose pages are made on first touch, so a run at a small
 * batch uses memory for that batch; a session that is not trainable opens only
 * the infer program's part of the arena and no optimizer state, and shares what
 * the backend derives from the weights with the plan's other sessions:
 * docs/api.md, "What a session costs").  Errors: NTG_ERR_INVALID_ARG (unknown
 * backend, max_batch out of range), NTG_ERR_UNSUPPORTED (the backend cannot run
 * an op of the plan), NTG_ERR_NOMEM, NTG_ERR_BACKEND (the backend cannot run on
 * this machine, e.g. no device or driver, naming the reason; or the device failed). */
NTG_API ntg_status ntg_session_create(const ntg_plan *plan, const ntg_session_options *opts,
                                      ntg_session **out, ntg_error *err);

/* Release the session and everything it allocated. */
NTG_API void ntg_session_destroy(ntg_session *session);

/* Name of the backend the session runs on ("cpu", ...).  Static storage. */
NTG_API const char *ntg_session_backend(const ntg_session *session);
/* Worker threads the session's backend actually uses (the reference backend: 1). */
NTG_API int ntg_session_threads(const ntg_session *session);

/* Copy `count` float32 values into input `name` (the input of any program of the plan:
 * `x` for infer, also `t` for train_step/eval).  For a batched input of
 * per-window size n, `count` must be a multiple of n and at most max_batch * n;
 * the rows given are rows 0.. of the batch.  NTG_ERR_NOT_FOUND for an unknown
 * name, NTG_ERR_RANGE for a bad count. */
NTG_API ntg_status ntg_session_set_input(ntg_session *session, const char *name, const float *data,
                                         size_t count, ntg_error *err);

/* Run the `infer` program on the first `batch` rows.  Allocates nothing.
 * Errors: NTG_ERR_INVALID_ARG (NULL session), NTG_ERR_RANGE (batch < 1 or above the
 * session's maximum), NTG_ERR_BACKEND (a device failed).  Inputs not set since the
 * session was created hold zeros (or the values of an earlier run). */
NTG_API ntg_status ntg_session_run(ntg_session *session, int batch, ntg_error *err);

/* Run the named program ("infer", "eval", "grad", "train_step").  NTG_ERR_NOT_FOUND
 * when the plan does not have it; NTG_ERR_STATE for train_step on a session created
 * without NTG_SESSION_TRAINABLE.  train_step reads the input "train.ctl" = [learning
 * rate, step number (1 first), 0, 0]. */
NTG_API ntg_status ntg_session_run_program(ntg_session *session, const char *program, int batch,
                                           ntg_error *err);

/* Copy the first `count` float32 values of output `name` of the last program run into
 * `out`.  For a batched output `count` is at most batch * per-window size of the last run.
 * Errors: NTG_ERR_NOT_FOUND (no program has such an output), NTG_ERR_STATE (no run yet, or
 * the last program run does not compute that output: e.g. "y" after train_step, which
 * would otherwise be stale values), NTG_ERR_RANGE (count too large), NTG_ERR_BACKEND. */
NTG_API ntg_status ntg_session_get_output(ntg_session *session, const char *name, float *out,
                                          size_t count, ntg_error *err);

/* ------------------------------------------------------------ series data */

/* A table of time series read from CSV: rows in time order, one column per series
 * (docs/data.md describes the accepted files).  Immutable once loaded; may be shared
 * by threads. */
typedef struct ntg_series ntg_series;

typedef struct ntg_series_options {
    size_t size;       /* sizeof(ntg_series_options), set by ntg_series_options_init */
    int format;        /* 0 auto-detect, 1 wide (a date column + numeric columns),
                          2 long (unique_id, ds, y) */
    const char *fill;  /* empty or non-numeric cells: NULL or "error" (the default: an error
                          naming line and column), "zero", "ffill", "interpolate" */
    const char *dates; /* the date column: NULL or "strict" (the default: when the first
                          date is a time stamp, every date must be a valid one, later than
                          the row before; an error names the line), "loose" (as written) */
    /* Long format: the names of the series id, date and target columns (NULL:
     * NeuralForecast's unique_id, ds, y).  Any of them set with format 0 reads the file
     * as long. */
    const char *id_col, *date_col, *target;
} ntg_series_options;

NTG_API void ntg_series_options_init(ntg_series_options *opts);
/* Read a CSV file.  Errors: NTG_ERR_IO, NTG_ERR_PARSE (malformed CSV), NTG_ERR_DATA
 * (a bad cell or series), each naming file:line:column. */
NTG_API ntg_status ntg_series_load_csv(const char *path, const ntg_series_options *opts,
                                       ntg_series **out, ntg_error *err);
NTG_API void ntg_series_destroy(ntg_series *series);
NTG_API size_t ntg_series_rows(const ntg_series *series);
NTG_API size_t ntg_series_columns(const ntg_series *series);
/* Name of column `index` (owned by the series), or NULL when out of range. */
NTG_API const char *ntg_series_column_name(const ntg_series *series, size_t index);

/* Flags of ntg_series_create. */
#define NTG_SERIES_LOOSE_DATES 0x1u /* take the dates as given (the CSV reader's dates "loose") */

/* Build a series from memory (a live feed, a database query) instead of a CSV file:
 * n_cols columns of n_rows values each, oldest row first.  columns[c] points at the
 * n_rows values of column c, in original units, named names[c] (non-empty, unique).
 * dates is NULL or n_rows time stamps of the rows in the forms docs/data.md lists
 * ("2016-07-01 00:00:00", "2016-07-01", "1949-01", ...): when the first one is a time
 * stamp every one must be, each later than the one before, unless flags has
 * NTG_SERIES_LOOSE_DATES.  Everything is copied: the caller's arrays may be reused as soon
 * as the call returns; the series is released with ntg_series_destroy and is the same as
 * one read from a CSV file with those cells (ntg_forecast_series, ntg_train and
 * ntg_evaluate take it).  Errors: NTG_ERR_INVALID_ARG (a NULL array or name, no rows or no
 * columns, n_rows * n_cols past what memory can address, unknown flags), NTG_ERR_DATA (an
 * empty or repeated name, a NaN or infinite value, a bad date: each named by column and
 * 1-based row), NTG_ERR_NOMEM. */
NTG_API ntg_status ntg_series_create(size_t n_rows, size_t n_cols, const char *const *names,
                                     const double *const *columns, const char *const *dates,
                                     unsigned flags, ntg_series **out, ntg_error *err);

/* --------------------------------------------------------------- training */

/* Reported after every training step. */
/* ntg_train_options.progress's answer for a preemption: stop and checkpoint the last step. */
#define NTG_TRAIN_STOP_CHECKPOINT 2

typedef struct ntg_train_progress {
    size_t size;          /* sizeof(ntg_train_progress) of the library */
    long step, steps;     /* this step (1-based) and the total asked for */
    double train_loss;    /* this step's loss */
    double val_loss;      /* NaN unless this step validated */
    double best_val_loss; /* NaN before the first validation */
    long best_step;
    double lr;
    double windows_per_s; /* over this run so far */
    double elapsed_s;
    double grad_norm; /* this step's global gradient norm before clipping, when the plan
                         clips (train.clip > 0); NaN otherwise */
    int world;        /* processes that trained this step together: the data-parallel mesh's
                         world size at this step, 1 without one */
} ntg_train_progress;

/* A training checkpoint as the trainer hands it to ntg_train_options.checkpoint_put (and takes
 * it back from checkpoint_get to resume): byte blobs ("weights", "state", and "best" with
 * early stopping) and the key/value metadata a resume checks (step, counters, a fingerprint of
 * the plan, the run's settings). */
typedef struct ntg_train_checkpoint {
    size_t size; /* sizeof(ntg_train_checkpoint) of the library */
    long step;
    double train_loss; /* this step's loss */
    double val_loss;   /* NaN unless this step validated */
    size_t n_blobs;
    const char *const *blob_names;
    const void *const *blob_data;
    const size_t *blob_bytes;
    size_t n_meta;
    const char *const *meta; /* 2 * n_meta strings: key, value */
} ntg_train_checkpoint;

typedef struct ntg_train_options {
    size_t size;         /* sizeof(ntg_train_options), set by ntg_train_options_init */
    const char *columns; /* "C1,C2" (each at most once) or NULL / "all": every column, one
                            shared model */
    const char *split;   /* rows "8640,2880,2880" or fractions "0.7,0.1,0.2" (required) */
    /* Overrides of the plan's train.* settings: steps, batch, lr, lr_decays, val_every,
     * patience, seed, scaler, window_scaler (values as text, e.g. {"steps", "300"}). */
    const ntg_define *settings;
    size_t n_settings;
    const char *backend; /* as in ntg_session_options */
    int threads;
    const char *checkpoint_dir; /* NULL: no checkpoints */
    long checkpoint_every;      /* steps between checkpoints; 0: at every validation */
    int resume;                 /* continue from the newest checkpoint in checkpoint_dir */
    /* Called after every step (NULL: none); returning non-zero stops training early: 1 stops
     * there (checkpoints only as scheduled), NTG_TRAIN_STOP_CHECKPOINT also writes a checkpoint
     * of the last step (with checkpointing on), from which resume continues exactly. */
    int (*progress)(void *user, const ntg_train_progress *p);
    void *user;
    /* Checkpoints to a sink instead of checkpoint_dir (the model store uses this), called
     * where a checkpoint file would be written; the memory is the trainer's and valid during
     * the call.  A failure stops training with its status. */
    ntg_status (*checkpoint_put)(void *user, const ntg_train_checkpoint *ckpt, ntg_error *err);
    /* With resume: fill *ckpt with the newest checkpoint (step 0: none, start fresh); its
     * memory must stay valid until ntg_train returns.  On entry ckpt->meta holds this run's
     * configuration (the keys a resume checks: optimizer, columns, data, lr, ...), so a
     * source of several runs can pick a matching one. */
    ntg_status (*checkpoint_get)(void *user, ntg_train_checkpoint *ckpt, ntg_error *err);
    void *checkpoint_user;
    /* Fine-tuning (warm start): NULL, or a plan whose parameters training starts from instead
     * of `plan`'s initial ones (a trained plan, or a store version loaded as a plan).  Every
     * parameter of `plan` must be one of init's by name with the same type and shape, and
     * init may have no other: NTG_ERR_SHAPE names the first that is missing or differs.
     * init's fitted scaler is kept (the chosen columns must be among its columns, else
     * NTG_ERR_NOT_FOUND naming the column) unless refit_scaler is set or init has none; then
     * one is fitted on the train rows as usual.  The setting `steps` may be 0: the trained
     * plan is then init's parameters and scaler in `plan`. */
    const ntg_plan *init;
    int refit_scaler;
} ntg_train_options;

typedef struct ntg_train_report {
    size_t size;          /* sizeof(ntg_train_report), set by ntg_train_report_init */
    long steps;           /* the last step run */
    long resumed_from;    /* the checkpoint's step, 0 when not resumed */
    long best_step;       /* 0 without validation */
    double best_val_loss; /* NaN without validation */
    double final_train_loss;
    int stopped_early; /* patience ran out (the best weights were restored) */
    double seconds, windows_per_s;
} ntg_train_report;

NTG_API void ntg_train_options_init(ntg_train_options *opts);
/* Zero `report` and set report->size. */
NTG_API void ntg_train_report_init(ntg_train_report *report);

/* Train a plan compiled with training support on the series `data`: windows of
 * input_size + h rows (stride 1) of every chosen column, `batch` of them sampled per
 * step by a counter-based generator under `seed`; global z-score fitted on the train
 * rows; validation on the val split every val_every steps; early stopping after
 * `patience` validations without improvement, restoring the best weights.  On success
 * *trained is a new plan with the trained parameters and the fitted scaler in its
 * metadata (so forecasts take and return original units).  With the same seed,
 * backend and thread count the result is bitwise reproducible, also across a stop and
 * resume from a checkpoint.  Errors: NTG_ERR_STATE (no train_step program),
 * NTG_ERR_INVALID_ARG (bad settings, naming them; a column chosen twice; patience without
 * validation: val_every 0 or no validation rows), NTG_ERR_DATA
 * (too few rows for a window, a train or validation value the scaler cannot bring into
 * float32's range (docs/data.md), a bad checkpoint), NTG_ERR_IO, NTG_ERR_BACKEND.
 * `report` (may be NULL) is initialised with ntg_train_report_init. */
NTG_API ntg_status ntg_train(const ntg_plan *plan, const ntg_series *data,
                             const ntg_train_options *opts, ntg_plan **trained,
                             ntg_train_report *report, ntg_error *err);

/* ------------------------------------------------------------- evaluation */

/* Forecast accuracy.  mse and mae are on the globally scaled axis (the literature's
 * z-scored numbers); the rest in original units.  NaN when not computable. */
typedef struct ntg_scores {
    size_t size; /* sizeof(ntg_scores), set by ntg_scores_init */
    double mse, mae;
    double mse_orig, mae_orig;
    double mape, smape, mase; /* mape and smape in percent; mase against the seasonal
                                 naive forecast of the train rows */
    uint64_t n;               /* forecast points scored */
    /* Probabilistic scores (NaN for a plain point model; docs/training.md): */
    double coverage;         /* fraction of truths inside the forecast interval: quantile and
                                distribution models [lowest, highest level]; conformal plans
                                the widest stored level */
    double coverage_nominal; /* that interval's nominal level */
    double pinball;          /* mean pinball loss over the levels, z-scored axis */
    double crps;             /* mean CRPS, z-scored axis: closed form for normal/studentt heads,
                                2 x the mean pinball loss for quantile heads */
    /* Classification heads (train.loss xent; docs/training.md, "Classification heads"): the
     * scores of the class probabilities against the labels derived from the data, and of the
     * majority-class baseline (the train split's class frequencies); NaN for other models,
     * whose scores above are in turn NaN for a classifier (n counts the labels scored). */
    double accuracy, log_loss, brier;
    double base_accuracy, base_log_loss, base_brier;
} ntg_scores;

/* Zero `scores` and set scores->size. */
NTG_API void ntg_scores_init(ntg_scores *scores);

typedef struct ntg_eval_options {
    size_t size;         /* sizeof(ntg_eval_options), set by ntg_eval_options_init */
    const char *columns; /* as in ntg_train_options */
    const char *split;   /* required */
    const char *part;    /* "test" (default) or "val" */
    int seasonality;     /* MASE's m; 0: 1 (the naive forecast) */
    const char *backend;
    int threads;
} ntg_eval_options;

NTG_API void ntg_eval_options_init(ntg_eval_options *opts);
/* Rolling-origin evaluation over every window of the part (stride 1): each window's
 * point forecast (for quantile models the median, or the level train.point_quantile
 * names) against the truth.  Uses the plan's
 * fitted scaler, or fits the plan's scaler kind on the train rows of `data` when the
 * plan has none.  `overall` and every entry of per_column are initialised with
 * ntg_scores_init; per_column (may be NULL) receives up to n_per_column entries in the
 * order of the chosen columns.  Errors: NTG_ERR_DATA for values no float32 model can
 * take, a forecast that is not finite or scores that overflow (each named: docs/data.md,
 * "Values a model can take"), so no inf or nan is returned as a score;
 * NTG_ERR_INVALID_ARG for bad options or a column chosen twice. */
NTG_API ntg_status ntg_evaluate(const ntg_plan *plan, const ntg_series *data,
                                const ntg_eval_options *opts, ntg_scores *overall,
                                ntg_scores *per_column, size_t n_per_column, ntg_error *err);

/* Conformal prediction intervals for a point model (docs/training.md, "Conformal intervals"):
 * split conformal on the absolute residuals of every window of opts->part (default "val",
 * the calibration split; columns, split, backend, threads as ntg_evaluate's), per horizon
 * step, for each of the n_levels ascending levels in (0, 1).  *out is a copy of the plan with
 * the half-widths in its metadata (conformal.*); its forecasts (ntg_forecast_series, `run`)
 * and evaluations then carry the intervals as quantiles (1 - level) / 2 and (1 + level) / 2
 * around the point forecast.  Errors: NTG_ERR_INVALID_ARG (a quantile or distribution plan,
 * bad levels or options), NTG_ERR_DATA (too few calibration windows for a level: level a
 * needs a / (1 - a) of them; a forecast that is not finite). */
NTG_API ntg_status ntg_conformal_calibrate(const ntg_plan *plan, const ntg_series *data,
                                           const ntg_eval_options *opts, const double *levels,
                                           size_t n_levels, ntg_plan **out, ntg_error *err);

/* ------------------------------------------------------------ forecasting */

/* Forecasts of the next h steps of some columns of a series, in original units. */
typedef struct ntg_forecast ntg_forecast;

/* Forecast each chosen column (columns as in ntg_train_options) from its last
 * input_size rows.  opts may be NULL.  Errors as ntg_evaluate's: NTG_ERR_DATA for input
 * values no float32 model can take or a forecast that is not finite. */
NTG_API ntg_status ntg_forecast_series(const ntg_plan *plan, const ntg_series *data,
                                       const char *columns, const ntg_session_options *opts,
                                       ntg_forecast **out, ntg_error *err);
/* ntg_forecast_series for a plan trained with covariates (docs/data.md, "Covariates"): the
 * historic and static ones come from `data` and the plan, the future-known ones over the
 * horizon from `future`, in data's layout: for wide data a series whose first h rows hold
 * the plan's futr_exog columns for the h steps after data's last row (found by name; other
 * columns are ignored); for long data (a panel) a long series keyed by id and date holding,
 * for each forecast series, the rows at the h dates after that series' end (read it with
 * ntg_series_load_csv and a target column, any values).  `future` may be NULL when the plan has no
 * future covariates or only calendar features (computed from data's dates continued by its step).
 * NTG_ERR_DATA names a missing column or row
 * ("future covariates: column 'temp' has 3 rows, the horizon needs 24 (row 4 is
 * missing)"). */
NTG_API ntg_status ntg_forecast_series_exog(const ntg_plan *plan, const ntg_series *data,
                                            const ntg_series *future, const char *columns,
                                            const ntg_session_options *opts, ntg_forecast **out,
                                            ntg_error *err);
NTG_API void ntg_forecast_destroy(ntg_forecast *f);
NTG_API size_t ntg_forecast_columns(const ntg_forecast *f);
NTG_API size_t ntg_forecast_horizon(const ntg_forecast *f);
/* Quantile levels of a quantile model, or 0 for a point model.  Level 0 is the point
 * forecast (the median unless the graph's train.point_quantile names another level), the
 * others follow ascending: [0.5, 0.1, 0.9] for quantiles [0.1, 0.5, 0.9]. */
NTG_API size_t ntg_forecast_quantiles(const ntg_forecast *f);
NTG_API double ntg_forecast_quantile_level(const ntg_forecast *f, size_t q);
NTG_API const char *ntg_forecast_column_name(const ntg_forecast *f, size_t column);
/* The forecast of `column` at step `step` (0-based) for quantile q (0: the point forecast,
 * of point and quantile models alike), or NaN when out of range. */
NTG_API double ntg_forecast_value(const ntg_forecast *f, size_t column, size_t step, size_t q);
/* Classes of a classification head's forecast (2 or 3; docs/training.md), 0 for any other
 * model.  Then ntg_forecast_value(f, column, step, k) is the probability of class k (0 down,
 * 1 up; with 3 classes 0 down, 1 flat, 2 up) and ntg_forecast_quantiles is 0. */
NTG_API size_t ntg_forecast_classes(const ntg_forecast *f);
/* The date of forecast step `step`, continuing the series' dates (of column 0, for a
 * forecast of windows); NULL without dates. */
NTG_API const char *ntg_forecast_date(const ntg_forecast *f, size_t step);
/* The date of step `step` of column `column` (of window `column` for ntg_forecaster_run,
 * continuing its time stamps); NULL without dates or when out of range. */
NTG_API const char *ntg_forecast_column_date(const ntg_forecast *f, size_t column, size_t step);

/* ------------------------------------------- forecasting from memory */

/*
 * A program with its history in memory (a live feed) forecasts with a forecaster: a plan
 * bound to a session, plus the plan's fitted scaler, reused from call to call.  Each call
 * takes one or many windows, each the recent values of one series in original units, and
 * returns the next h values of each in original units (and the quantiles of a quantile
 * model) as an ntg_forecast: the numbers `ntgraph run --data` and ntg_forecast_series give
 * for a series ending with the same values.
 */

/* One covariate of a window (docs/api.md, "Covariates"), found by `name` among the plan's
 * (ntg_plan_meta "exog.hist", "exog.futr", "exog.static_names"), in original units: the
 * forecaster normalizes it as in training.  Initialise with ntg_covariate_init, which sets
 * `size` (read as ntg_window's is; an array is stepped through by its first entry's size).
 *   historic (hist_exog)     values aligned with the window's: they end at its last value,
 *                            n_values >= input_size (the last input_size are read)
 *   future-known (futr_exog) they end at the horizon's last step: the window's steps and the
 *                            h after, n_values >= input_size + h (the last ones are read)
 *   static (stat_exog)       n_values == 1
 * Calendar features ("calendar:hour_of_day") are not given: they come from the window's
 * timestamps, continued over the horizon. */
typedef struct ntg_covariate {
    size_t size; /* sizeof(ntg_covariate), set by ntg_covariate_init */
    const char *name;
    const double *values;
    size_t n_values;
} ntg_covariate;

/* Zero `c` and set c->size. */
NTG_API void ntg_covariate_init(ntg_covariate *c);

/* One window: the most recent values of one series.  Initialise with ntg_window_init,
 * which sets `size`; the library reads `size` to know which fields the caller has (and
 * steps through an array by it), so fields can be added without breaking programs
 * compiled against this header. */
typedef struct ntg_window {
    size_t size;                     /* sizeof(ntg_window), set by ntg_window_init */
    const char *column;              /* the series: its name picks the column of the plan's fitted
                                        scaler (NULL: the scaler's only column; without a scaler any
                                        name, or NULL for "") and names the forecast's column */
    const double *values;            /* n_values values, oldest first, original units */
    size_t n_values;                 /* at least the plan's input_size; the last input_size
                                        values are the model's input and must be finite */
    const char *const *timestamps;   /* NULL, or n_values time stamps of the values (as
                                        ntg_series_create takes them): the forecast's
                                        dates continue them */
    const ntg_covariate *covariates; /* n_covariates covariates of a plan that takes them
                                        (hist_exog, futr_exog, stat_exog): every historic and
                                        future-known one the plan names, except calendar
                                        features; static ones may be left out when the plan's
                                        static table has a row for `column` */
    size_t n_covariates;
} ntg_window;

/* Zero `w` and set w->size. */
NTG_API void ntg_window_init(ntg_window *w);

typedef struct ntg_forecaster ntg_forecaster;

/* A forecaster for `plan` (which must outlive it): a session created with `opts` (NULL:
 * the defaults; opts->max_batch bounds the windows run at once, more are run in turns, so
 * max_batch 1 gives the smallest memory) and the plan's fitted scaler.  A plan without a
 * fitted scaler (not trained by ntgraph) sees the values as they are: see
 * ntg_forecaster_scaled.  A plan with covariates takes them with each window
 * (ntg_window.covariates).  Used by one thread at a time.  Errors: those of
 * ntg_session_create; NTG_ERR_SHAPE (not a forecasting plan: x [batch, input_size] to y
 * [batch, h]); NTG_ERR_DATA (the plan's scaler or covariate metadata is malformed). */
NTG_API ntg_status ntg_forecaster_create(const ntg_plan *plan, const ntg_session_options *opts,
                                         ntg_forecaster **out, ntg_error *err);
/* NULL is a no-op. */
NTG_API void ntg_forecaster_destroy(ntg_forecaster *f);
/* Values of a window the model reads (input_size) and steps it forecasts (h). */
NTG_API size_t ntg_forecaster_input_size(const ntg_forecaster *f);
NTG_API size_t ntg_forecaster_horizon(const ntg_forecaster *f);
/* 1 when the plan carries a fitted scaler (windows are scaled with it and forecasts
 * mapped back), 0 when the values reach the model unscaled (a plan that was compiled but
 * not trained, or recompiled from weights that carried no scaler). */
NTG_API int ntg_forecaster_scaled(const ntg_forecaster *f);

/* Forecast n >= 1 windows (an array of ntg_window, each initialised with ntg_window_init).
 * *out receives a new forecast (release with ntg_forecast_destroy) whose column j is
 * window j: ntg_forecast_column_name is its `column`, ntg_forecast_value its forecast in
 * original units, ntg_forecast_column_date its dates when it has time stamps.  Windows of
 * the same column may appear any number of times.  Errors: NTG_ERR_INVALID_ARG (NULL
 * arguments, n 0, a window whose size field is not from ntg_window_init, a window without
 * a column name where the scaler has several), NTG_ERR_NOT_FOUND (a column the plan's
 * scaler was not fitted on, naming it), NTG_ERR_DATA (too few values, a NaN or infinite
 * value, a value the scaler takes past float32's range, bad time stamps, a forecast that is
 * not finite: each naming the window by index and column; for a plan with covariates a
 * missing covariate, too few or non-finite covariate values, a calendar feature without
 * time stamps, each naming the window and the covariate), NTG_ERR_INVALID_ARG (a
 * covariate the plan does not take, one given twice, or a calendar one given), NTG_ERR_NOMEM,
 * NTG_ERR_BACKEND.  On error *out is NULL. */
NTG_API ntg_status ntg_forecaster_run(ntg_forecaster *f, const ntg_window *windows, size_t n,
                                      ntg_forecast **out, ntg_error *err);

/* One call: create a forecaster, run it on the windows, destroy it. */
NTG_API ntg_status ntg_forecast_windows(const ntg_plan *plan, const ntg_window *windows, size_t n,
                                        const ntg_session_options *opts, ntg_forecast **out,
                                        ntg_error *err);

/* ------------------------------------------------------------ model store */

/*
 * A model store is one RocksDB database (a directory) holding models, their numbered versions
 * (plan, weights, hparams, metrics, lineage), aliases, tags and training checkpoints.
 * Weights are stored content-addressed in chunks, so a version that changes one tensor
 * stores only that tensor.  Every commit is one synced RocksDB write batch after its chunks
 * are durable: a crash leaves the previous state or the complete new one.  docs/store.md
 * describes the layout and the guarantees.
 *
 * References name a version: "NAME" (its latest), "NAME@7" (version 7), "NAME@champion"
 * (an alias).  Model names are 1..128 of [A-Za-z0-9_.-] starting with a letter, digit or
 * '_'; aliases 1..64 of [A-Za-z0-9_.-] starting with a letter or '_'; "latest" is kept by
 * the store and cannot be set.  Times are milliseconds since 1970 (UTC).
 *
 * One writer at a time per store (RocksDB's lock); any number of readers
 * (NTG_STORE_OPEN_READONLY, also while a writer commits) see consistent states.  A handle is
 * used by one thread at a time.  Builds without RocksDB return NTG_ERR_UNSUPPORTED.
 */
typedef struct ntg_store ntg_store;

#define NTG_STORE_OPEN_READONLY 0x1u  /* a reader: never writes; works while a writer runs */
#define NTG_STORE_OPEN_NO_CREATE 0x2u /* a missing store is NTG_ERR_NOT_FOUND, not created */
/* Checkpoint blobs of 4 MiB or more are read into anonymous memory instead of mapped from their
 * chunk files (see ntg_store_get_checkpoint). */
#define NTG_STORE_OPEN_NO_MAP 0x4u

typedef struct ntg_store_options {
    size_t size;      /* sizeof(ntg_store_options), set by ntg_store_options_init */
    unsigned flags;   /* NTG_STORE_OPEN_* */
    int lock_wait_ms; /* writers: wait this long for another writer to close (default 10000) */
} ntg_store_options;

NTG_API void ntg_store_options_init(ntg_store_options *opts);
/* Open (or create) the store at directory `path`; opts may be NULL.  A directory that holds
 * something else (files, another RocksDB database) is refused untouched: NTG_ERR_DATA.
 * Errors: NTG_ERR_NOT_FOUND (no store, with NO_CREATE or READONLY), NTG_ERR_STATE (another
 * writer holds the store), NTG_ERR_DATA (corrupted or foreign), NTG_ERR_IO. */
NTG_API ntg_status ntg_store_open(const char *path, const ntg_store_options *opts, ntg_store **out,
                                  ntg_error *err);
/* Close; NULL is a no-op. */
NTG_API void ntg_store_close(ntg_store *store);
/* Readers: see what writers committed since the store was opened. */
NTG_API ntg_status ntg_store_refresh(ntg_store *store, ntg_error *err);

typedef struct ntg_store_metric {
    const char *name;
    double value;
} ntg_store_metric;

#define NTG_STORE_PARENT_LATEST (-1) /* ntg_store_put_options.parent: the model's latest */

typedef struct ntg_store_put_options {
    size_t size;             /* sizeof(ntg_store_put_options), set by ntg_store_put_options_init */
    const char *kind;        /* NULL: the plan's model.kind */
    const char *description; /* free text (NULL: none) */
    int64_t parent;          /* lineage: NTG_STORE_PARENT_LATEST (default), 0 none, or a version */
    const ntg_store_metric *metrics; /* also every numeric trained.* entry of the plan's metadata */
    size_t n_metrics;
    const ntg_define *tags; /* key=value tags of the new version */
    size_t n_tags;
    const char *const *aliases; /* aliases moved to the new version ("latest" always moves) */
    size_t n_aliases;
    const char *data_sha256; /* training data: hex SHA-256 of the CSV bytes (NULL: unknown) */
    const char *data_split;  /* the split rows it was trained with, "8640,2880,2880" */
} ntg_store_put_options;

NTG_API void ntg_store_put_options_init(ntg_store_put_options *opts);
/* Store `plan` as the next version of model `name` (created if new); *version receives its
 * number once the commit is durable.  Errors: NTG_ERR_INVALID_ARG (bad name, alias, tag,
 * parent), NTG_ERR_STATE (a reader handle), NTG_ERR_IO, NTG_ERR_NOMEM. */
NTG_API ntg_status ntg_store_put(ntg_store *store, const char *name, const ntg_plan *plan,
                                 const ntg_store_put_options *opts, uint64_t *version,
                                 ntg_error *err);
/* A new version of `name` whose weights are the parameters of the safetensors file at `path`
 * (matched by name; dtype F32, shapes equal; parameters the file lacks keep their values) on
 * the plan of the model's latest version.  Errors as ntg_store_put, and NTG_ERR_NOT_FOUND (no
 * such model), NTG_ERR_DATA (a tensor that does not fit, naming it). */
NTG_API ntg_status ntg_store_put_safetensors(ntg_store *store, const char *name, const char *path,
                                             const ntg_store_put_options *opts, uint64_t *version,
                                             ntg_error *err);

/* The plan of version `ref`, bit-exact as it was put (for a plan put whole).  Errors:
 * NTG_ERR_NOT_FOUND (unknown model, version or alias, naming what exists),
 * NTG_ERR_INVALID_ARG (a malformed reference), NTG_ERR_DATA (corrupted chunks). */
NTG_API ntg_status ntg_store_get_plan(ntg_store *store, const char *ref, ntg_plan **out,
                                      ntg_error *err);
/* The version number `ref` names. */
NTG_API ntg_status ntg_store_resolve(ntg_store *store, const char *ref, uint64_t *version,
                                     ntg_error *err);

/* One tensor of a version's weight manifest. */
typedef struct ntg_store_tensor {
    const char *name;
    ntg_role role; /* NTG_ROLE_PARAM or NTG_ROLE_CONST */
    int rank;
    int64_t shape[NTG_MAX_RANK];
    uint64_t nbytes;
    const char *hash; /* hex content hash: BLAKE3-256 of its bytes (of its chunk list above
                       * 8 MiB) in format-2 stores, BLAKE2b-256 in format 1 (docs/store.md) */
} ntg_store_tensor;

/* A version as listings return it; strings and arrays belong to the list. */
typedef struct ntg_store_version {
    size_t size; /* sizeof(ntg_store_version) of the library */
    const char *name;
    uint64_t version;
    const char *kind;
    const char *description;
    int64_t created_ms;
    uint64_t parent;       /* 0: none */
    const char *plan_hash; /* hex BLAKE3-256 (format 2) or BLAKE2b-256 (format 1) of the plan */
    uint64_t plan_bytes;
    uint64_t param_elements;
    uint64_t weight_bytes;                /* bytes of the tensors of the manifest */
    const char *data_sha256, *data_split; /* "" when unknown */
    const ntg_store_metric *metrics;
    size_t n_metrics;
    const ntg_define *hparams; /* the plan's hparam.* entries, name without the prefix */
    size_t n_hparams;
    const ntg_define *tags; /* of this version */
    size_t n_tags;
    const ntg_define *model_tags;
    size_t n_model_tags;
    const char *const *aliases; /* pointing here, "latest" included */
    size_t n_aliases;
    uint64_t model_versions;       /* versions the model has */
    const char *model_description; /* the graph's description, from the newest version */
    int64_t model_created_ms;
    double score;                    /* ntg_store_similar: cosine similarity; NaN elsewhere */
    const ntg_store_tensor *tensors; /* ntg_store_show only (NULL elsewhere) */
    size_t n_tensors;
} ntg_store_version;

typedef struct ntg_store_list ntg_store_list;
NTG_API size_t ntg_store_list_count(const ntg_store_list *list);
NTG_API const ntg_store_version *ntg_store_list_at(const ntg_store_list *list, size_t i);
NTG_API void ntg_store_list_destroy(ntg_store_list *list);

/* Filters: every condition given must hold (zero/NULL fields are not conditions). */
typedef struct ntg_store_filter {
    size_t size;             /* sizeof(ntg_store_filter), set by ntg_store_filter_init */
    const char *name;        /* exactly this model */
    const char *name_prefix; /* models whose name starts so */
    const char *kind;
    const ntg_define *tags; /* key=value, on the version or on its model (through the index) */
    size_t n_tags;
    const char *alias;                /* versions this alias points at */
    uint64_t min_params, max_params;  /* parameter elements, inclusive (max 0: no bound) */
    int64_t created_from, created_to; /* ms, inclusive (0: no bound) */
    int all_versions; /* 0: the newest matching version of each model; 1: every match */
} ntg_store_filter;

NTG_API void ntg_store_filter_init(ntg_store_filter *f);
/* Versions that match `f` (NULL: everything), by name then version. */
NTG_API ntg_status ntg_store_list_versions(ntg_store *store, const ntg_store_filter *f,
                                           ntg_store_list **out, ntg_error *err);
/* One version with its weight manifest. */
NTG_API ntg_status ntg_store_show(ntg_store *store, const char *ref, ntg_store_list **out,
                                  ntg_error *err);
/* The `k` versions most similar to `ref` (itself excluded) among those matching `f`, by
 * exact cosine similarity of their embeddings (docs/store.md), most similar first. */
NTG_API ntg_status ntg_store_similar(ntg_store *store, const char *ref, const ntg_store_filter *f,
                                     size_t k, ntg_store_list **out, ntg_error *err);
/* The same for a plan that need not be stored. */
NTG_API ntg_status ntg_store_similar_plan(ntg_store *store, const ntg_plan *plan,
                                          const ntg_store_filter *f, size_t k, ntg_store_list **out,
                                          ntg_error *err);

/* Set tag key=value on a version ("NAME@REF") or a model ("NAME"); value NULL removes it. */
NTG_API ntg_status ntg_store_tag(ntg_store *store, const char *ref, const char *key,
                                 const char *value, ntg_error *err);
/* Point alias `alias` of the model at the version `ref` names. */
NTG_API ntg_status ntg_store_alias_set(ntg_store *store, const char *ref, const char *alias,
                                       ntg_error *err);
NTG_API ntg_status ntg_store_alias_remove(ntg_store *store, const char *name, const char *alias,
                                          ntg_error *err);

/* Training checkpoints: named byte blobs (weights, optimizer state, ...) with the step,
 * losses, metrics and the metadata a resume checks. */
typedef struct ntg_store_blob {
    const char *name;
    const void *data; /* NULL in listings */
    uint64_t nbytes;
} ntg_store_blob;

typedef struct ntg_store_checkpoint {
    size_t size; /* sizeof(ntg_store_checkpoint): ntg_store_checkpoint_init, or the library's */
    uint64_t id; /* per model, from 1 (set by the store) */
    int64_t created_ms; /* set by the store */
    long step;
    double train_loss, val_loss; /* NaN when unknown */
    const ntg_store_metric *metrics;
    size_t n_metrics;
    const ntg_define *meta;
    size_t n_meta;
    const ntg_store_blob *blobs;
    size_t n_blobs;
} ntg_store_checkpoint;

/* Zero `ckpt` (train_loss and val_loss NaN) and set ckpt->size. */
NTG_API void ntg_store_checkpoint_init(ntg_store_checkpoint *ckpt);

/* Commit a checkpoint of model `name` (created if new) and keep only the newest `keep` of its
 * run (0: all): the checkpoints whose metadata "run" has the same value (those without one are
 * one run).  Pruned checkpoints' chunks that nothing else uses are deleted in the same commit.
 * *id receives its id.  `ckpt` is initialised with ntg_store_checkpoint_init. */
NTG_API ntg_status ntg_store_put_checkpoint(ntg_store *store, const char *name,
                                            const ntg_store_checkpoint *ckpt, unsigned keep,
                                            uint64_t *id, ntg_error *err);

typedef struct ntg_store_ckpts ntg_store_ckpts;
/* The checkpoints of a model, oldest first, without blob data. */
NTG_API ntg_status ntg_store_checkpoints(ntg_store *store, const char *name, ntg_store_ckpts **out,
                                         ntg_error *err);
/* Checkpoint `id` (0: the newest) with its blobs loaded; NTG_ERR_NOT_FOUND when none.  Blob
 * data stay valid until the result is destroyed (ntg_store_ckpts_destroy frees everything).  In
 * a format-3 store a blob of 4 MiB or more is the store's chunk files mapped read-only (checked
 * when mapped: size and CRC32C, as a read) rather than a copy: no copy and no fresh memory.  The
 * store never changes a chunk file once it is named, and removing it keeps a mapped one alive;
 * as with any mapping, a disk that fails to read back a page the kernel dropped under memory
 * pressure, or someone else truncating the file, raises SIGBUS on access.  Open with
 * NTG_STORE_OPEN_NO_MAP to have every blob copied into memory of the result's own. */
NTG_API ntg_status ntg_store_get_checkpoint(ntg_store *store, const char *name, uint64_t id,
                                            ntg_store_ckpts **out, ntg_error *err);
/* The same into the memory of an earlier result: *inout is NULL (a new result is made) or a
 * result of ntg_store_get_checkpoint or of this function, whose blob buffers are reused for
 * blobs of the same sizes that are read, not mapped (memory already touched: no fresh pages, the
 * cost of most of a read into new memory); mapped blobs are mapped anew, which costs less.  Every
 * pointer into the earlier result is invalid after the call.  On an error *inout is destroyed and
 * set to NULL. */
NTG_API ntg_status ntg_store_get_checkpoint_into(ntg_store *store, const char *name, uint64_t id,
                                                 ntg_store_ckpts **inout, ntg_error *err);
NTG_API size_t ntg_store_ckpts_count(const ntg_store_ckpts *c);
NTG_API const ntg_store_checkpoint *ntg_store_ckpts_at(const ntg_store_ckpts *c, size_t i);
NTG_API void ntg_store_ckpts_destroy(ntg_store_ckpts *c);

/* Maintenance. */
typedef struct ntg_store_gc_report {
    size_t size;                            /* set by ntg_store_gc_report_init */
    uint64_t chunks_removed, bytes_removed; /* unreferenced chunks deleted */
    uint64_t chunks_kept, bytes_kept;
} ntg_store_gc_report;

NTG_API void ntg_store_gc_report_init(ntg_store_gc_report *report);

/* Delete every chunk no version or checkpoint references (crash leftovers, pruned
 * checkpoints) and compact so their space is freed.  `report` (may be NULL) is initialised
 * with ntg_store_gc_report_init. */
NTG_API ntg_status ntg_store_gc(ntg_store *store, ntg_store_gc_report *report, ntg_error *err);
/* A consistent copy of the whole store in directory `dir`, which must not exist (a RocksDB
 * checkpoint: hard links where the file system allows). */
NTG_API ntg_status ntg_store_backup(ntg_store *store, const char *dir, ntg_error *err);

typedef struct ntg_store_verify_report {
    size_t size; /* set by ntg_store_verify_report_init */
    uint64_t versions, checkpoints;
    uint64_t chunks, bytes; /* chunks re-read and hashed */
    uint64_t bad;           /* missing or corrupted chunks, broken records */
    uint64_t orphans;       /* chunks nothing references (gc removes them) */
    char first_problem[512];
} ntg_store_verify_report;

NTG_API void ntg_store_verify_report_init(ntg_store_verify_report *report);

/* Re-read every chunk and check every hash and record.  NTG_ERR_DATA (naming the first
 * problem) when anything is missing or corrupted; orphans alone are not an error.  `report`
 * (may be NULL) is initialised with ntg_store_verify_report_init. */
NTG_API ntg_status ntg_store_verify(ntg_store *store, ntg_store_verify_report *report,
                                    ntg_error *err);

typedef struct ntg_store_stats {
    size_t size; /* set by ntg_store_stats_init */
    uint64_t models, versions, checkpoints, commits;
    uint64_t chunks, chunk_bytes;   /* distinct chunks and their bytes (deduplicated) */
    uint64_t sst_bytes, blob_bytes; /* RocksDB's live files; blob: with chunk files */
} ntg_store_stats;

NTG_API void ntg_store_stats_init(ntg_store_stats *stats);
/* Counts and sizes of the store into `stats` (initialised with ntg_store_stats_init). */

NTG_API ntg_status ntg_store_stats_get(ntg_store *store, ntg_store_stats *stats, ntg_error *err);

/* Training into a store: checkpoints of ntg_train go to model `name` of the store at `path`
 * (opened for each checkpoint, so other writers can use the store between them), keeping the
 * newest `keep` of this run (0: all), and resume (opts->resume) continues a run's newest
 * checkpoint (ntg_store_trainer_set_run says which).
 * Sets opts->checkpoint_put, checkpoint_get and checkpoint_user; the trainer must outlive the
 * ntg_train call. */
typedef struct ntg_store_trainer ntg_store_trainer;
NTG_API ntg_status ntg_store_trainer_create(const char *path, const char *name, unsigned keep,
                                            ntg_train_options *opts, ntg_store_trainer **out,
                                            ntg_error *err);
/* Register the trained plan as the model's next version: metrics from the report (final
 * training loss, best validation loss), lineage (the version that was latest when the run
 * started), the tag train.run=ID, the data fingerprint
 * (SHA-256 of the CSV file at data_path, and the split); then collect the chunks of pruned
 * checkpoints. */
NTG_API ntg_status ntg_store_trainer_register(ntg_store_trainer *t, const ntg_plan *trained,
                                              const ntg_train_report *report, const char *data_path,
                                              const char *split, uint64_t *version, ntg_error *err);
/* The run's id ("r" and 16 hex digits, or the one set_run chose): each checkpoint carries it
 * (metadata "run"), pruning keeps the newest `keep` of this run only, and the registered
 * version is tagged train.run=ID with the version that was latest when the run started as its
 * parent.  Never NULL. */
NTG_API const char *ntg_store_trainer_run(const ntg_store_trainer *t);
/* Continue run `run` (with opts->resume): its newest checkpoint, under the same id.  Without
 * it, resume continues the newest checkpoint of a run that has not finished (an older
 * unfinished run is superseded; set_run still reaches it).  NTG_ERR_INVALID_ARG for a
 * malformed id; ntg_train fails with NTG_ERR_NOT_FOUND when the run has no checkpoint. */
NTG_API ntg_status ntg_store_trainer_set_run(ntg_store_trainer *t, const char *run, ntg_error *err);
/* NULL is a no-op. */
NTG_API void ntg_store_trainer_destroy(ntg_store_trainer *t);

/* Hex SHA-256 of a file's bytes (65 chars with the NUL): training-data fingerprints. */
NTG_API ntg_status ntg_store_sha256_file(const char *path, char hex[65], ntg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* NTGRAPH_H */
