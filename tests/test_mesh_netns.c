/* test_mesh_netns.c — ranks in separate network namespaces joined by a veth pair: the mesh over a
 * real interface, with keys, with a rate-limited link (tbf) and with delay and loss (netem). */
#define _GNU_SOURCE /* setns, CLONE_NEWNET */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesh_testutil.h"

/* Two namespaces, A (10.213.0.1) and B (10.213.0.2), one veth pair between them; names carry
 * the test process's pid, so tests running side by side do not meet. */
typedef struct netns {
    char ns[2][32], dev[2][16];
    int up;
} netns;

static netns net;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char quiet[600];
    snprintf(quiet, sizeof quiet, "%s >/dev/null 2>&1", cmd);
    int rc = system(quiet);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void net_down(void)
{
    if (!net.up) return;
    run("ip netns del %s", net.ns[0]);
    run("ip netns del %s", net.ns[1]);
    net.up = 0;
}

/* Build the pair, or skip the test with the reason. */
static void net_up(void)
{
    long pid = (long)getpid();
    for (int i = 0; i < 2; i++) {
        snprintf(net.ns[i], sizeof net.ns[i], "ntgmesh%ld%c", pid, 'a' + i);
        snprintf(net.dev[i], sizeof net.dev[i], "ntgm%ld%c", pid % 10000000, 'x' + i);
    }
    if (run("ip -V") != 0) cr_skip_test("iproute2 ('ip') is not installed");
    if (run("ip netns add %s", net.ns[0]) != 0)
        cr_skip_test("cannot create network namespaces here (not root, or no CONFIG_NET_NS)");
    net.up = 1;
    int bad = run("ip netns add %s", net.ns[1]) ||
              run("ip link add %s type veth peer name %s", net.dev[0], net.dev[1]);
    for (int i = 0; i < 2 && !bad; i++)
        bad = run("ip link set %s netns %s", net.dev[i], net.ns[i]) ||
              run("ip -n %s addr add 10.213.0.%d/24 dev %s", net.ns[i], i + 1, net.dev[i]) ||
              run("ip -n %s link set %s up", net.ns[i], net.dev[i]) ||
              run("ip -n %s link set lo up", net.ns[i]);
    if (bad) {
        net_down();
        cr_skip_test("cannot build a veth pair between namespaces here");
    }
    if (run("ip netns exec %s true", net.ns[0]) != 0) {
        net_down();
        cr_skip_test("cannot enter a network namespace here (setns refused)");
    }
}

TestSuite(mesh, .fini = net_down);

