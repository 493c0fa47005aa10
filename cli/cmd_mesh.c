/* cmd_mesh.c — `ntgraph mesh keygen`: CURVE keys for the data-parallel mesh; and the mesh side
 * of `ntgraph train --mesh`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_dp.h"
#ifdef NTG_HAVE_MESH
#include "mesh.h"
#endif

/* ------------------------------------------------------------ train --mesh */

struct cli_train_mesh {
    ntg__train_dp dp;
#ifdef NTG_HAVE_MESH
    ntg_mesh *mesh;
#endif
};

#ifdef NTG_HAVE_MESH
static ntg_status tm_allreduce(void *user, long step, float *buf, size_t n, ntg_error *err)
{
    cli_train_mesh *m = user;
    ntg__mesh_set_step(m->mesh, (uint64_t)step);
    return ntg__mesh_allreduce(m->mesh, buf, n, err);
}

static ntg_status tm_broadcast(void *user, void *buf, size_t nbytes, ntg_error *err)
{
    cli_train_mesh *m = user;
    return ntg__mesh_broadcast(m->mesh, buf, nbytes, err);
}
#endif

int cli_train_mesh_open(const cli_cmd *cmd, const cli_args *a, cli_train_mesh **out)
{
    *out = NULL;
    static const char *const flags[] = {"rank", "world", "rendezvous", "mesh-keys",
                                        "mesh-insecure"};
    if (!cli_flag(a, "mesh")) {
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            if (cli_get(a, flags[i]))
                return cli_usage_error(cmd, "--%s belongs to data-parallel training: add --mesh",
                                       flags[i]);
        return CLI_OK;
    }
#ifdef NTG_HAVE_MESH
    long rank = -1, world = 0;
    if (cli_int(cmd, a, "rank", 0, 4095, &rank) < 0 ||
        cli_int(cmd, a, "world", 1, 4096, &world) < 0)
        return CLI_USAGE;
    ntg__mesh_launch launch;
    ntg_error err;
    ntg_status st = ntg__mesh_launch_resolve(NULL, (int)rank, (int)world, cli_get(a, "rendezvous"),
                                             &launch, &err);
    if (st) return cli_fail(cmd, st, &err);
    cli_train_mesh *m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "ntgraph %s: error: out of memory\n", cmd->name);
        return CLI_FAIL;
    }
    ntg__mesh_config cfg;
    ntg__mesh_config_init(&cfg);
    cfg.rank = launch.rank;
    cfg.world = launch.world;
    cfg.rendezvous = launch.rendezvous;
    cfg.keys_dir = cli_get(a, "mesh-keys");
    cfg.insecure = cli_flag(a, "mesh-insecure");
    fprintf(stderr, "ntgraph %s: mesh rank %d of %d, rendezvous %s (%s)\n", cmd->name, launch.rank,
            launch.world, launch.rendezvous, launch.source);
    st = ntg__mesh_create(&cfg, &m->mesh, &err);
    if (st) {
        free(m);
        return cli_fail(cmd, st, &err);
    }
    m->dp.rank = launch.rank;
    m->dp.world = launch.world;
    m->dp.user = m;
    m->dp.allreduce = tm_allreduce;
    m->dp.broadcast = tm_broadcast;
    *out = m;
    return CLI_OK;
#else
    fprintf(stderr,
            "ntgraph %s: error: --mesh: this ntgraph was built without the mesh (libzmq "
            "not found)\n",
            cmd->name);
    return CLI_FAIL;
#endif
}

const ntg__train_dp *cli_train_mesh_dp(const cli_train_mesh *m)
{
    return m ? &m->dp : NULL;
}

int cli_train_mesh_rank(const cli_train_mesh *m)
{
    return m ? m->dp.rank : 0;
}

int cli_train_mesh_world(const cli_train_mesh *m)
{
    return m ? m->dp.world : 1;
}

void cli_train_mesh_close(cli_train_mesh *m)
{
    if (!m) return;
#ifdef NTG_HAVE_MESH
    ntg__mesh_destroy(m->mesh);
#endif
    free(m);
}

/* ------------------------------------------------------------ ntgraph mesh */

static const cli_opt mesh_opts[] = {
    {"name", 0, "NAME", 0, "keygen: the key's name in authorized/ (default: the short host name)"},
    {"force", 0, NULL, 0, "keygen: replace an existing key pair"},
};

static int mesh_run(const cli_cmd *cmd, cli_args *a)
{
    if (a->n_pos < 1) return cli_usage_error(cmd, "expected a subcommand (keygen)");
    if (strcmp(a->pos[0], "keygen") != 0)
        return cli_usage_error(cmd, "unknown subcommand '%s' (expected keygen)", a->pos[0]);
    if (a->n_pos != 2) return cli_usage_error(cmd, "expected 'keygen DIR'");
#ifdef NTG_HAVE_MESH
    const char *dir = a->pos[1], *name = cli_get(a, "name");
    char pub[41], host[65];
    if (!name) {
        ntg__mesh_default_key_name(host);
        name = host;
    }
    ntg_error err;
    ntg_status st = ntg__mesh_keygen(dir, name, cli_flag(a, "force"), pub, &err);
    if (st) return cli_fail(cmd, st, &err);
    /* stdout holds the public key alone, for scripts; the rest is for people */
    printf("%s\n", pub);
    fprintf(stderr,
            "ntgraph mesh: wrote %s/mesh.secret (mode 0600: keep it private), %s/mesh.public, "
            "and %s/authorized/%s.pub\n",
            dir, dir, dir, name);
    return CLI_OK;
#else
    fprintf(stderr, "ntgraph %s: this ntgraph was built without the mesh (libzmq not found)\n",
            cmd->name);
    return CLI_FAIL;
#endif
}

const cli_cmd cli_cmd_mesh = {
    "mesh",
    "Data-parallel mesh: CURVE keys for its workers",
    "ntgraph mesh keygen DIR [--name NAME] [--force]",
    "keygen creates DIR (mode 0700) if needed and writes a new CURVE key pair for one\n"
    "worker: DIR/mesh.secret (mode 0600), DIR/mesh.public, and DIR/authorized/NAME.pub so\n"
    "that the key admits itself. It prints the public key. A mesh started with\n"
    "--mesh-keys DIR admits only the public keys in DIR/authorized/ (every socket is\n"
    "encrypted; a stranger is refused and logged): copy each worker's mesh.public into\n"
    "every other worker's authorized/ as NAME.pub, and rank 0's into DIR/coordinator.pub;\n"
    "or generate one DIR and give all workers a copy of it. docs/mesh.md describes the\n"
    "files, the protocol and the failure behaviour.",
    mesh_opts,
    (int)(sizeof mesh_opts / sizeof mesh_opts[0]),
    mesh_run,
};
