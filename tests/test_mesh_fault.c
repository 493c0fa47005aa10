/* test_mesh_fault.c — a worker killed (SIGKILL) or frozen (SIGSTOP) is named within the timeout;
 * the survivors, and a worker that joins, form the next generation. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, usleep */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_testutil.h"

#define N 20000 /* elements of each all-reduce */
#define TIMEOUT_MS 1500
#define HEARTBEAT_MS 100
/* detection may take the timeout, one heartbeat tick, and scheduling on a loaded machine */
#define DETECT_SLACK_MS 2000

typedef struct fault_arg {
    int world;
    int victim;      /* the slot the test kills or stops */
    int post_world;  /* world expected after re-forming */
    int joiner_slot; /* a slot that joins the next generation (-1: none) */
} fault_arg;

/* Sum buffers until an operation fails; t[slot][0] = when it failed.  Returns the status. */
static ntg_status sum_until_failure(mt_shared *sh, int slot, ntg_mesh *m, float *buf, int world,
                                    ntg_error *err)
{
    for (unsigned it = 0;; it++) {
        int rank = ntg__mesh_rank(m);
        for (size_t i = 0; i < N; i++) buf[i] = mt_value(it, rank, i);
        ntg_status st = ntg__mesh_allreduce(m, buf, N, err);
        if (st) {
            sh->t[slot][0] = mt_now();
            return st;
        }
        for (size_t i = 0; i < N; i++) {
            float want = mt_ring_sum(it, world, N, i);
            if (memcmp(&want, &buf[i], sizeof want) != 0) {
                sh->mismatches[slot]++;
                break;
            }
        }
        __atomic_store_n(&sh->iterations[slot], (int)it + 1, __ATOMIC_RELEASE);
        usleep(20000);
    }
}

/* After re-forming: one all-reduce in the new generation, checked. */
static void sum_once(mt_shared *sh, int slot, ntg_mesh *m)
{
    float *buf = malloc(N * sizeof *buf);
    int rank = ntg__mesh_rank(m), world = ntg__mesh_world(m);
    for (size_t i = 0; i < N; i++) buf[i] = mt_value(777, rank, i);
    ntg_error err;
    ntg_status st = ntg__mesh_allreduce(m, buf, N, &err);
    if (st) {
        mt_fail(sh, slot, st, "after re-forming: %s", err.message);
    } else {
        for (size_t i = 0; i < N; i++) {
            float want = mt_ring_sum(777, world, N, i);
            if (memcmp(&want, &buf[i], sizeof want) != 0) {
                sh->mismatches[slot]++;
                break;
            }
        }
        sh->t[slot][1] = 1; /* summed in the new generation */
    }
    free(buf);
}

static void faulty_config(ntg__mesh_config *cfg, mt_shared *sh, mt_logger *lg, int slot, int world)
{
    mt_config(cfg, sh, lg, slot, world);
    cfg->heartbeat_ms = HEARTBEAT_MS;
    cfg->timeout_ms = TIMEOUT_MS;
    cfg->rendezvous_timeout_ms = 8000;
}

static int child_member(mt_shared *sh, int slot, void *arg)
{
    const fault_arg *fa = arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    faulty_config(&cfg, sh, &lg, slot, fa->world);
    if (fa->joiner_slot >= 0) cfg.join_window_ms = 6000; /* the joiner is on its way */
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    float *buf = malloc(N * sizeof *buf);
    st = sum_until_failure(sh, slot, m, buf, fa->world, &err);
    free(buf);
    /* the failure the survivors see: named, with the right status */
    snprintf(sh->message[slot], sizeof sh->message[slot], "%s", err.message);
    sh->status[slot] = st;
    if (slot != fa->victim) {
        ntg_error e2;
        ntg_status rs = ntg__mesh_reform(m, &e2);
        if (rs) {
            sh->t[slot][2] = rs;
            snprintf(sh->message[slot], sizeof sh->message[slot], "reform: %s", e2.message);
        } else {
            sh->world[slot] = ntg__mesh_world(m);
            sh->rank[slot] = ntg__mesh_rank(m);
            sh->generation[slot] = ntg__mesh_generation(m);
            sum_once(sh, slot, m);
            ntg__mesh_barrier(m, &e2);
            /* stay (rank 0 must answer a straggler) until the test has seen what it needs */
            __atomic_add_fetch(&sh->go, 1, __ATOMIC_RELEASE);
            mt_wait_flag(&sh->go, 100, 15000);
        }
    } else {
        /* a frozen victim that wakes: its operation fails, it was left out */
        sh->t[slot][3] = 1;
    }
    ntg__mesh_stats_get(m, &sh->stats[slot]);
    ntg__mesh_destroy(m);
    return 0;
}

