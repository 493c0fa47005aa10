/* test_mesh_auth.c — CURVE keys: key files, keygen, a mesh that admits only listed keys and logs
 * the strangers it turns away. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, usleep */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "mesh_proto.h"
#include "mesh_testutil.h"
#include "testutil.h"

static char root[64];

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/ntg-mesh-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(mesh, .init = setup, .fini = teardown);

static const char *path(const char *rel)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
    return buf[k];
}

static void write_text(const char *p, const char *text, mode_t mode)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert_geq(fd, 0, "%s", p);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(p, mode);
}

static void read_public(const char *dir, char out[41])
{
    char p[512];
    snprintf(p, sizeof p, "%s/mesh.public", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    char line[256];
    out[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && strlen(line) >= 40) {
            memcpy(out, line, 40);
            out[40] = '\0';
        }
    fclose(f);
    cr_assert(ntg__mesh_valid_key(out), "%s", out);
}

Test(mesh, keygen_writes_a_private_key_that_admits_itself)
{
    char pub[41];
    ntg_error err;
    const char *dir = path("k");
    cr_assert_eq(ntg__mesh_keygen(dir, "w-1", 0, pub, &err), NTG_OK, "%s", err.message);
    struct stat sb;
    cr_assert_eq(stat(dir, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700);
    cr_assert_eq(stat(path("k/mesh.secret"), &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    ntg__mesh_keys *k;
    cr_assert_eq(ntg__mesh_keys_load(dir, &k, &err), NTG_OK, "%s", err.message);
    cr_assert_str_eq(ntg__mesh_keys_public(k), pub);
    cr_assert_eq(ntg__mesh_keys_authorized(k), 1);
    cr_assert_str_eq(ntg__mesh_keys_lookup(k, pub), "w-1");
    cr_assert_null(ntg__mesh_keys_lookup(k, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
    ntg__mesh_keys_destroy(k);
    /* an existing key is not replaced without force */
    cr_assert_eq(ntg__mesh_keygen(dir, "w-1", 0, pub, &err), NTG_ERR_STATE);
    cr_assert(strstr(err.message, "mesh.secret: exists"), "%s", err.message);
    char pub2[41];
    cr_assert_eq(ntg__mesh_keygen(dir, "w-1", 1, pub2, &err), NTG_OK, "%s", err.message);
    cr_assert_str_neq(pub, pub2);
    cr_assert_eq(ntg__mesh_keygen(dir, "../evil", 1, pub2, &err), NTG_ERR_INVALID_ARG);
    cr_assert(strstr(err.message, "name '../evil'"), "%s", err.message);
}

Test(mesh, key_directories_are_checked_like_any_hostile_file)
{
    char pub[41];
    ntg_error err;
    ntg__mesh_keys *k = NULL;
    cr_assert_eq(ntg__mesh_keygen(path("k"), "a", 0, pub, &err), NTG_OK);
    /* a secret others may read */
    chmod(path("k/mesh.secret"), 0644);
    cr_assert_eq(ntg__mesh_keys_load(path("k"), &k, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "mesh.secret: a secret key that others may read (mode 0644): "
                                  "chmod 600 it"),
              "%s", err.message);
    chmod(path("k/mesh.secret"), 0600);
    /* an allow-list entry that is not a key, one too long, two keys in one file */
    write_text(path("k/authorized/bad.pub"), "not a key\n", 0644);
    cr_assert_eq(ntg__mesh_keys_load(path("k"), &k, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "bad.pub:1:1: 9 characters; a key is 40 Z85 characters"), "%s",
              err.message);
    write_text(path("k/authorized/bad.pub"),
               "# two keys\n"
               "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n"
               "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n",
               0644);
    cr_assert_eq(ntg__mesh_keys_load(path("k"), &k, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "bad.pub:3: a second key"), "%s", err.message);
    char big[5000];
    memset(big, '#', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_text(path("k/authorized/bad.pub"), big, 0644);
    cr_assert_eq(ntg__mesh_keys_load(path("k"), &k, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "4999 bytes; a key file is at most 4096"), "%s", err.message);
    unlink(path("k/authorized/bad.pub"));
    /* a public key that is not the secret's */
    write_text(path("k/mesh.public"), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", 0644);
    cr_assert_eq(ntg__mesh_keys_load(path("k"), &k, &err), NTG_ERR_DATA);
    cr_assert(strstr(err.message, "is not the public half of mesh.secret"), "%s", err.message);
    unlink(path("k/mesh.public"));
    /* nobody admitted */
    unlink(path("k/authorized/a.pub"));
    cr_assert_eq(ntg__mesh_keys_load(path("k"), &k, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "the mesh would admit no one"), "%s", err.message);
    /* no key at all */
    cr_assert_eq(ntg__mesh_keys_load(path("nothing"), &k, &err), NTG_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "nothing/mesh.secret: cannot open"), "%s", err.message);
    cr_assert_null(k);
}

Test(mesh, the_cli_writes_keys_and_prints_the_public_one)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' mesh keygen '%s' --name rank0 2>'%s'", tu_build("cli/ntgraph"),
             path("cli"), path("stderr"));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[256] = "";
    cr_assert_not_null(fgets(line, sizeof line, p));
    cr_assert_eq(pclose(p), 0);
    char pub[41];
    read_public(path("cli"), pub);
    cr_assert_eq(strncmp(line, pub, 40), 0, "printed '%s', the file holds '%s'", line, pub);
    struct stat sb;
    cr_assert_eq(stat(path("cli/authorized/rank0.pub"), &sb), 0);
    /* again: refused, exit status 2, the file named */
    snprintf(cmd, sizeof cmd, "'%s' mesh keygen '%s' >/dev/null 2>'%s'", tu_build("cli/ntgraph"),
             path("cli"), path("stderr"));
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "exit status %d", rc);
    FILE *f = fopen(path("stderr"), "r");
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strstr(line, "mesh.secret: exists"), "%s", line);
    snprintf(cmd, sizeof cmd, "'%s' mesh frobnicate >/dev/null 2>&1", tu_build("cli/ntgraph"));
    rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}

/* ----------------------------------------------------------- a keyed mesh */

typedef struct auth_arg {
    const char *keys[3]; /* rank 0, rank 1, the stranger */
    char stranger_pub[41];
} auth_arg;

enum { N = 30000 };

static int child_keyed(mt_shared *sh, int slot, void *arg)
{
    auth_arg *aa = arg;
    mt_logger lg = {sh, slot};
    if (slot == 1 && mt_wait_flag(&sh->go, 1, 20000) != 0) /* after the stranger */
        return mt_fail(sh, slot, 0, "the stranger never finished");
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, 2);
    cfg.keys_dir = aa->keys[slot];
    cfg.rendezvous_timeout_ms = 20000;
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    ntg__mesh_peer self;
    ntg__mesh_peer_get(m, slot, &self);
    snprintf(sh->ring[slot], sizeof sh->ring[slot], "%s", self.ring);
    __atomic_add_fetch(&sh->go, 1, __ATOMIC_RELEASE);
    /* the stranger knocks on the ring of rank 1 meanwhile */
    if (mt_wait_flag(&sh->go, 4, 20000) != 0) mt_fail(sh, slot, 0, "the stranger never knocked");
    static float buf[N];
    for (size_t i = 0; i < N; i++) buf[i] = mt_value(5, slot, i);
    if ((st = ntg__mesh_allreduce(m, buf, N, &err)))
        mt_fail(sh, slot, st, "allreduce: %s", err.message);
    for (size_t i = 0; i < N && !st; i++) {
        float want = mt_ring_sum(5, 2, N, i);
        if (memcmp(&want, &buf[i], sizeof want) != 0) sh->mismatches[slot]++;
    }
    sh->iterations[slot]++;
    ntg__mesh_stats_get(m, &sh->stats[slot]);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0;
}

/* Slot 2: first a worker with an unlisted key tries to join; later it pushes frames at rank 1's
 * ring socket, with its own key and with none. */
static int child_stranger(mt_shared *sh, int slot, void *arg)
{
    auth_arg *aa = arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, 1, 2);
    cfg.keys_dir = aa->keys[2];
    cfg.rendezvous_timeout_ms = 4000;
    ntg_mesh *m = NULL;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    sh->status[slot] = st;
    snprintf(sh->message[slot], sizeof sh->message[slot], "%s", st ? err.message : "admitted");
    ntg__mesh_destroy(m);
    __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);

    if (mt_wait_flag(&sh->go, 3, 20000) != 0) return 1;
    void *ctx = zmq_ctx_new();
    void *keyed = zmq_socket(ctx, ZMQ_PUSH), *plain = zmq_socket(ctx, ZMQ_PUSH);
    char pub[41], sec[41], server[41];
    zmq_curve_keypair(pub, sec);
    /* rank 1's public key is in the rank 0 dir's allow-list (rank1.pub) */
    char p[512];
    snprintf(p, sizeof p, "%s/authorized/rank1.pub", aa->keys[0]);
    FILE *f = fopen(p, "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '#' && strlen(line) >= 40) {
            memcpy(server, line, 40);
            server[40] = '\0';
        }
    if (f) fclose(f);
    zmq_setsockopt(keyed, ZMQ_CURVE_SERVERKEY, server, 41);
    zmq_setsockopt(keyed, ZMQ_CURVE_PUBLICKEY, pub, 41);
    zmq_setsockopt(keyed, ZMQ_CURVE_SECRETKEY, sec, 41);
    snprintf(sh->ring[slot], sizeof sh->ring[slot], "%s", pub);
    int linger = 0;
    zmq_setsockopt(keyed, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(plain, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(keyed, sh->ring[1]);
    zmq_connect(plain, sh->ring[1]);
    unsigned char junk[64] = {0};
    zmq_send(keyed, junk, sizeof junk, ZMQ_DONTWAIT);
    zmq_send(plain, junk, sizeof junk, ZMQ_DONTWAIT);
    usleep(500000); /* the handshakes fail meanwhile */
    zmq_close(keyed);
    zmq_close(plain);
    zmq_ctx_term(ctx);
    __atomic_add_fetch(&sh->go, 1, __ATOMIC_RELEASE);
    return 0;
}

Test(mesh, a_keyed_mesh_sums_and_turns_strangers_away_with_a_log_line)
{
    ntg_error err;
    char pa[41], pb[41], ps[41];
    cr_assert_eq(ntg__mesh_keygen(path("a"), "rank0", 0, pa, &err), NTG_OK, "%s", err.message);
    cr_assert_eq(ntg__mesh_keygen(path("b"), "rank1", 0, pb, &err), NTG_OK);
    cr_assert_eq(ntg__mesh_keygen(path("s"), "stranger", 0, ps, &err), NTG_OK);
    char text[128];
    snprintf(text, sizeof text, "%s\n", pb);
    write_text(path("a/authorized/rank1.pub"), text, 0644);
    snprintf(text, sizeof text, "%s\n", pa);
    write_text(path("b/authorized/rank0.pub"), text, 0644);
    write_text(path("b/coordinator.pub"), text, 0644);
    /* the stranger trusts rank 0, but rank 0 does not list it */
    write_text(path("s/authorized/rank0.pub"), text, 0644);
    write_text(path("s/coordinator.pub"), text, 0644);

    auth_arg aa = {{path("a"), path("b"), path("s")}, ""};
    char ka[512], kb[512], ks[512];
    snprintf(ka, sizeof ka, "%s", path("a"));
    snprintf(kb, sizeof kb, "%s", path("b"));
    snprintf(ks, sizeof ks, "%s", path("s"));
    aa.keys[0] = ka;
    aa.keys[1] = kb;
    aa.keys[2] = ks;
    mt_shared *sh = mt_map();
    pid_t pids[3];
    pids[0] = mt_spawn(sh, 0, child_keyed, &aa);
    pids[2] = mt_spawn(sh, 2, child_stranger, &aa);
    pids[1] = mt_spawn(sh, 1, child_keyed, &aa);
    int ok = mt_wait(pids, 3, 60000, NULL);
    for (int r = 0; r < 2; r++) cr_expect_eq(sh->status[r], 0, "rank %d: %s", r, sh->message[r]);
    cr_assert_eq(ok, 3);
    cr_assert_eq(sh->mismatches[0] + sh->mismatches[1], 0);
    cr_assert_eq(sh->iterations[0] + sh->iterations[1], 2);
    /* the stranger could not join, and knows why */
    cr_assert_eq(sh->status[2], NTG_ERR_STATE, "%d: %s", sh->status[2], sh->message[2]);
    cr_assert(strstr(sh->message[2], "refused this worker's CURVE key"), "%s", sh->message[2]);
    /* rank 0 logged the refusal with the key, rank 1 the one on its ring socket */
    char want[256];
    snprintf(want, sizeof want, "refused a CURVE client from 127.0.0.1: public key %s is not in %s",
             ps, ka);
    cr_assert(mt_logged(sh, 0, want), "rank 0's log lacks '%s':\n%s", want, sh->log[0]);
    snprintf(want, sizeof want, "public key %s is not in %s/authorized", sh->ring[2], kb);
    cr_assert(mt_logged(sh, 1, want), "rank 1's log lacks '%s':\n%s", want, sh->log[1]);
    cr_assert_geq(sh->stats[0].refused_keys, 1);
    cr_assert_geq(sh->stats[1].refused_keys, 1);
    /* nothing the strangers sent reached the mesh */
    cr_assert_eq(sh->stats[1].dropped_malformed, 0);
    cr_assert_eq(sh->stats[0].dropped_malformed, 0);
    mt_unmap(sh);
}

/* A worker without keys cannot talk to a rank 0 that has them. */
static int child_plain_vs_curve(mt_shared *sh, int slot, void *arg)
{
    auth_arg *aa = arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, 2);
    cfg.rendezvous_timeout_ms = 3000;
    if (slot == 0) cfg.keys_dir = aa->keys[0];
    ntg_mesh *m = NULL;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    sh->status[slot] = st;
    snprintf(sh->message[slot], sizeof sh->message[slot], "%s", st ? err.message : "formed");
    ntg__mesh_destroy(m);
    return 0;
}

Test(mesh, a_worker_without_keys_cannot_join_a_keyed_mesh)
{
    char pa[41];
    ntg_error err;
    cr_assert_eq(ntg__mesh_keygen(path("a"), "rank0", 0, pa, &err), NTG_OK);
    char ka[512];
    snprintf(ka, sizeof ka, "%s", path("a"));
    auth_arg aa = {{ka, NULL, NULL}, ""};
    mt_shared *sh = mt_map();
    pid_t pids[2];
    for (int r = 0; r < 2; r++) pids[r] = mt_spawn(sh, r, child_plain_vs_curve, &aa);
    mt_wait(pids, 2, 30000, NULL);
    cr_assert_eq(sh->status[0], NTG_ERR_PEER_LOST, "%s", sh->message[0]);
    cr_assert(strstr(sh->message[0], "rank 1 never arrived"), "%s", sh->message[0]);
    cr_assert_neq(sh->status[1], NTG_OK, "a plain worker joined a keyed mesh");
    mt_unmap(sh);
}
