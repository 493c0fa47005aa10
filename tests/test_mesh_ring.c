/* test_mesh_ring.c — meshes of forked processes on loopback: all-reduce, broadcast, barrier, bad
 * frames, configuration errors. */
#define _GNU_SOURCE /* MAP_ANONYMOUS, usleep, memfd_create */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "mesh_proto.h"
#include "mesh_testutil.h"

static const size_t sizes[] = {1, 2, 3, 5, 1000, 1023, 1024, 4097, 100003, (1u << 20) + 1};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* One rank: every size twice; each result against the documented order (bitwise) and the
 * serial double sum (1e-5 relative), the second run against the first (bitwise). */
typedef struct world_arg {
    int world, tcp; /* tcp: 1 cfg.force_tcp everywhere, 2 on rank 0 only, 0 nowhere */
} world_arg;

static int child_allreduce(mt_shared *sh, int slot, void *arg)
{
    const world_arg *wa = arg;
    int world = wa->world;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, world);
    cfg.force_tcp = wa->tcp == 1 || (wa->tcp == 2 && slot == 0);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    sh->world[slot] = ntg__mesh_world(m);
    sh->generation[slot] = ntg__mesh_generation(m);
    float *buf = malloc(sizes[N_SIZES - 1] * sizeof *buf);
    float *first = malloc(sizes[N_SIZES - 1] * sizeof *first);
    for (size_t k = 0; k < N_SIZES; k++) {
        size_t n = sizes[k];
        for (int rep = 0; rep < 2; rep++) {
            for (size_t i = 0; i < n; i++) buf[i] = mt_value((unsigned)k, slot, i);
            ntg__mesh_set_step(m, (uint64_t)(k * 2 + rep));
            if ((st = ntg__mesh_allreduce(m, buf, n, &err))) {
                mt_fail(sh, slot, st, "allreduce of %zu: %s", n, err.message);
                goto out;
            }
            for (size_t i = 0; i < n; i++) {
                float want = mt_ring_sum((unsigned)k, world, n, i);
                /* the exact sum, and the float rounding any order may add to it */
                double serial = 0, mag = 0;
                for (int r = 0; r < world; r++) {
                    serial += mt_value((unsigned)k, r, i);
                    mag += fabs(mt_value((unsigned)k, r, i));
                }
                if (memcmp(&want, &buf[i], sizeof want) != 0 ||
                    fabs(buf[i] - serial) > (double)world * 0x1p-24 * mag) {
                    if (!sh->mismatches[slot])
                        snprintf(sh->message[slot], sizeof sh->message[slot],
                                 "size %zu element %zu: %a, the documented order gives %a", n, i,
                                 (double)buf[i], (double)want);
                    sh->mismatches[slot]++;
                }
                if (rep == 1 && memcmp(&first[i], &buf[i], sizeof buf[i]) != 0)
                    sh->mismatches[slot]++;
            }
            if (rep == 0) memcpy(first, buf, n * sizeof *buf);
            sh->iterations[slot]++;
        }
    }
out:
    ntg__mesh_stats_get(m, &sh->stats[slot]);
    free(buf);
    free(first);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