/* Move this (child) process into namespace i. */
static int enter(int i)
{
    char p[96];
    snprintf(p, sizeof p, "/run/netns/%s", net.ns[i]);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

typedef struct ns_arg {
    const char *keys; /* NULL: plain TCP with insecure */
    size_t n;         /* elements summed */
    int timeout_ms;   /* heartbeat timeout */
} ns_arg;

static int child_ns(mt_shared *sh, int slot, void *arg)
{
    const ns_arg *na = arg;
    if (enter(slot) != 0) return mt_fail(sh, slot, 0, "setns into %s failed", net.ns[slot]);
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, 2);
    if (slot == 0) cfg.rendezvous = "tcp://10.213.0.1:0";
    cfg.timeout_ms = na->timeout_ms;
    cfg.heartbeat_ms = na->timeout_ms / 5;
    cfg.chunk_bytes = 64 << 10;
    /* the namespaces share this host's name and /dev/shm: keep the data on the veth link */
    cfg.force_tcp = 1;
    ntg_mesh *m;
    ntg_error err;
    ntg_status st;
    if (slot == 0 && !na->keys) {
        /* a real interface: plain TCP needs insecure */
        st = ntg__mesh_create(&cfg, &m, &err);
        if (st != NTG_ERR_INVALID_ARG || !strstr(err.message, "refusing to bind"))
            return mt_fail(sh, slot, st ? st : NTG_ERR_INTERNAL,
                           "plain TCP on 10.213.0.1 was not refused: %s",
                           st ? err.message : "it bound");
    }
    cfg.keys_dir = na->keys;
    cfg.insecure = na->keys == NULL;
    if ((st = ntg__mesh_create(&cfg, &m, &err)))
        return mt_fail(sh, slot, st, "create: %s", err.message);
    for (int r = 0; r < 2; r++) {
        ntg__mesh_peer p;
        ntg__mesh_peer_get(m, r, &p);
        snprintf(sh->ring[r], sizeof sh->ring[r], "%s", p.ring);
    }
    float *buf = malloc(na->n * sizeof *buf);
    for (int rep = 0; rep < 2 && !sh->status[slot]; rep++) {
        for (size_t i = 0; i < na->n; i++) buf[i] = mt_value(11, slot, i);
        if ((st = ntg__mesh_allreduce(m, buf, na->n, &err))) {
            mt_fail(sh, slot, st, "allreduce: %s", err.message);
            break;
        }
        for (size_t i = 0; i < na->n; i++) {
            float want = mt_ring_sum(11, 2, na->n, i);
            if (memcmp(&want, &buf[i], sizeof want) != 0) {
                sh->mismatches[slot]++;
                break;
            }
        }
        sh->iterations[slot]++;
    }
    free(buf);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

static void run_pair(const ns_arg *na)
{
    mt_shared *sh = mt_map();
    pid_t pids[2];
    for (int r = 0; r < 2; r++) pids[r] = mt_spawn(sh, r, child_ns, (void *)na);
    int ok = mt_wait(pids, 2, 60000, NULL);
    for (int r = 0; r < 2; r++) {
        cr_expect_eq(sh->status[r], 0, "rank %d: %s\n%s", r, sh->message[r], sh->log[r]);
        cr_expect_eq(sh->mismatches[r], 0, "rank %d", r);
        cr_expect_eq(sh->iterations[r], 2, "rank %d", r);
    }
    cr_assert_eq(ok, 2);
    /* each ring socket listens on its namespace's own interface, not loopback */
    cr_assert_eq(strncmp(sh->ring[0], "tcp://10.213.0.1:", 17), 0, "%s", sh->ring[0]);
    cr_assert_eq(strncmp(sh->ring[1], "tcp://10.213.0.2:", 17), 0, "%s", sh->ring[1]);
    mt_unmap(sh);
}

Test(mesh, ranks_in_two_network_namespaces_sum_over_a_veth_pair_with_keys)
{
    net_up();
    char dir[] = "/tmp/ntg-mesh-ns-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char keys[128];
    snprintf(keys, sizeof keys, "%s/k", dir);
    ntg_error err;
    cr_assert_eq(ntg__mesh_keygen(keys, "job", 0, NULL, &err), NTG_OK, "%s", err.message);
    ns_arg na = {keys, 300001, 2000};
    run_pair(&na);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(mesh, plain_tcp_across_namespaces_needs_insecure_and_then_sums)
{
    net_up();
    ns_arg na = {NULL, 100003, 2000};
    run_pair(&na);
}

Test(mesh, a_rate_limited_link_still_sums_right)
{
    net_up();
    for (int i = 0; i < 2; i++)
        if (run("ip netns exec %s tc qdisc add dev %s root tbf rate 200mbit burst 32kb latency "
                "100ms",
                net.ns[i], net.dev[i]) != 0) {
            net_down(); /* a skipped test does not reach .fini */
            cr_skip_test("tc tbf is not available here (iproute2's tc, CONFIG_NET_SCH_TBF)");
        }
    ns_arg na = {NULL, 1u << 20, 3000};
    run_pair(&na);
}

Test(mesh, delay_and_loss_on_the_link_still_sum_right)
{
    net_up();
    for (int i = 0; i < 2; i++)
        if (run("ip netns exec %s tc qdisc add dev %s root netem delay 5ms 1ms loss 1%%", net.ns[i],
                net.dev[i]) != 0) {
            net_down();
            cr_skip_test("tc netem is not available here (this kernel lacks sch_netem: 'tc qdisc "
                         "add ... netem' fails); the tbf test shapes the link instead");
        }
    ns_arg na = {NULL, 200003, 4000};
    run_pair(&na);
}