static int child_joiner(mt_shared *sh, int slot, void *arg)
{
    const fault_arg *fa = arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    faulty_config(&cfg, sh, &lg, 1, fa->world);
    cfg.join = 1;
    cfg.rendezvous_timeout_ms = 15000;
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "join: %s", err.message);
    sh->world[slot] = ntg__mesh_world(m);
    sh->rank[slot] = ntg__mesh_rank(m);
    sh->generation[slot] = ntg__mesh_generation(m);
    sum_once(sh, slot, m);
    ntg__mesh_barrier(m, &err);
    __atomic_add_fetch(&sh->go, 1, __ATOMIC_RELEASE);
    mt_wait_flag(&sh->go, 100, 15000);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0;
}

/* Wait until every rank summed a few times (the mesh runs), then hit the victim. */
static int64_t strike(mt_shared *sh, const fault_arg *fa, pid_t victim, int sig)
{
    int64_t end = mt_now() + 20000;
    for (;;) {
        int ready = 1;
        for (int r = 0; r < fa->world; r++)
            if (__atomic_load_n(&sh->iterations[r], __ATOMIC_ACQUIRE) < 5) ready = 0;
        if (ready) break;
        cr_assert_lt(mt_now(), end, "the mesh never ran");
        usleep(2000);
    }
    int64_t t = mt_now();
    kill(victim, sig);
    return t;
}

static void check_named(mt_shared *sh, const fault_arg *fa, int64_t t_hit)
{
    char want[96];
    snprintf(want, sizeof want, "pid %ld) lost: no heartbeat", sh->pid[fa->victim]);
    char rank[32];
    snprintf(rank, sizeof rank, "rank %d (host ", fa->victim);
    /* rank 0 names the victim in its log, and every survivor's operation says who */
    cr_assert(mt_logged(sh, 0, want) && mt_logged(sh, 0, rank), "rank 0's log:\n%s", sh->log[0]);
    for (int r = 0; r < fa->world; r++) {
        if (r == fa->victim) continue;
        cr_assert_eq(sh->status[r], NTG_ERR_PEER_LOST, "rank %d: %d %s", r, sh->status[r],
                     sh->message[r]);
        cr_assert_eq(sh->mismatches[r], 0, "rank %d summed wrongly", r);
        int64_t took = sh->t[r][0] - t_hit;
        cr_assert_leq(took, TIMEOUT_MS + HEARTBEAT_MS + DETECT_SLACK_MS,
                      "rank %d noticed after %lld ms", r, (long long)took);
    }
}

static void check_reformed(mt_shared *sh, const fault_arg *fa)
{
    for (int r = 0; r < MT_MAX; r++) {
        if (r == fa->victim || (r >= fa->world && r != fa->joiner_slot)) continue;
        cr_assert_eq(sh->t[r][2], 0, "slot %d could not re-form: %s", r, sh->message[r]);
        cr_assert_eq(sh->world[r], fa->post_world, "slot %d: world %d", r, sh->world[r]);
        cr_assert_eq(sh->generation[r], 2, "slot %d: generation %u", r, sh->generation[r]);
        cr_assert_eq(sh->t[r][1], 1, "slot %d did not sum in generation 2: %s", r, sh->message[r]);
        cr_assert_eq(sh->mismatches[r], 0, "slot %d summed wrongly in generation 2", r);
    }
}

Test(mesh, a_killed_worker_is_named_in_time_and_the_survivors_form_generation_2)
{
    fault_arg fa = {3, 2, 2, -1};
    mt_shared *sh = mt_map();
    pid_t pids[3];
    for (int r = 0; r < 3; r++) pids[r] = mt_spawn(sh, r, child_member, &fa);
    int64_t t = strike(sh, &fa, pids[2], SIGKILL);
    mt_wait_flag(&sh->go, 2, 20000);
    __atomic_store_n(&sh->go, 100, __ATOMIC_RELEASE);
    int codes[3];
    mt_wait(pids, 3, 30000, codes);
    check_named(sh, &fa, t);
    check_reformed(sh, &fa);
    cr_assert(mt_logged(sh, 0, "generation 2 formed with 2 ranks"), "%s", sh->log[0]);
    /* the survivor that is not rank 0 was told by rank 0, and says so */
    cr_assert(mt_logged(sh, 1, "(reported by rank 0)"), "%s", sh->log[1]);
    mt_unmap(sh);
}