static void run_world_over(int world, int tcp)
{
    mt_shared *sh = mt_map();
    pid_t pids[MT_MAX];
    world_arg wa = {world, tcp};
    for (int r = 0; r < world; r++) pids[r] = mt_spawn(sh, r, child_allreduce, &wa);
    int codes[MT_MAX];
    int ok = mt_wait(pids, world, 120000, codes);
    for (int r = 0; r < world; r++) {
        cr_expect_eq(sh->status[r], 0, "world %d rank %d: %s", world, r, sh->message[r]);
        cr_expect_eq(sh->mismatches[r], 0, "world %d rank %d: %d mismatches (%s)", world, r,
                     sh->mismatches[r], sh->message[r]);
        cr_expect_eq(sh->iterations[r], (int)(2 * N_SIZES), "world %d rank %d", world, r);
        cr_expect_eq(sh->world[r], world);
        cr_expect_eq(sh->generation[r], 1);
        cr_expect_eq(sh->stats[r].dropped_malformed, 0);
        /* the ranks share this host: their data goes through shared memory unless told not to */
        if (world > 1 && tcp == 0)
            /* (frames_sent also counts heartbeats and barriers, which stay on ZeroMQ) */
            cr_expect(sh->stats[r].shm_frames_sent >= 2 * N_SIZES &&
                          sh->stats[r].shm_frames_received >= 2 * N_SIZES,
                      "world %d rank %d: %llu of %llu frames sent through shared memory, %llu "
                      "received",
                      world, r, (unsigned long long)sh->stats[r].shm_frames_sent,
                      (unsigned long long)sh->stats[r].frames_sent,
                      (unsigned long long)sh->stats[r].shm_frames_received);
        if (tcp == 2) {
            /* rank 0 refuses rank 2's offer and makes none: only 1 -> 2 goes through memory */
            int out = r == 1, in = r == 2;
            cr_expect((sh->stats[r].shm_frames_sent > 0) == out &&
                          (sh->stats[r].shm_frames_received > 0) == in,
                      "rank %d: %llu frames sent, %llu received through shared memory", r,
                      (unsigned long long)sh->stats[r].shm_frames_sent,
                      (unsigned long long)sh->stats[r].shm_frames_received);
        }
        if (tcp == 1)
            cr_expect(sh->stats[r].shm_frames_sent == 0 && sh->stats[r].shm_frames_received == 0,
                      "world %d rank %d: TCP was forced, yet %llu frames went through shared "
                      "memory",
                      world, r, (unsigned long long)sh->stats[r].shm_frames_sent);
    }
    cr_assert_eq(ok, world, "world %d: %d of %d ranks succeeded", world, ok, world);
    mt_unmap(sh);
}

static void run_world(int world)
{
    run_world_over(world, 0);
}

Test(mesh, allreduce_of_one_rank_is_the_identity)
{
    run_world(1);
}

Test(mesh, allreduce_of_two_ranks_matches_the_serial_sum_bitwise_repeatably)
{
    run_world(2);
}

/* A rank killed between offering its shared memory and the next rank mapping it leaves the
 * segment in /dev/shm; the next offer on the host removes such leftovers (a dead creator, older
 * than a minute), and nothing else. */
Test(mesh, a_dead_ranks_leftover_shared_memory_is_removed_at_the_next_offer)
{
    pid_t dead = fork();
    cr_assert(dead >= 0);
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[96], young[96], alive[96];
    snprintf(stale, sizeof stale, "/dev/shm/ntgraph-mesh-%ld-00test00stale", (long)dead);
    snprintf(young, sizeof young, "/dev/shm/ntgraph-mesh-%ld-00test00young", (long)dead);
    snprintf(alive, sizeof alive, "/dev/shm/ntgraph-mesh-%ld-00test00alive", (long)getpid());
    const char *paths[3] = {stale, young, alive};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(paths[i], "w");
        if (!f) cr_skip_test("no writable /dev/shm");
        fclose(f);
    }
    struct timespec old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, stale, old, 0), 0);
    cr_assert_eq(utimensat(AT_FDCWD, alive, old, 0), 0);
    run_world(2);
    cr_expect_neq(access(stale, F_OK), 0, "%s is still there", stale);
    cr_expect_eq(access(young, F_OK), 0, "a young leftover was removed");
    cr_expect_eq(access(alive, F_OK), 0, "a live process's segment was removed");
    unlink(stale);
    unlink(young);
    unlink(alive);
}

Test(mesh, allreduce_of_three_ranks_matches_the_documented_order_bitwise_repeatably)
{
    run_world(3);
}

Test(mesh, allreduce_of_four_ranks_matches_the_documented_order_bitwise_repeatably)
{
    run_world(4);
}

/* the same sums, frames and order over TCP (cfg.force_tcp, what --mesh-tcp sets) */
Test(mesh, allreduce_over_forced_tcp_matches_the_documented_order_bitwise)
{
    run_world_over(3, 1);
}

/* a ring of mixed links: an offer refused falls back to TCP, the sums do not change */
Test(mesh, allreduce_over_mixed_links_matches_the_documented_order_bitwise)
{
    run_world_over(3, 2);
}

/* ------------------------------------------------------ buckets in flight */

