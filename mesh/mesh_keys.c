/* mesh_keys.c — CURVE key directories, keygen, and the ZAP handler that admits only listed keys. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fileio.h"
#include "mesh_int.h"

#define KEY_FILE_MAX 4096   /* a key file is one line and some comments */
#define MAX_AUTHORIZED 4096 /* admitted keys in one directory */
#define KEY_NAME_MAX 64

typedef struct authorized {
    char name[KEY_NAME_MAX + 1];
    char key[41];
} authorized;

struct ntg__mesh_keys {
    char dir[512];
    char secret[41], public_[41];
    char coordinator[41]; /* "" when DIR/coordinator.pub is absent */
    authorized *auth;
    size_t n_auth;
};

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > KEY_NAME_MAX || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Read a key file: one line of 40 Z85 characters, '#' comment lines and blank lines around it.
 * `secret`: refuse a file that group or others may read. */
static ntg_status read_key(const char *path, int secret, char key[41], ntg_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        ntg_status st = errno == ENOENT ? NTG_ERR_NOT_FOUND : NTG_ERR_IO;
        return ntg__err(err, st, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ntg__err(err, NTG_ERR_DATA, path, 0, 0, "not a regular file");
    }
    if (secret && (sb.st_mode & 077)) {
        close(fd);
        return ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                        "a secret key that others may read (mode %04o): chmod 600 it",
                        (unsigned)(sb.st_mode & 07777));
    }
    if (sb.st_size > KEY_FILE_MAX) {
        close(fd);
        return ntg__err(err, NTG_ERR_DATA, path, 0, 0, "%lld bytes; a key file is at most %d",
                        (long long)sb.st_size, KEY_FILE_MAX);
    }
    char buf[KEY_FILE_MAX + 1];
    ssize_t got = read(fd, buf, KEY_FILE_MAX + 1);
    close(fd);
    if (got < 0) return ntg__err(err, NTG_ERR_IO, path, 0, 0, "cannot read: %s", strerror(errno));
    if (got > KEY_FILE_MAX)
        return ntg__err(err, NTG_ERR_DATA, path, 0, 0, "grew above %d bytes while read",
                        KEY_FILE_MAX);
    buf[got] = '\0';
    int found = 0, line = 0;
    for (char *p = buf, *e; p < buf + got; p = e + 1) {
        line++;
        e = memchr(p, '\n', (size_t)(buf + got - p));
        if (!e) e = buf + got;
        char *q = e;
        while (q > p && (q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t')) q--;
        size_t n = (size_t)(q - p);
        if (n == 0 || p[0] == '#') continue;
        if (found) return ntg__err(err, NTG_ERR_DATA, path, line, 0, "a second key (one per file)");
        char cand[41];
        if (n != 40 || memchr(p, '\0', n))
            return ntg__err(err, NTG_ERR_DATA, path, line, 1,
                            "%zu characters; a key is 40 Z85 characters", n);
        memcpy(cand, p, 40);
        cand[40] = '\0';
        if (!ntg__mesh_valid_key(cand))
            return ntg__err(err, NTG_ERR_DATA, path, line, 1, "not a Z85 key");
        memcpy(key, cand, 41);
        found = 1;
    }
    if (!found) return ntg__err(err, NTG_ERR_DATA, path, 0, 0, "no key in the file");
    return NTG_OK;
}

static int cmp_auth(const void *a, const void *b)
{
    return strcmp(((const authorized *)a)->key, ((const authorized *)b)->key);
}

ntg_status ntg__mesh_keys_load(const char *dir, ntg__mesh_keys **out, ntg_error *err)
{
    *out = NULL;
    if (!dir || !dir[0] || strlen(dir) > 400)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "--mesh-keys: a directory path (1..400 bytes)");
    if (!zmq_has("curve"))
        return ntg__err(err, NTG_ERR_UNSUPPORTED, dir, 0, 0,
                        "this libzmq was built without CURVE (libsodium)");
    ntg__mesh_keys *k = calloc(1, sizeof *k);
    if (!k) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    snprintf(k->dir, sizeof k->dir, "%s", dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/mesh.secret", dir);
    ntg_status st = read_key(path, 1, k->secret, err);
    if (st) goto fail;
    if (zmq_curve_public(k->public_, k->secret) != 0) {
        st = ntg__err(err, NTG_ERR_DATA, path, 0, 0, "not a CURVE secret key");
        goto fail;
    }
    char pub[41];
    snprintf(path, sizeof path, "%s/mesh.public", dir);
    ntg_error e2;
    st = read_key(path, 0, pub, &e2);
    if (st == NTG_OK && strcmp(pub, k->public_) != 0) {
        st =
            ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                     "is not the public half of mesh.secret (regenerate with ntgraph mesh keygen)");
        goto fail;
    }
    if (st != NTG_OK && st != NTG_ERR_NOT_FOUND) {
        if (err) *err = e2;
        goto fail;
    }
    snprintf(path, sizeof path, "%s/coordinator.pub", dir);
    st = read_key(path, 0, k->coordinator, &e2);
    if (st == NTG_ERR_NOT_FOUND)
        k->coordinator[0] = '\0';
    else if (st) {
        if (err) *err = e2;
        goto fail;
    }
    st = NTG_OK; /* both optional files were read or are absent */

    snprintf(path, sizeof path, "%s/authorized", dir);
    DIR *d = opendir(path);
    if (!d) {
        st = ntg__err(err, errno == ENOENT ? NTG_ERR_NOT_FOUND : NTG_ERR_IO, path, 0, 0,
                      "cannot open the allow-list directory: %s", strerror(errno));
        goto fail;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".pub") != 0) continue;
        if (!valid_name(de->d_name, n - 4)) {
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0,
                          "'%.80s': a key name is 1..%d of [A-Za-z0-9._-] before .pub", de->d_name,
                          KEY_NAME_MAX);
            break;
        }
        if (k->n_auth == MAX_AUTHORIZED) {
            st = ntg__err(err, NTG_ERR_DATA, path, 0, 0, "more than %d keys", MAX_AUTHORIZED);
            break;
        }
        if (k->n_auth == cap) {
            cap = cap ? cap * 2 : 16;
            authorized *na = realloc(k->auth, cap * sizeof *na);
            if (!na) {
                st = ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
                break;
            }
            k->auth = na;
        }
        char file[1300];
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        authorized *a = &k->auth[k->n_auth];
        if ((st = read_key(file, 0, a->key, err))) break;
        memcpy(a->name, de->d_name, n - 4);
        a->name[n - 4] = '\0';
        k->n_auth++;
    }
    closedir(d);
    if (st) goto fail;
    if (k->n_auth == 0) {
        st = ntg__err(err, NTG_ERR_NOT_FOUND, path, 0, 0,
                      "no NAME.pub files: the mesh would admit no one");
        goto fail;
    }
    qsort(k->auth, k->n_auth, sizeof *k->auth, cmp_auth);
    *out = k;
    return NTG_OK;
