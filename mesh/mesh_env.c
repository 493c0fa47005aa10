/* mesh_env.c — rank, world and rendezvous from launcher environments; Slurm hostlists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"
#include "mesh.h"
#include "mesh_proto.h"

extern char **environ;

/* ---------------------------------------------------------------- hostlists */

#define HL_MAX_HOSTS 10000000ull /* more hosts than any cluster: a hostile or broken list */
#define HL_MAX_GROUPS 16         /* bracket groups in one host pattern */

static int hl_text_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* Parse one number of a bracket range at s (digits only, at most 9); returns its length. */
static size_t hl_number(const char *s, const char *end, unsigned long *v)
{
    size_t n = 0;
    *v = 0;
    while (s + n < end && s[n] >= '0' && s[n] <= '9' && n < 10) {
        *v = *v * 10 + (unsigned long)(s[n] - '0');
        n++;
    }
    return n;
}

/* Check the bracket body [s, e) ("01-04,07") and count its values. */
static ntg_status hl_bracket(const char *list, const char *s, const char *e, uint64_t *count,
                             ntg_error *err)
{
    *count = 0;
    const char *p = s;
    for (;;) {
        unsigned long lo, hi;
        size_t n = hl_number(p, e, &lo);
        if (n == 0 || n > 9)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "hostlist '%.200s': a number of 1..9 digits expected at column %zu",
                             list, (size_t)(p - list) + 1);
        p += n;
        hi = lo;
        if (p < e && *p == '-') {
            p++;
            n = hl_number(p, e, &hi);
            if (n == 0 || n > 9)
                return ntg__fail(
                    err, NTG_ERR_INVALID_ARG,
                    "hostlist '%.200s': a number of 1..9 digits expected at column %zu", list,
                    (size_t)(p - list) + 1);
            p += n;
            if (hi < lo)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "hostlist '%.200s': range %lu-%lu runs backwards (column %zu)",
                                 list, lo, hi, (size_t)(p - list));
        }
        *count += hi - lo + 1;
        if (p == e) return NTG_OK;
        if (*p != ',')
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "hostlist '%.200s': ',' or ']' expected at column %zu", list,
                             (size_t)(p - list) + 1);
        p++;
    }
}

/* The value at `index` of a checked bracket body, and the digits to pad it to. */
static void hl_bracket_value(const char *s, const char *e, uint64_t index, unsigned long *value,
                             int *width)
{
    const char *p = s;
    for (;;) {
        unsigned long lo, hi;
        size_t n = hl_number(p, e, &lo);
        /* Slurm pads to the width of the range's first number when it has a leading zero */
        *width = (n > 1 && p[0] == '0') ? (int)n : 0;
        p += n;
        hi = lo;
        if (p < e && *p == '-') {
            p++;
            p += hl_number(p, e, &hi);
        }
        uint64_t size = hi - lo + 1;
        if (index < size) {
            *value = lo + (unsigned long)index;
            return;
        }
        index -= size;
        if (p >= e) return;
        p++;
    }
}

/* Check the pattern [s, e) and count its hosts; fills group bodies for hl_pattern_nth. */
static ntg_status hl_pattern(const char *list, const char *s, const char *e, uint64_t *count,
                             ntg_error *err)
{
    if (s == e)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "hostlist '%.200s': empty host at column %zu",
                         list, (size_t)(s - list) + 1);
    uint64_t total = 1;
    int groups = 0;
    for (const char *p = s; p < e;) {
        if (*p == '[') {
            const char *rb = p + 1;
            while (rb < e && *rb != ']' && *rb != '[') rb++;
            if (rb >= e || *rb != ']')
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "hostlist '%.200s': '[' at column %zu is not closed", list,
                                 (size_t)(p - list) + 1);
            if (++groups > HL_MAX_GROUPS)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "hostlist '%.200s': more than %d bracket groups in one host", list,
                                 HL_MAX_GROUPS);
            uint64_t c;
            ntg_status st = hl_bracket(list, p + 1, rb, &c, err);
            if (st) return st;
            if (c > HL_MAX_HOSTS || total * c > HL_MAX_HOSTS)
                return ntg__fail(err, NTG_ERR_INVALID_ARG,
                                 "hostlist '%.200s': more than %llu hosts", list, HL_MAX_HOSTS);
            total *= c;
            p = rb + 1;
        } else if (hl_text_char(*p)) {
            p++;
        } else {
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "hostlist '%.200s': unexpected '%c' at column %zu", list, *p,
                             (size_t)(p - list) + 1);
        }
    }
    *count = total;
    return NTG_OK;
}