static int child_buckets(mt_shared *sh, int slot, void *arg)
{
    int world = *(int *)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, world);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    enum { B = 6 };
    const size_t n[B] = {70000, 3, 0, 12345, 1, 4096};
    float *buf[B];
    for (int b = 0; b < B; b++) {
        buf[b] = malloc((n[b] + 1) * sizeof(float));
        for (size_t i = 0; i < n[b]; i++) buf[b][i] = mt_value(100u + (unsigned)b, slot, i);
    }
    /* start all (as backward produces them), then wait in another order */
    for (int b = 0; b < B && !st; b++)
        if ((st = ntg__mesh_allreduce_start(m, (uint32_t)b, buf[b], n[b], &err)))
            mt_fail(sh, slot, st, "start %d: %s", b, err.message);
    /* a bucket id already in flight is refused */
    if (!st && ntg__mesh_allreduce_start(m, 3, buf[3], n[3], &err) != NTG_ERR_STATE)
        mt_fail(sh, slot, NTG_ERR_INTERNAL, "bucket 3 started twice");
    const int order[B] = {5, 0, 3, 1, 4, 2};
    for (int k = 0; k < B && !sh->status[slot]; k++) {
        int b = order[k];
        if ((st = ntg__mesh_allreduce_wait(m, (uint32_t)b, &err))) {
            mt_fail(sh, slot, st, "wait %d: %s", b, err.message);
            break;
        }
        for (size_t i = 0; i < n[b]; i++) {
            float want = mt_ring_sum(100u + (unsigned)b, world, n[b], i);
            if (memcmp(&want, &buf[b][i], sizeof want) != 0) sh->mismatches[slot]++;
        }
        sh->iterations[slot]++;
    }
    if (!sh->status[slot] && ntg__mesh_allreduce_wait(m, 0, &err) != NTG_ERR_NOT_FOUND)
        mt_fail(sh, slot, NTG_ERR_INTERNAL, "waiting twice for bucket 0 was not NOT_FOUND");
    for (int b = 0; b < B; b++) free(buf[b]);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

Test(mesh, buckets_in_flight_together_each_sum_and_wait_in_any_order)
{
    int world = 3;
    mt_shared *sh = mt_map();
    pid_t pids[MT_MAX];
    for (int r = 0; r < world; r++) pids[r] = mt_spawn(sh, r, child_buckets, &world);
    int ok = mt_wait(pids, world, 60000, NULL);
    for (int r = 0; r < world; r++) {
        cr_expect_eq(sh->status[r], 0, "rank %d: %s", r, sh->message[r]);
        cr_expect_eq(sh->mismatches[r], 0, "rank %d", r);
        cr_expect_eq(sh->iterations[r], 6, "rank %d", r);
    }
    cr_assert_eq(ok, world);
    mt_unmap(sh);
}

/* ------------------------------------------------ gathered pieces, scaled */

/* One rank: a vector in pieces (one empty, some shorter and some longer than a frame) summed
 * where they lie with this rank's scale, against the plain all-reduce of a contiguous copy
 * scaled beforehand: bitwise equal, as the trainer's in-place sums rely on. */
static int child_pieces(mt_shared *sh, int slot, void *arg)
{
    int world = *(int *)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, world);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    enum { P = 6 };
    const size_t len[P] = {4097, 0, 1, 70001, 3, 100003};
    float *piece[P];
    size_t total = 0;
    for (int q = 0; q < P; q++) total += len[q];
    float *want = malloc(total * sizeof *want);
    double scale[2] = {1.0, (double)(slot + 1) / 7.0};
    for (int rep = 0; rep < 2 && !st; rep++) {
        size_t at = 0;
        for (int q = 0; q < P; q++) {
            piece[q] = malloc((len[q] + 1) * sizeof(float));
            for (size_t i = 0; i < len[q]; i++, at++) {
                piece[q][i] = mt_value(200u, slot, at);
                want[at] = (float)((double)piece[q][i] * scale[rep]);
            }
        }
        ntg__mesh_set_step(m, (uint64_t)(1 + rep));
        st = ntg__mesh_allreduce_startv(m, 7, piece, len, P, scale[rep], &err);
        if (!st) st = ntg__mesh_allreduce_wait(m, 7, &err);
        if (!st) st = ntg__mesh_allreduce(m, want, total, &err);
        if (st) mt_fail(sh, slot, st, "pieces, scale %g: %s", scale[rep], err.message);
        at = 0;
        for (int q = 0; q < P; q++) {
            for (size_t i = 0; !st && i < len[q]; i++, at++)
                if (memcmp(&want[at], &piece[q][i], sizeof want[at]) != 0) {
                    if (!sh->mismatches[slot])
                        snprintf(sh->message[slot], sizeof sh->message[slot],
                                 "scale %g, element %zu: %a, the copy gives %a", scale[rep], at,
                                 (double)piece[q][i], (double)want[at]);
                    sh->mismatches[slot]++;
                }
            free(piece[q]);
        }
        if (!st) sh->iterations[slot]++;
    }
    free(want);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