fail:
    ntg__mesh_keys_destroy(k);
    return st;
}

void ntg__mesh_keys_destroy(ntg__mesh_keys *k)
{
    if (!k) return;
    free(k->auth);
    /* the secret key should not outlive its use in freed memory */
    volatile char *s = k->secret;
    for (size_t i = 0; i < sizeof k->secret; i++) s[i] = 0;
    free(k);
}

const char *ntg__mesh_keys_public(const ntg__mesh_keys *k)
{
    return k ? k->public_ : NULL;
}

size_t ntg__mesh_keys_authorized(const ntg__mesh_keys *k)
{
    return k ? k->n_auth : 0;
}

const char *ntg__mesh_keys_lookup(const ntg__mesh_keys *k, const char *public_z85)
{
    if (!k || !public_z85) return NULL;
    authorized probe;
    snprintf(probe.key, sizeof probe.key, "%s", public_z85);
    const authorized *a = bsearch(&probe, k->auth, k->n_auth, sizeof *k->auth, cmp_auth);
    return a ? a->name : NULL;
}

const char *ntg__mesh_keys_coordinator(const ntg__mesh_keys *k)
{
    return k->coordinator[0] ? k->coordinator : k->public_;
}

/* ----------------------------------------------------------------- keygen */

static ntg_status write_file(const char *path, const char *text, mode_t mode, ntg_error *err)
{
    ntg_span whole = {text, strlen(text)};
    return ntg__file_replace_mode(path, &whole, 1, (unsigned)mode, err);
}