/* Host `index` of a checked pattern; the first bracket group varies slowest. */
static ntg_status hl_pattern_nth(const char *s, const char *e, uint64_t index, char *out,
                                 size_t cap, ntg_error *err)
{
    const char *gs[HL_MAX_GROUPS], *ge[HL_MAX_GROUPS];
    uint64_t gc[HL_MAX_GROUPS], digit[HL_MAX_GROUPS];
    int ng = 0;
    for (const char *p = s; p < e; p++)
        if (*p == '[') {
            gs[ng] = p + 1;
            ge[ng] = strchr(p, ']');
            hl_bracket(s, gs[ng], ge[ng], &gc[ng], NULL);
            p = ge[ng];
            ng++;
        }
    for (int g = ng - 1; g >= 0; g--) {
        digit[g] = index % gc[g];
        index /= gc[g];
    }
    size_t used = 0;
    int g = 0;
    for (const char *p = s; p < e; p++) {
        char piece[32];
        size_t n;
        if (*p == '[') {
            unsigned long v = 0;
            int width = 0;
            hl_bracket_value(gs[g], ge[g], digit[g], &v, &width);
            n = (size_t)snprintf(piece, sizeof piece, "%0*lu", width, v);
            p = ge[g];
            g++;
        } else {
            piece[0] = *p;
            n = 1;
        }
        if (used + n >= cap)
            return ntg__fail(err, NTG_ERR_RANGE, "a host name longer than %zu bytes", cap - 1);
        memcpy(out + used, piece, n);
        used += n;
    }
    out[used] = '\0';
    return NTG_OK;
}

/* Next top-level item of the list from *pos: [*s, *e). 0 when there is none. */
static int hl_next(const char *list, size_t *pos, const char **s, const char **e)
{
    size_t n = strlen(list);
    if (*pos > n) return 0;
    const char *p = list + *pos;
    int depth = 0;
    *s = p;
    while (*p && !(depth == 0 && *p == ',')) {
        if (*p == '[') depth++;
        if (*p == ']' && depth > 0) depth--;
        p++;
    }
    *e = p;
    *pos = (size_t)(p - list) + 1;
    return 1;
}

ntg_status ntg__mesh_hostlist_count(const char *list, size_t *count, ntg_error *err)
{
    if (!list || !count) return ntg__fail(err, NTG_ERR_INVALID_ARG, "hostlist: NULL argument");
    if (!list[0]) return ntg__fail(err, NTG_ERR_INVALID_ARG, "hostlist: empty");
    uint64_t total = 0;
    size_t pos = 0;
    const char *s, *e;
    while (hl_next(list, &pos, &s, &e)) {
        uint64_t c;
        ntg_status st = hl_pattern(list, s, e, &c, err);
        if (st) return st;
        total += c;
        if (total > HL_MAX_HOSTS)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "hostlist '%.200s': more than %llu hosts",
                             list, HL_MAX_HOSTS);
    }
    *count = (size_t)total;
    return NTG_OK;
}

ntg_status ntg__mesh_hostlist_nth(const char *list, size_t index, char *host, size_t cap,
                                  ntg_error *err)
{
    size_t total;
    ntg_status st = ntg__mesh_hostlist_count(list, &total, err);
    if (st) return st;
    if (!host || cap == 0) return ntg__fail(err, NTG_ERR_INVALID_ARG, "hostlist: no output buffer");
    if (index >= total)
        return ntg__fail(err, NTG_ERR_RANGE, "hostlist '%.200s' has %zu hosts; no host %zu", list,
                         total, index);
    size_t pos = 0;
    const char *s, *e;
    uint64_t idx = index;
    while (hl_next(list, &pos, &s, &e)) {
        uint64_t c;
        hl_pattern(list, s, e, &c, NULL);
        if (idx < c) return hl_pattern_nth(s, e, idx, host, cap, err);
        idx -= c;
    }
    return ntg__fail(err, NTG_ERR_INTERNAL, "hostlist '%.200s': host %zu vanished", list, index);
}