static void run_pieces(int world)
{
    mt_shared *sh = mt_map();
    pid_t pids[MT_MAX];
    for (int r = 0; r < world; r++) pids[r] = mt_spawn(sh, r, child_pieces, &world);
    int ok = mt_wait(pids, world, 60000, NULL);
    for (int r = 0; r < world; r++) {
        cr_expect_eq(sh->status[r], 0, "world %d rank %d: %s", world, r, sh->message[r]);
        cr_expect_eq(sh->mismatches[r], 0, "world %d rank %d: %d mismatches (%s)", world, r,
                     sh->mismatches[r], sh->message[r]);
        cr_expect_eq(sh->iterations[r], 2, "world %d rank %d", world, r);
    }
    cr_assert_eq(ok, world);
    mt_unmap(sh);
}

Test(mesh, pieces_summed_where_they_lie_and_scaled_equal_a_scaled_copy_bitwise)
{
    run_pieces(1);
    run_pieces(3);
}

/* ---------------------------------------------------------------- in place */

/* One rank: the parts of an all-reduce (reduce-scatter with this rank's scale, then all-gather)
 * over pieces that lie in a memfd region shared with the mesh (and one piece outside it), run
 * twice side by side with a private copy of the same pieces: every element bitwise equal, and
 * through shared memory some frames in place (docs/mesh.md, "In place"). */
static int child_in_place(mt_shared *sh, int slot, void *arg)
{
    int world = *(int *)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, world);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    enum { P = 4, REGION = 400000 };
    const size_t off[P] = {0, 70001, 170011, 0}, len[P] = {65537, 100003, 3, 5000};
    int fd = memfd_create("test-in-place", MFD_CLOEXEC);
    float *region = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, REGION * sizeof(float)) == 0)
        region = mmap(NULL, REGION * sizeof(float), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (region == MAP_FAILED) return mt_fail(sh, slot, NTG_ERR_IO, "memfd");
    float *outside = malloc(len[3] * sizeof *outside), *copy[P], *piece[P];
    for (int q = 0; q < P; q++) {
        copy[q] = malloc(len[q] * sizeof(float));
        piece[q] = q < 3 ? region + off[q] : outside;
    }
    size_t total = 0;
    for (int q = 0; q < P; q++) total += len[q];
    uint64_t bounds[MT_MAX + 1];
    for (int j = 0; j <= world; j++) bounds[j] = total * (uint64_t)j / (uint64_t)world;
    bounds[1] += 17; /* not the even cut */
    st = ntg__mesh_share(m, 1, region, REGION * sizeof(float), fd, &err);
    double scale = (double)(slot + 1) / 5.0;
    for (int rep = 0; rep < 4 && !st; rep++) {
        size_t at = 0;
        for (int q = 0; q < P; q++)
            for (size_t i = 0; i < len[q]; i++, at++)
                piece[q][i] = copy[q][i] = mt_value(300u + (unsigned)rep, slot, at);
        for (int part = NTG__MESH_PART_REDUCE; part <= NTG__MESH_PART_GATHER && !st; part++) {
            double sc = part == NTG__MESH_PART_REDUCE ? scale : 1.0;
            ntg__mesh_set_step(m, (uint64_t)(10 * rep + part));
            st = ntg__mesh_allreduce_startx(m, 3, piece, len, P, sc, bounds, part, &err);
            if (!st) st = ntg__mesh_allreduce_wait(m, 3, &err);
            if (!st) st = ntg__mesh_allreduce_startx(m, 4, copy, len, P, sc, bounds, part, &err);
            if (!st) st = ntg__mesh_allreduce_wait(m, 4, &err);
            if (st) {
                mt_fail(sh, slot, st, "part %d: %s", part, err.message);
                break;
            }
            at = 0;
            for (int q = 0; q < P; q++)
                for (size_t i = 0; i < len[q]; i++, at++)
                    if (memcmp(&piece[q][i], &copy[q][i], sizeof(float)) != 0) {
                        if (!sh->mismatches[slot])
                            snprintf(sh->message[slot], sizeof sh->message[slot],
                                     "part %d, element %zu: %a in place, %a copied", part, at,
                                     (double)piece[q][i], (double)copy[q][i]);
                        sh->mismatches[slot]++;
                    }
        }
        if (!st) sh->iterations[slot]++;
    }
    ntg__mesh_stats_get(m, &sh->stats[slot]);
    ntg__mesh_destroy(m);
    for (int q = 0; q < P; q++) free(copy[q]);
    free(outside);
    munmap(region, REGION * sizeof(float));
    close(fd);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

Test(mesh, parts_in_place_equal_copies_bitwise)
{
    for (int world = 2; world <= 3; world++) {
        mt_shared *sh = mt_map();
        pid_t pids[MT_MAX];
        for (int r = 0; r < world; r++) pids[r] = mt_spawn(sh, r, child_in_place, &world);
        int ok = mt_wait(pids, world, 60000, NULL);
        for (int r = 0; r < world; r++) {
            cr_expect_eq(sh->status[r], 0, "world %d rank %d: %s", world, r, sh->message[r]);
            cr_expect_eq(sh->mismatches[r], 0, "world %d rank %d: %d mismatches (%s)", world, r,
                         sh->mismatches[r], sh->message[r]);
            cr_expect_eq(sh->iterations[r], 4, "world %d rank %d", world, r);
            cr_expect(sh->stats[r].in_place_sent > 0 && sh->stats[r].in_place_received > 0,
                      "world %d rank %d: %llu frames in place sent, %llu received", world, r,
                      (unsigned long long)sh->stats[r].in_place_sent,
                      (unsigned long long)sh->stats[r].in_place_received);
        }
        cr_assert_eq(ok, world);
        mt_unmap(sh);
    }
}

/* ------------------------------------------------------ broadcast, barrier */

static int child_broadcast(mt_shared *sh, int slot, void *arg)
{
    int world = *(int *)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, world);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    const size_t sizes_b[] = {0, 1, 4095, 4096, (1u << 20) + 7};
    unsigned char *buf = malloc(sizes_b[4]);
    for (size_t k = 0; k < 5 && !st; k++) {
        size_t n = sizes_b[k];
        for (size_t i = 0; i < n; i++)
            buf[i] = slot == 0 ? (unsigned char)(i * 131 + k * 7 + (i >> 9)) : 0xAA;
        if ((st = ntg__mesh_broadcast(m, buf, n, &err))) {
            mt_fail(sh, slot, st, "broadcast of %zu: %s", n, err.message);
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)(i * 131 + k * 7 + (i >> 9))) {
                sh->mismatches[slot]++;
                break;
            }
        sh->iterations[slot]++;
    }
    free(buf);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