void ntg__mesh_default_key_name(char out[65])
{
    char host[256];
    if (gethostname(host, sizeof host) != 0) host[0] = '\0';
    host[sizeof host - 1] = '\0';
    char *dot = strchr(host, '.');
    if (dot) *dot = '\0';
    size_t n = 0;
    for (const char *p = host; *p && n < KEY_NAME_MAX; p++) out[n++] = valid_name(p, 1) ? *p : '-';
    out[n] = '\0';
    if (n == 0) snprintf(out, 65, "worker");
}

ntg_status ntg__mesh_keygen(const char *dir, const char *name, int force, char public_z85[41],
                            ntg_error *err)
{
    if (!dir || !dir[0] || strlen(dir) > 400)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "keygen: a directory path (1..400 bytes)");
    char host[KEY_NAME_MAX + 1];
    if (!name || !name[0]) {
        ntg__mesh_default_key_name(host);
        name = host;
    }
    if (!valid_name(name, strlen(name)))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "keygen: name '%.80s': 1..%d of [A-Za-z0-9._-], not starting with '.'",
                         name, KEY_NAME_MAX);
    if (!zmq_has("curve"))
        return ntg__err(err, NTG_ERR_UNSUPPORTED, dir, 0, 0,
                        "this libzmq was built without CURVE (libsodium)");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ntg__err(err, NTG_ERR_IO, dir, 0, 0, "cannot create: %s", strerror(errno));
    char path[1024], text[256];
    snprintf(path, sizeof path, "%s/mesh.secret", dir);
    struct stat sb;
    if (!force && lstat(path, &sb) == 0)
        return ntg__err(err, NTG_ERR_STATE, path, 0, 0,
                        "exists; keygen does not replace a key (give --force to)");
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0)
        return ntg__err(err, NTG_ERR_UNSUPPORTED, dir, 0, 0, "zmq_curve_keypair: %s",
                        zmq_strerror(zmq_errno()));
    snprintf(text, sizeof text, "# ntgraph mesh CURVE secret key (Z85); keep it private\n%s\n",
             sec);
    ntg_status st = write_file(path, text, 0600, err);
    memset(sec, 0, sizeof sec);
    memset(text, 0, sizeof text);
    if (st) return st;
    snprintf(path, sizeof path, "%s/mesh.public", dir);
    snprintf(text, sizeof text, "# ntgraph mesh CURVE public key (Z85) of '%s'\n%s\n", name, pub);
    if ((st = write_file(path, text, 0644, err))) return st;
    snprintf(path, sizeof path, "%s/authorized", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return ntg__err(err, NTG_ERR_IO, path, 0, 0, "cannot create: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/authorized/%s.pub", dir, name);
    if ((st = write_file(path, text, 0644, err))) return st;
    if (public_z85) memcpy(public_z85, pub, 41);
    return NTG_OK;
}

/* ------------------------------------------------------------ socket options */

int ntg__mesh_curve_server(ntg_mesh *m, void *sock)
{
    if (!m->keys) return 0;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) return -1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, m->keys->secret, 41) != 0) return -1;
    return zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, NTG__MESH_ZAP_DOMAIN, strlen(NTG__MESH_ZAP_DOMAIN));
}

int ntg__mesh_curve_client(ntg_mesh *m, void *sock, const char *server_key)
{
    if (!m->keys) return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, 41) != 0) return -1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, m->keys->public_, 41) != 0) return -1;
    return zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, m->keys->secret, 41);
}

/* ------------------------------------------------------------ ZAP handler */

/* ZAP (rfc.zeromq.org/spec:27): libzmq asks, for every CURVE handshake on a server socket of
 * this context, with frames version "1.0", request id, domain, peer address, routing id,
 * mechanism, and the client's 32-byte public key; we answer version, the same request id,
 * status "200" or "400", a status text, the user id (we give the Z85 key, which the mesh
 * compares with the key a HELLO claims) and empty metadata. */
#define ZAP_PARTS 8