/* ------------------------------------------------------------ environments */

static const char *env_get(const char *const *envp, const char *name)
{
    if (!envp) return getenv(name);
    size_t n = strlen(name);
    for (const char *const *e = envp; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* A non-negative decimal integer of at most 9 digits; -1 when `s` is not one. */
static long parse_count(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

typedef struct launcher {
    const char *name;
    const char *rank_var, *world_var, *world_var2;
} launcher;

static const launcher launchers[] = {
    {"Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", NULL},
    {"PMI", "PMI_RANK", "PMI_SIZE", NULL},
    {"Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_NPROCS"},
    {"torchrun", "RANK", "WORLD_SIZE", NULL},
};

/* Read variable `var` as a count into *v: 1 read, 0 absent; an error for a bad value. */
static ntg_status env_count(const char *const *envp, const char *var, long *v, int *found,
                            ntg_error *err)
{
    const char *s = var ? env_get(envp, var) : NULL;
    *found = 0;
    if (!s) return NTG_OK;
    long x = parse_count(s);
    if (x < 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s='%.40s' is not a non-negative integer", var,
                         s);
    *v = x;
    *found = 1;
    return NTG_OK;
}

/* "tcp://HOST:PORT" from a host name or address (IPv6 in brackets). */
static ntg_status make_endpoint(char *out, size_t cap, const char *host, long port,
                                const char *what, ntg_error *err)
{
    if (!ntg__mesh_valid_host(host))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: '%.64s' is not a host name or address",
                         what, host);
    if (strchr(host, ':'))
        snprintf(out, cap, "tcp://[%s]:%ld", host, port);
    else
        snprintf(out, cap, "tcp://%s:%ld", host, port);
    if (!ntg__mesh_valid_endpoint(out))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s: '%.64s' does not make an endpoint", what,
                         host);
    return NTG_OK;
}

static ntg_status env_port(const char *const *envp, long *port, int *found, ntg_error *err)
{
    ntg_status st = env_count(envp, "MASTER_PORT", port, found, err);
    if (st) return st;
    if (*found && (*port < 1 || *port > 65535))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "MASTER_PORT=%ld is outside 1..65535", *port);
    return NTG_OK;
}