Test(mesh, broadcast_copies_rank_0s_bytes_to_every_rank)
{
    int world = 4;
    mt_shared *sh = mt_map();
    pid_t pids[MT_MAX];
    for (int r = 0; r < world; r++) pids[r] = mt_spawn(sh, r, child_broadcast, &world);
    int ok = mt_wait(pids, world, 60000, NULL);
    for (int r = 0; r < world; r++) {
        cr_expect_eq(sh->status[r], 0, "rank %d: %s", r, sh->message[r]);
        cr_expect_eq(sh->mismatches[r], 0, "rank %d", r);
        cr_expect_eq(sh->iterations[r], 5, "rank %d", r);
    }
    cr_assert_eq(ok, world);
    mt_unmap(sh);
}

static int child_barrier(mt_shared *sh, int slot, void *arg)
{
    int world = *(int *)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, world);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    for (int round = 0; round < 2 && !st; round++) {
        /* a different rank arrives last each round */
        int last = (round + 1) % world;
        usleep(slot == last ? 300000 : 10000);
        sh->t[slot][2 * round] = mt_now();
        if ((st = ntg__mesh_barrier(m, &err))) mt_fail(sh, slot, st, "barrier: %s", err.message);
        sh->t[slot][2 * round + 1] = mt_now();
    }
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0;
}

Test(mesh, a_barrier_waits_for_the_last_rank)
{
    int world = 3;
    mt_shared *sh = mt_map();
    pid_t pids[MT_MAX];
    for (int r = 0; r < world; r++) pids[r] = mt_spawn(sh, r, child_barrier, &world);
    int ok = mt_wait(pids, world, 60000, NULL);
    for (int r = 0; r < world; r++)
        cr_expect_eq(sh->status[r], 0, "rank %d: %s", r, sh->message[r]);
    cr_assert_eq(ok, world);
    for (int round = 0; round < 2; round++) {
        int64_t last_in = 0;
        for (int r = 0; r < world; r++)
            if (sh->t[r][2 * round] > last_in) last_in = sh->t[r][2 * round];
        for (int r = 0; r < world; r++)
            cr_assert_geq(sh->t[r][2 * round + 1], last_in,
                          "round %d: rank %d left the barrier before the last rank entered", round,
                          r);
    }
    mt_unmap(sh);
}