static void zap_reply(void *sock, const void *reqid, size_t reqid_len, const char *code,
                      const char *text, const char *user)
{
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, reqid, reqid_len, ZMQ_SNDMORE);
    zmq_send(sock, code, 3, ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

static void zap_handle(ntg_mesh *m)
{
    zmq_msg_t part[ZAP_PARTS];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, m->zap.sock, 0) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (n < ZAP_PARTS)
            part[n++] = tmp;
        else
            zmq_msg_close(&tmp);
    }
    if (n < 6) {
        /* not a ZAP request; REP still owes an answer */
        zap_reply(m->zap.sock, "", 0, "500", "malformed ZAP request", "");
    } else {
        const void *reqid = zmq_msg_data(&part[1]);
        size_t reqid_len = zmq_msg_size(&part[1]);
        char addr[64] = "?", mech[16] = "?";
        size_t al = zmq_msg_size(&part[3]), ml = zmq_msg_size(&part[5]);
        if (al < sizeof addr) {
            memcpy(addr, zmq_msg_data(&part[3]), al);
            addr[al] = '\0';
        }
        for (char *p = addr; *p; p++)
            if (*p < 0x20 || *p > 0x7e) *p = '?';
        if (ml < sizeof mech) {
            memcpy(mech, zmq_msg_data(&part[5]), ml);
            mech[ml] = '\0';
        }
        char key[41] = "";
        if (n >= 7 && strcmp(mech, "CURVE") == 0 && zmq_msg_size(&part[6]) == 32)
            zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
        const char *who = key[0] ? ntg__mesh_keys_lookup(m->keys, key) : NULL;
        if (who) {
            ntg__mesh_log(m, NTG__MESH_LOG_DEBUG, "admitted CURVE key '%s' from %s", who, addr);
            zap_reply(m->zap.sock, reqid, reqid_len, "200", "OK", key);
        } else {
            pthread_mutex_lock(&m->mu);
            m->stats.refused_keys++;
            pthread_mutex_unlock(&m->mu);
            if (key[0])
                ntg__mesh_log(
                    m, NTG__MESH_LOG_WARN,
                    "refused a CURVE client from %s: public key %s is not in %s/authorized", addr,
                    key, m->keys_dir);
            else
                ntg__mesh_log(m, NTG__MESH_LOG_WARN,
                              "refused a client from %s: mechanism %s (CURVE keys required)", addr,
                              mech);
            zap_reply(m->zap.sock, reqid, reqid_len, "400", "key not authorized", "");
        }
    }
    for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
}

static void *zap_main(void *arg)
{
    ntg_mesh *m = arg;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        int stop = m->zap.stop;
        pthread_mutex_unlock(&m->mu);
        if (stop) break;
        zmq_pollitem_t it = {m->zap.sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 100);
        if (rc < 0 && zmq_errno() == ETERM) break;
        if (rc > 0 && (it.revents & ZMQ_POLLIN)) zap_handle(m);
    }
    return NULL;
}

ntg_status ntg__mesh_zap_start(ntg_mesh *m, ntg_error *err)
{
    m->zap.sock = zmq_socket(m->ctx, ZMQ_REP);
    if (!m->zap.sock)
        return ntg__fail(err, NTG_ERR_IO, "mesh: ZAP socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0;
    zmq_setsockopt(m->zap.sock, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(m->zap.sock, "inproc://zeromq.zap.01") != 0) {
        ntg_status st = ntg__fail(err, NTG_ERR_IO, "mesh: binding the ZAP handler: %s",
                                  zmq_strerror(zmq_errno()));
        zmq_close(m->zap.sock);
        m->zap.sock = NULL;
        return st;
    }
    m->zap.stop = 0;
    if (pthread_create(&m->zap.thread, NULL, zap_main, m) != 0) {
        zmq_close(m->zap.sock);
        m->zap.sock = NULL;
        return ntg__fail(err, NTG_ERR_NOMEM, "mesh: cannot start the ZAP thread");
    }
    m->zap.running = 1;
    return NTG_OK;
}

void ntg__mesh_zap_stop(ntg_mesh *m)
{
    if (m->zap.running) {
        pthread_mutex_lock(&m->mu);
        m->zap.stop = 1;
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->zap.thread, NULL);
        m->zap.running = 0;
    }
    if (m->zap.sock) zmq_close(m->zap.sock);
    m->zap.sock = NULL;
}