ntg_status ntg__mesh_launch_resolve(const char *const *envp, int rank, int world,
                                    const char *rendezvous, ntg__mesh_launch *out, ntg_error *err)
{
    if (!out) return ntg__fail(err, NTG_ERR_INVALID_ARG, "mesh launch: NULL output");
    if (!envp) envp = (const char *const *)environ;
    memset(out, 0, sizeof *out);
    const launcher *l = NULL;
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0] && !l; i++)
        if (env_get(envp, launchers[i].rank_var) || env_get(envp, launchers[i].world_var) ||
            (launchers[i].world_var2 && env_get(envp, launchers[i].world_var2)))
            l = &launchers[i];

    long er = -1, ew = -1;
    int fr = 0, fw = 0;
    const char *wvar = NULL;
    if (l) {
        ntg_status st = env_count(envp, l->rank_var, &er, &fr, err);
        if (st) return st;
        wvar = l->world_var;
        if ((st = env_count(envp, wvar, &ew, &fw, err))) return st;
        if (!fw && l->world_var2) {
            wvar = l->world_var2;
            if ((st = env_count(envp, wvar, &ew, &fw, err))) return st;
        }
    }
    char rsrc[64], wsrc[64];
    if (rank >= 0) {
        out->rank = rank;
        snprintf(rsrc, sizeof rsrc, "--rank");
    } else if (fr) {
        out->rank = (int)er;
        snprintf(rsrc, sizeof rsrc, "%s", l->rank_var);
    } else {
        if (l && fw)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s is set but %s is not (%s launch)", wvar,
                             l->rank_var, l->name);
        return ntg__fail(
            err, NTG_ERR_INVALID_ARG,
            "no rank: give --rank and --world, or start under mpirun, srun or torchrun "
            "(OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID or RANK)");
    }
    if (world > 0) {
        out->world = world;
        snprintf(wsrc, sizeof wsrc, "--world");
    } else if (fw) {
        if (ew < 1 || ew > NTG__MESH_MAX_WORLD)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s=%ld is outside 1..%d", wvar, ew,
                             NTG__MESH_MAX_WORLD);
        out->world = (int)ew;
        snprintf(wsrc, sizeof wsrc, "%s", wvar);
    } else {
        if (l && fr)
            return ntg__fail(err, NTG_ERR_INVALID_ARG, "%s is set but %s is not (%s launch)",
                             l->rank_var, l->world_var, l->name);
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "a rank (%s) but no world size: give --world",
                         rsrc);
    }
    if (out->world > NTG__MESH_MAX_WORLD)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "a world of %d (%s) is above %d", out->world,
                         wsrc, NTG__MESH_MAX_WORLD);
    if (out->rank >= out->world)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "rank %d (%s) is outside 0..%d (world %d, %s)",
                         out->rank, rsrc, out->world - 1, out->world, wsrc);

    /* the rendezvous */
    char dsrc[96];
    long port = NTG__MESH_DEFAULT_PORT;
    int fport = 0;
    ntg_status st = env_port(envp, &port, &fport, err);
    if (st) return st;
    const char *master = env_get(envp, "MASTER_ADDR");
    const char *nodes = env_get(envp, "SLURM_JOB_NODELIST");
    const char *nodes_var = "SLURM_JOB_NODELIST";
    if (!nodes) {
        nodes = env_get(envp, "SLURM_NODELIST");
        nodes_var = "SLURM_NODELIST";
    }
    if (rendezvous && rendezvous[0]) {
        if (strlen(rendezvous) >= sizeof out->rendezvous || !ntg__mesh_valid_endpoint(rendezvous))
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "--rendezvous '%.200s' is not tcp://HOST:PORT (port 1..65535)",
                             rendezvous);
        snprintf(out->rendezvous, sizeof out->rendezvous, "%s", rendezvous);
        snprintf(dsrc, sizeof dsrc, "--rendezvous");
    } else if (master && master[0]) {
        if ((st = make_endpoint(out->rendezvous, sizeof out->rendezvous, master, port,
                                "MASTER_ADDR", err)))
            return st;
        snprintf(dsrc, sizeof dsrc, "MASTER_ADDR%s", fport ? ", MASTER_PORT" : "");
    } else if (nodes && nodes[0]) {
        char first[128];
        if ((st = ntg__mesh_hostlist_nth(nodes, 0, first, sizeof first, err))) {
            ntg__err_prefix(err, "%s: ", nodes_var);
            return st;
        }
        if (!fport) {
            /* jobs sharing a first node get different ports, every task of a job the same */
            long job = 0;
            int fj = 0;
            if ((st = env_count(envp, "SLURM_JOB_ID", &job, &fj, err))) return st;
            port = NTG__MESH_DEFAULT_PORT + (fj ? job % 1000 : 0);
        }
        if ((st = make_endpoint(out->rendezvous, sizeof out->rendezvous, first, port, nodes_var,
                                err)))
            return st;
        snprintf(dsrc, sizeof dsrc, "the first host of %s%s", nodes_var,
                 fport ? ", MASTER_PORT" : ", SLURM_JOB_ID");
    } else {
        long local = -1;
        int fl = 0;
        if ((st = env_count(envp, "OMPI_COMM_WORLD_LOCAL_SIZE", &local, &fl, err))) return st;
        if (!fl && (st = env_count(envp, "MPI_LOCALNRANKS", &local, &fl, err))) return st;
        if (out->world == 1 || (fl && local == out->world)) {
            snprintf(out->rendezvous, sizeof out->rendezvous, "tcp://127.0.0.1:%ld", port);
            snprintf(dsrc, sizeof dsrc, "this host (%s)",
                     out->world == 1 ? "a world of 1" : "every rank is local");
        } else {
            return ntg__fail(
                err, NTG_ERR_INVALID_ARG,
                "no rendezvous for rank %d of %d: give --rendezvous tcp://HOST:PORT or "
                "set MASTER_ADDR (and MASTER_PORT) to rank 0's host",
                out->rank, out->world);
        }
    }
    snprintf(out->source, sizeof out->source,
             "rank %d (%.24s), world %d (%.24s)%s%s, rendezvous %.64s (%.48s)", out->rank, rsrc,
             out->world, wsrc, l ? ", launcher " : "", l ? l->name : "", out->rendezvous, dsrc);
    return NTG_OK;
}