/* ------------------------------------------------------------ disagreement */

static int child_disagree(mt_shared *sh, int slot, void *arg)
{
    int how = *(int *)arg; /* 0: sizes differ, 1: steps differ */
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, 2);
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    float buf[101] = {0};
    size_t n = how == 0 ? 100 + (size_t)slot : 100;
    ntg__mesh_set_step(m, how == 1 ? 10 + (uint64_t)slot : 10);
    st = ntg__mesh_allreduce(m, buf, n, &err);
    mt_fail(sh, slot, st, "%s", st ? err.message : "succeeded");
    /* the generation stays broken: the next operation fails the same way, at once */
    ntg_error e2;
    if (st && ntg__mesh_allreduce(m, buf, n, &e2) != st) sh->mismatches[slot]++;
    ntg__mesh_destroy(m);
    return 0;
}

Test(mesh, ranks_that_disagree_on_a_size_or_a_step_fail_with_a_state_error)
{
    for (int how = 0; how < 2; how++) {
        mt_shared *sh = mt_map();
        pid_t pids[2];
        for (int r = 0; r < 2; r++) pids[r] = mt_spawn(sh, r, child_disagree, &how);
        mt_wait(pids, 2, 30000, NULL);
        for (int r = 0; r < 2; r++) {
            cr_assert_eq(sh->status[r], NTG_ERR_STATE, "how %d rank %d: %s", how, r,
                         sh->message[r]);
            cr_assert(strstr(sh->message[r], how == 0 ? "ranks disagree on bucket" : "at step"),
                      "how %d rank %d: %s", how, r, sh->message[r]);
            cr_assert(strstr(sh->message[r], "rank"), "%s", sh->message[r]);
            cr_assert_eq(sh->mismatches[r], 0);
        }
        mt_unmap(sh);
    }
}

/* ---------------------------------------------------- hostile frames dropped */

static int child_target(mt_shared *sh, int slot, void *arg)
{
    (void)arg;
    mt_logger lg = {sh, slot};
    ntg__mesh_config cfg;
    mt_config(&cfg, sh, &lg, slot, 2);
    /* the hostile frames come through the ring's TCP socket: keep the data there too, so the
     * all-reduce reads (and drops) them before its own frames; over shared memory it could
     * finish before the I/O thread got to them (the TCP socket then only carries control) */
    cfg.force_tcp = 1;
    ntg_mesh *m;
    ntg_error err;
    ntg_status st = ntg__mesh_create(&cfg, &m, &err);
    if (st) return mt_fail(sh, slot, st, "create: %s", err.message);
    ntg__mesh_peer self;
    ntg__mesh_peer_get(m, slot, &self);
    snprintf(sh->ring[slot], sizeof sh->ring[slot], "%s", self.ring);
    __atomic_add_fetch(&sh->go, 1, __ATOMIC_RELEASE);
    /* the attacker (slot 2) has sent its frames when go reaches 3 */
    if (mt_wait_flag(&sh->go, 3, 15000) != 0) return mt_fail(sh, slot, 0, "no attacker");
    usleep(200000);
    enum { N = 50000 };
    static float buf[N];
    for (size_t i = 0; i < N; i++) buf[i] = mt_value(9, slot, i);
    if ((st = ntg__mesh_allreduce(m, buf, N, &err)))
        mt_fail(sh, slot, st, "allreduce: %s", err.message);
    for (size_t i = 0; i < N && !st; i++) {
        float want = mt_ring_sum(9, 2, N, i);
        if (memcmp(&want, &buf[i], sizeof want) != 0) sh->mismatches[slot]++;
    }
    ntg__mesh_stats_get(m, &sh->stats[slot]);
    ntg__mesh_destroy(m);
    return sh->status[slot] != 0 || sh->mismatches[slot] != 0;
}

static void send_raw(void *sock, const void *data, size_t n)
{
    zmq_send(sock, data, n, 0);
}