Test(mesh, a_frozen_worker_is_named_left_out_and_turned_away_when_it_wakes)
{
    fault_arg fa = {3, 1, 2, -1};
    mt_shared *sh = mt_map();
    pid_t pids[3];
    for (int r = 0; r < 3; r++) pids[r] = mt_spawn(sh, r, child_member, &fa);
    int64_t t = strike(sh, &fa, pids[1], SIGSTOP);
    /* let the survivors re-form and sum, then wake the straggler */
    cr_assert_eq(mt_wait_flag(&sh->go, 2, 20000), 0, "the survivors did not re-form");
    kill(pids[1], SIGCONT);
    int64_t end = mt_now() + 10000;
    while (!__atomic_load_n(&sh->t[1][3], __ATOMIC_ACQUIRE) && mt_now() < end) usleep(5000);
    __atomic_store_n(&sh->go, 100, __ATOMIC_RELEASE);
    int codes[3];
    mt_wait(pids, 3, 30000, codes);
    check_named(sh, &fa, t);
    check_reformed(sh, &fa);
    /* the straggler's operation fails: rank 0 runs generation 2 without it */
    cr_assert_eq(sh->t[1][3], 1, "the frozen worker never got its answer");
    cr_assert_eq(sh->status[1], NTG_ERR_PEER_LOST, "%d %s", sh->status[1], sh->message[1]);
    cr_assert(strstr(sh->message[1], "left out"), "%s", sh->message[1]);
    cr_assert(mt_logged(sh, 1, "this process was stalled"), "%s", sh->log[1]);
    /* rank 0 dropped what the straggler of generation 1 sent */
    cr_assert_geq(sh->stats[0].dropped_generation + sh->stats[0].dropped_unexpected, 1);
    mt_unmap(sh);
}

Test(mesh, a_replacement_joins_the_next_generation)
{
    fault_arg fa = {3, 1, 3, 3};
    mt_shared *sh = mt_map();
    pid_t pids[4];
    for (int r = 0; r < 3; r++) pids[r] = mt_spawn(sh, r, child_member, &fa);
    int64_t t = strike(sh, &fa, pids[1], SIGKILL);
    /* the launcher restarts the worker: it asks to join */
    pids[3] = mt_spawn(sh, 3, child_joiner, &fa);
    mt_wait_flag(&sh->go, 3, 30000);
    __atomic_store_n(&sh->go, 100, __ATOMIC_RELEASE);
    int codes[4];
    mt_wait(pids, 4, 40000, codes);
    check_named(sh, &fa, t);
    check_reformed(sh, &fa);
    cr_assert_eq(codes[3], 0, "the joiner: %s", sh->message[3]);
    /* ranks: 0 stays, the survivor (old rank 2) becomes 1, the joiner 2 */
    cr_assert_eq(sh->rank[0], 0);
    cr_assert_eq(sh->rank[2], 1);
    cr_assert_eq(sh->rank[3], 2);
    cr_assert(mt_logged(sh, 0, "admitting the joiner"), "%s", sh->log[0]);
    mt_unmap(sh);
}

static int child_orphan(mt_shared *sh, int slot, void *arg)
{
    (void)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    faulty_config(&cfg, sh, &lg, slot, 2);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    float *buf = malloc(N * sizeof *buf);
    st = sum_until_failure(sh, slot, m, buf, 2, &err);
    free(buf);
    snprintf(sh->message[slot], sizeof sh->message[slot], "%s", err.message);
    sh->status[slot] = st;
    ntg_error e2;
    sh->t[slot][2] = ntg__mesh_reform(m, &e2);
    snprintf(sh->ring[slot], sizeof sh->ring[slot], "%.127s", e2.message);
    ntg__mesh_destroy(m);
    return 0;
}

Test(mesh, losing_rank_0_is_final_and_says_so)
{
    fault_arg fa = {2, 0, 0, -1};
    mt_shared *sh = mt_map();
    pid_t pids[2];
    for (int r = 0; r < 2; r++) pids[r] = mt_spawn(sh, r, child_orphan, &fa);
    int64_t t = strike(sh, &fa, pids[0], SIGKILL);
    mt_wait(pids, 2, 20000, NULL);
    cr_assert_eq(sh->status[1], NTG_ERR_PEER_LOST, "%s", sh->message[1]);
    char want[64];
    snprintf(want, sizeof want, "rank 0 (host ");
    cr_assert(strstr(sh->message[1], want) && strstr(sh->message[1], "lost"), "%s", sh->message[1]);
    cr_assert_leq(sh->t[1][0] - t, TIMEOUT_MS + HEARTBEAT_MS + DETECT_SLACK_MS);
    cr_assert_eq(sh->t[1][2], NTG_ERR_PEER_LOST);
    cr_assert(strstr(sh->ring[1], "rank 0 is gone"), "%s", sh->ring[1]);
    mt_unmap(sh);
}
