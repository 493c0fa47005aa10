/* ntgraph.c — the ntgraph command: dispatch to subcommands, git-style help. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_cmd *const commands[] = {
    &cli_cmd_compile,  &cli_cmd_train, &cli_cmd_eval, &cli_cmd_cv,    &cli_cmd_tune,
    &cli_cmd_run,      &cli_cmd_grad,  &cli_cmd_info, &cli_cmd_bench, &cli_cmd_weights,
    &cli_cmd_backends, &cli_cmd_store, &cli_cmd_mesh, &cli_cmd_serve,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void main_help(FILE *f)
{
    fprintf(f, "usage: ntgraph [--version] [--help] <command> [<args>]\n\n"
               "ntgraph compiles forecasting models written as YAML op graphs into static\n"
               "plans (plan.bin) and runs them.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "   %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nSee 'ntgraph help <command>' or 'ntgraph <command> --help' for details.\n"
               "Exit status: 0 success, 1 failure of the machine or of ntgraph (out of memory,\n"
               "disk full, I/O error, device), 2 bad usage or bad input (graphs, plans, data\n"
               "files, paths that do not exist or are directories).\n");
}

static const cli_cmd *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        main_help(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("ntgraph %s\n", ntg_version_string());
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            main_help(stdout);
            return CLI_OK;
        }
        const cli_cmd *c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "ntgraph: '%s' is not an ntgraph command. See 'ntgraph --help'.\n",
                    argv[2]);
            return CLI_USAGE;
        }
        cli_help(c, stdout);
        return CLI_OK;
    }
    const cli_cmd *cmd = find(name);
    if (!cmd) {
        fprintf(stderr, "ntgraph: '%s' is not an ntgraph command. See 'ntgraph --help'.\n", name);
        return CLI_USAGE;
    }
    cli_args a;
    /* `mesh run … -- train …`: what follows "--" is a command line of its own */
    int n = argc - 2, n_rest = 0;
    char **rest = NULL;
    if (cmd == &cli_cmd_mesh)
        for (int k = 0; k < n; k++)
            if (strcmp(argv[2 + k], "--") == 0) {
                rest = argv + 3 + k;
                n_rest = n - k - 1;
                n = k;
                break;
            }
    if (cli_parse(cmd, n, argv + 2, &a)) return CLI_USAGE;
    a.rest = rest;
    a.n_rest = n_rest;
    if (a.help) {
        cli_help(cmd, stdout);
        return CLI_OK;
    }
    return cmd->run(cmd, &a);
}