/* Frames no rank should act on: garbage, lies about sizes, other generations, multipart. */
static int child_attacker(mt_shared *sh, int slot, void *arg)
{
    (void)arg;
    if (mt_wait_flag(&sh->go, 2, 15000) != 0) return mt_fail(sh, slot, 0, "no targets");
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER), *push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 2000;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(dealer, sh->endpoint);
    zmq_connect(push, sh->ring[1]);
    unsigned char hdr[NTG__MESH_HEADER + 16];
    ntg__mesh_msg h;
    memset(&h, 0, sizeof h);
    /* the rendezvous: garbage, a short frame, a heartbeat lying about its payload */
    send_raw(dealer, "GET / HTTP/1.0\r\nHost: mesh\r\nUser-Agent: not-a-mesh-worker/1.0\r\n\r\n",
             64);
    send_raw(dealer, "NTGM", 4);
    h.type = NTG__MSG_HEARTBEAT;
    h.generation = 1;
    h.payload_bytes = 1000;
    ntg__mesh_msg_write_header(hdr, &h);
    send_raw(dealer, hdr, NTG__MESH_HEADER);
    /* the ring: garbage, a data frame whose count does not match its payload, one of another
     * generation, one from a rank that is not the previous, a multipart message */
    unsigned char junk[80];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 37 + 11);
    send_raw(push, junk, sizeof junk);
    ntg__mesh_msg d;
    memset(&d, 0, sizeof d);
    d.type = NTG__MSG_REDUCE;
    d.dtype = NTG__MESH_DT_F32;
    d.generation = 1;
    d.sender = 0;
    d.total = 50000;
    d.count = 1000; /* 4000 bytes claimed, 16 sent */
    d.payload_bytes = 16;
    ntg__mesh_msg_write_header(hdr, &d);
    memset(hdr + NTG__MESH_HEADER, 0, 16);
    send_raw(push, hdr, sizeof hdr);
    d.count = 4;
    d.generation = 7;
    ntg__mesh_msg_write_header(hdr, &d);
    send_raw(push, hdr, sizeof hdr);
    d.generation = 1;
    d.sender = 5;
    ntg__mesh_msg_write_header(hdr, &d);
    send_raw(push, hdr, sizeof hdr);
    zmq_send(push, "a", 1, ZMQ_SNDMORE);
    zmq_send(push, "b", 1, 0);
    zmq_close(dealer);
    zmq_close(push);
    zmq_ctx_term(ctx); /* lingers until the frames are out */
    __atomic_add_fetch(&sh->go, 1, __ATOMIC_RELEASE);
    return 0;
}

Test(mesh, malformed_foreign_and_stale_frames_are_dropped_and_logged)
{
    mt_shared *sh = mt_map();
    pid_t pids[3];
    for (int r = 0; r < 2; r++) pids[r] = mt_spawn(sh, r, child_target, NULL);
    pids[2] = mt_spawn(sh, 2, child_attacker, NULL);
    int ok = mt_wait(pids, 3, 60000, NULL);
    for (int r = 0; r < 3; r++) cr_expect_eq(sh->status[r], 0, "%d: %s", r, sh->message[r]);
    cr_assert_eq(ok, 3);
    cr_assert_eq(sh->mismatches[0] + sh->mismatches[1], 0, "the sum changed");
    cr_assert_geq(sh->stats[0].dropped_malformed, 3, "rank 0 dropped %llu",
                  (unsigned long long)sh->stats[0].dropped_malformed);
    cr_assert_geq(sh->stats[1].dropped_malformed, 3, "rank 1 dropped %llu",
                  (unsigned long long)sh->stats[1].dropped_malformed);
    cr_assert_geq(sh->stats[1].dropped_generation, 1);
    cr_assert_geq(sh->stats[1].dropped_unexpected, 1);
    cr_assert(mt_logged(sh, 0, "dropped a frame from the rendezvous: bad magic"), "%s", sh->log[0]);
    cr_assert(mt_logged(sh, 0, "shorter than the 56-byte header"), "%s", sh->log[0]);
    cr_assert(mt_logged(sh, 0, "header says 1000 payload bytes, the frame has 0"), "%s",
              sh->log[0]);
    cr_assert(mt_logged(sh, 1, "dropped a frame from the ring: bad magic"), "%s", sh->log[1]);
    cr_assert(mt_logged(sh, 1, "1000 elements of 4 bytes do not make 16 payload bytes"), "%s",
              sh->log[1]);
    cr_assert(mt_logged(sh, 1, "a reduce frame of generation 7 (this is 1)"), "%s", sh->log[1]);
    cr_assert(mt_logged(sh, 1, "not a data frame of rank 0"), "%s", sh->log[1]);
    cr_assert(mt_logged(sh, 1, "a multipart message"), "%s", sh->log[1]);
    mt_unmap(sh);
}

