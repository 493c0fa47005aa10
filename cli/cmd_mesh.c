/* cmd_mesh.c — `ntgraph mesh keygen`: CURVE keys for the data-parallel mesh. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#ifdef NTG_HAVE_MESH
#include "mesh.h"
#endif

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