/* ------------------------------------------------------------ configuration */

Test(mesh, plain_tcp_beyond_loopback_is_refused_without_insecure)
{
    ntg__mesh_config cfg;
    ntg__mesh_config_init(&cfg);
    cfg.rank = 0;
    cfg.world = 1;
    cfg.rendezvous = "tcp://0.0.0.0:0";
    cfg.log_level = -1;
    ntg_mesh *m = NULL;
    ntg_error err;
    cr_assert_eq(ntg__mesh_create(&cfg, &m, &err), NTG_ERR_INVALID_ARG);
    cr_assert_null(m);
    cr_assert(strstr(err.message, "refusing to bind") &&
                  strstr(err.message, "without CURVE keys") &&
                  strstr(err.message, "--mesh-insecure"),
              "%s", err.message);
    cfg.insecure = 1;
    cr_assert_eq(ntg__mesh_create(&cfg, &m, &err), NTG_OK, "%s", err.message);
    float x[3] = {1, 2, 3};
    cr_assert_eq(ntg__mesh_allreduce(m, x, 3, &err), NTG_OK);
    cr_assert_float_eq(x[2], 3.0f, 0);
    cr_assert_eq(ntg__mesh_barrier(m, &err), NTG_OK);
    ntg__mesh_destroy(m);
    ntg__mesh_destroy(NULL);
}

Test(mesh, the_defaults_name_a_lost_peer_within_5_s)
{
    /* a loss is noticed at the first heartbeat tick after timeout_ms of silence */
    ntg__mesh_config cfg;
    ntg__mesh_config_init(&cfg);
    cr_assert_leq(cfg.timeout_ms + cfg.heartbeat_ms, 5000, "timeout %d + heartbeat %d",
                  cfg.timeout_ms, cfg.heartbeat_ms);
    cr_assert_geq(cfg.timeout_ms, 2 * cfg.heartbeat_ms);
}

Test(mesh, bad_configurations_are_named)
{
    ntg__mesh_config cfg;
    ntg_mesh *m;
    ntg_error err;
    struct {
        int rank, world, hb, timeout;
        size_t chunk;
        const char *rdv, *why;
    } bad[] = {
        {2, 2, 500, 5000, 4096, "tcp://127.0.0.1:5000", "rank 2 is outside 0..1"},
        {0, 0, 500, 5000, 4096, "tcp://127.0.0.1:5000", "world 0 is outside 1..4096"},
        {1, 2, 500, 5000, 4096, "tcp://127.0.0.1:0", "rendezvous 'tcp://127.0.0.1:0'"},
        {0, 2, 500, 5000, 4096, "udp://127.0.0.1:5000", "is not tcp://HOST:PORT"},
        {0, 2, 500, 800, 4096, "tcp://127.0.0.1:5000", "at least two heartbeats"},
        {0, 2, 500, 5000, 4098, "tcp://127.0.0.1:5000", "ring frames of 4098 bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ntg__mesh_config_init(&cfg);
        cfg.rank = bad[i].rank;
        cfg.world = bad[i].world;
        cfg.heartbeat_ms = bad[i].hb;
        cfg.timeout_ms = bad[i].timeout;
        cfg.chunk_bytes = bad[i].chunk;
        cfg.rendezvous = bad[i].rdv;
        cr_assert_eq(ntg__mesh_create(&cfg, &m, &err), NTG_ERR_INVALID_ARG, "case %zu", i);
        cr_assert(strstr(err.message, bad[i].why), "case %zu: %s", i, err.message);
    }
    /* a worker whose rank 0 never comes gives up after the rendezvous timeout */
    ntg__mesh_config_init(&cfg);
    cfg.rank = 1;
    cfg.world = 2;
    cfg.rendezvous = "tcp://127.0.0.1:9";
    cfg.rendezvous_timeout_ms = 500;
    cfg.log_level = -1;
    cr_assert_eq(ntg__mesh_create(&cfg, &m, &err), NTG_ERR_PEER_LOST);
    cr_assert(strstr(err.message, "tcp://127.0.0.1:9"), "%s", err.message);
}
