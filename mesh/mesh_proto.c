/* mesh_proto.c — encoding and checking mesh frames, control payloads and the ring schedule. */
#include "mesh_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"

static const char *const type_names[NTG__MSG_TYPE_MAX + 1] = {
    NULL,      "hello",     "welcome", "refuse",    "ring-hello", "ready",
    "go",      "heartbeat", "lost",    "reset",     "evicted",    "barrier",
    "release", "reduce",    "gather",  "broadcast", "bye",
};

const char *ntg__mesh_type_name(unsigned type)
{
    return type <= NTG__MSG_TYPE_MAX ? type_names[type] : NULL;
}

/* ----------------------------------------------------------------- header */

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void ntg__mesh_msg_write_header(unsigned char out[NTG__MESH_HEADER], const ntg__mesh_msg *m)
{
    put32(out + 0, NTG__MESH_MAGIC);
    put16(out + 4, NTG__MESH_VERSION);
    out[6] = m->type;
    out[7] = m->dtype;
    put32(out + 8, m->generation);
    put32(out + 12, m->sender);
    put64(out + 16, m->step);
    put32(out + 24, m->bucket);
    put16(out + 28, m->phase);
    put16(out + 30, m->flags);
    put64(out + 32, m->offset);
    put64(out + 40, m->total);
    put32(out + 48, m->count);
    put32(out + 52, m->payload_bytes);
}

static int is_data(unsigned type)
{
    return type == NTG__MSG_REDUCE || type == NTG__MSG_GATHER || type == NTG__MSG_BCAST;
}

ntg_status ntg__mesh_msg_decode(const void *frame, size_t size, ntg__mesh_msg *m, ntg_error *err)
{
    const unsigned char *p = frame;
    memset(m, 0, sizeof *m);
    if (!p || size < NTG__MESH_HEADER)
        return ntg__fail(err, NTG_ERR_DATA,
                         "a frame of %zu bytes is shorter than the %u-byte header", size,
                         NTG__MESH_HEADER);
    uint32_t magic = get32(p);
    if (magic != NTG__MESH_MAGIC)
        return ntg__fail(err, NTG_ERR_DATA, "bad magic 0x%08x (not an ntgraph mesh frame)",
                         (unsigned)magic);
    unsigned version = get16(p + 4);
    if (version != NTG__MESH_VERSION)
        return ntg__fail(err, NTG_ERR_DATA, "protocol version %u; this build speaks version %u",
                         version, NTG__MESH_VERSION);
    m->type = p[6];
    m->dtype = p[7];
    m->generation = get32(p + 8);
    m->sender = get32(p + 12);
    m->step = get64(p + 16);
    m->bucket = get32(p + 24);
    m->phase = get16(p + 28);
    m->flags = get16(p + 30);
    m->offset = get64(p + 32);
    m->total = get64(p + 40);
    m->count = get32(p + 48);
    m->payload_bytes = get32(p + 52);
    const char *tn = ntg__mesh_type_name(m->type);
    if (!tn) return ntg__fail(err, NTG_ERR_DATA, "unknown message type %u", m->type);
    if (m->flags & ~NTG__MESH_FLAG_IN_PLACE)
        return ntg__fail(err, NTG_ERR_DATA,
                         "%s frame with flags 0x%04x (only 0x0001, in place, is defined)", tn,
                         m->flags);
    if (m->flags && m->type != NTG__MSG_REDUCE && m->type != NTG__MSG_GATHER)
        return ntg__fail(err, NTG_ERR_DATA,
                         "%s frame with flags 0x%04x (in place: reduce and gather frames only)", tn,
                         m->flags);
    if ((uint64_t)m->payload_bytes != (uint64_t)(size - NTG__MESH_HEADER))
        return ntg__fail(err, NTG_ERR_DATA,
                         "%s frame: header says %u payload bytes, the frame has %zu", tn,
                         m->payload_bytes, size - NTG__MESH_HEADER);
    if (m->sender != NTG__MESH_NO_RANK && m->sender >= NTG__MESH_MAX_WORLD)
        return ntg__fail(err, NTG_ERR_DATA, "%s frame from rank %u (at most %u ranks)", tn,
                         (unsigned)m->sender, NTG__MESH_MAX_WORLD);
    if (is_data(m->type)) {
        unsigned want = m->type == NTG__MSG_BCAST ? NTG__MESH_DT_BYTES : NTG__MESH_DT_F32;
        if (m->dtype != want)
            return ntg__fail(err, NTG_ERR_DATA, "%s frame with dtype %u (expected %u)", tn,
                             m->dtype, want);
        if (m->payload_bytes > NTG__MESH_MAX_DATA_PAYLOAD)
            return ntg__fail(err, NTG_ERR_DATA, "%s frame of %u payload bytes (limit %u)", tn,
                             m->payload_bytes, NTG__MESH_MAX_DATA_PAYLOAD);
        uint64_t esize = m->dtype == NTG__MESH_DT_F32 ? 4 : 1;
        if (m->flags && (m->count == 0 || m->payload_bytes != NTG__MESH_IN_PLACE_PAYLOAD))
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s frame in place: %u elements with %u payload bytes (expected "
                             "%u, the sender's scale)",
                             tn, m->count, m->payload_bytes, NTG__MESH_IN_PLACE_PAYLOAD);
        if (!m->flags && (m->count == 0 || (uint64_t)m->count * esize != m->payload_bytes))
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s frame: %u elements of %u bytes do not make %u payload bytes", tn,
                             m->count, (unsigned)esize, m->payload_bytes);
        if (m->total > NTG__MESH_MAX_TOTAL)
            return ntg__fail(err, NTG_ERR_DATA, "%s frame: buffer of %llu elements (limit %llu)",
                             tn, (unsigned long long)m->total,
                             (unsigned long long)NTG__MESH_MAX_TOTAL);
        if (m->offset > m->total || m->count > m->total - m->offset)
            return ntg__fail(
                err, NTG_ERR_DATA, "%s frame: elements %llu..%llu lie outside a buffer of %llu", tn,
                (unsigned long long)m->offset, (unsigned long long)m->offset + m->count,
                (unsigned long long)m->total);
    } else {
        if (m->dtype != NTG__MESH_DT_NONE || m->count != 0 || m->offset != 0 || m->total != 0 ||
            m->phase != 0)
            return ntg__fail(err, NTG_ERR_DATA,
                             "%s frame (control) with data fields set (dtype %u, count %u)", tn,
                             m->dtype, m->count);
        if (m->payload_bytes > NTG__MESH_MAX_CTRL_PAYLOAD)
            return ntg__fail(err, NTG_ERR_DATA, "%s frame of %u payload bytes (limit %u)", tn,
                             m->payload_bytes, NTG__MESH_MAX_CTRL_PAYLOAD);
    }
    m->payload = p + NTG__MESH_HEADER;
    return NTG_OK;
}

/* --------------------------------------------------------------- key=value */

static int key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

ntg_status ntg__mesh_kv_check(const unsigned char *p, size_t n, ntg_error *err)
{
    size_t line = 1, i = 0;
    while (i < n) {
        size_t k = 0;
        while (i + k < n && key_char(p[i + k])) k++;
        if (k == 0 || k > 31)
            return ntg__fail(err, NTG_ERR_DATA,
                             "payload line %zu: a key of 1..31 of [a-z_] expected", line);
        if (i + k >= n || p[i + k] != '=')
            return ntg__fail(err, NTG_ERR_DATA, "payload line %zu: '=' expected after the key",
                             line);
        size_t v = i + k + 1, e = v;
        while (e < n && p[e] != '\n') {
            if (p[e] < 0x20 || p[e] > 0x7e)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "payload line %zu: byte 0x%02x in a value (printable ASCII only)",
                                 line, p[e]);
            e++;
        }
        if (e >= n)
            return ntg__fail(err, NTG_ERR_DATA, "payload line %zu: not terminated by a newline",
                             line);
        if (e - v >= NTG__MESH_KV_VALUE_MAX)
            return ntg__fail(err, NTG_ERR_DATA, "payload line %zu: a value of %zu bytes (limit %d)",
                             line, e - v, NTG__MESH_KV_VALUE_MAX - 1);
        i = e + 1;
        line++;
    }
    return NTG_OK;
}

int ntg__mesh_kv_get(const unsigned char *p, size_t n, const char *key, size_t index, char *out,
                     size_t cap)
{
    size_t klen = strlen(key), i = 0, seen = 0;
    while (i < n) {
        const unsigned char *nl = memchr(p + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - p) : n;
        if (e - i > klen && memcmp(p + i, key, klen) == 0 && p[i + klen] == '=') {
            if (seen++ == index) {
                size_t vl = e - (i + klen + 1);
                if (cap == 0) return 0;
                if (vl >= cap) vl = cap - 1;
                memcpy(out, p + i + klen + 1, vl);
                out[vl] = '\0';
                return 0;
            }
        }
        i = e + 1;
    }
    return -1;
}

ntg_status ntg__mesh_kv_int(const unsigned char *p, size_t n, const char *key, long long lo,
                            long long hi, long long *out, ntg_error *err)
{
    char v[NTG__MESH_KV_VALUE_MAX];
    if (ntg__mesh_kv_get(p, n, key, 0, v, sizeof v) != 0)
        return ntg__fail(err, NTG_ERR_DATA, "no '%s' in the payload", key);
    const char *s = v;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (*s < '0' || *s > '9' || strlen(s) > 18)
        return ntg__fail(err, NTG_ERR_DATA, "'%s=%s' is not an integer", key, v);
    long long x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return ntg__fail(err, NTG_ERR_DATA, "'%s=%s' is not an integer", key, v);
        x = x * 10 + (*s - '0');
    }
    if (neg) x = -x;
    if (x < lo || x > hi)
        return ntg__fail(err, NTG_ERR_DATA, "'%s=%lld' is outside %lld..%lld", key, x, lo, hi);
    *out = x;
    return NTG_OK;
}

/* -------------------------------------------------------------- field checks */

int ntg__mesh_valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return 0;
    }
    return 1;
}

int ntg__mesh_valid_endpoint(const char *s)
{
    if (strncmp(s, "tcp://", 6) != 0) return 0;
    const char *h = s + 6, *colon;
    if (*h == '[') {
        const char *rb = strchr(h, ']');
        if (!rb || rb == h + 1 || rb[1] != ':') return 0;
        for (const char *q = h + 1; q < rb; q++)
            if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
                return 0;
        colon = rb + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon || colon == h || (size_t)(colon - h) > 63) return 0;
        for (const char *q = h; q < colon; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '_' || *q == '*'))
                return 0;
    }
    const char *port = colon + 1;
    size_t pl = strlen(port);
    if (pl < 1 || pl > 5) return 0;
    long v = 0;
    for (const char *q = port; *q; q++) {
        if (*q < '0' || *q > '9') return 0;
        v = v * 10 + (*q - '0');
    }
    return v >= 1 && v <= 65535;
}

int ntg__mesh_valid_key(const char *s)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+="
                              "^!/*?&<>()[]{}@%$#";
    if (strlen(s) != 40) return 0;
    for (size_t i = 0; i < 40; i++)
        if (!strchr(z85, s[i]) || s[i] == '\0') return 0;
    return 1;
}

/* ------------------------------------------------------------------ hello */

size_t ntg__mesh_hello_write(const ntg__mesh_hello *h, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "rank=%d\nworld=%d\npid=%ld\nhost=%s\nring=%s\nkey=%s\nprev_generation=%u\n"
                     "prev_rank=%d\n",
                     h->rank, h->world, h->pid, h->host, h->ring, h->key,
                     (unsigned)h->prev_generation, h->prev_rank);
    return n < 0 ? 0 : (size_t)n;
}

static ntg_status get_str(const unsigned char *p, size_t n, const char *key, char *out, size_t cap,
                          int (*valid)(const char *), int optional, ntg_error *err)
{
    char v[NTG__MESH_KV_VALUE_MAX];
    if (ntg__mesh_kv_get(p, n, key, 0, v, sizeof v) != 0)
        return ntg__fail(err, NTG_ERR_DATA, "no '%s' in the payload", key);
    if (optional && v[0] == '\0') {
        out[0] = '\0';
        return NTG_OK;
    }
    if (strlen(v) >= cap || !valid(v))
        return ntg__fail(err, NTG_ERR_DATA, "'%s=%.80s' is not a valid %s", key, v, key);
    memcpy(out, v, strlen(v) + 1);
    return NTG_OK;
}

ntg_status ntg__mesh_hello_parse(const unsigned char *p, size_t n, ntg__mesh_hello *h,
                                 ntg_error *err)
{
    memset(h, 0, sizeof *h);
    ntg_status st = ntg__mesh_kv_check(p, n, err);
    if (st) return st;
    long long v;
    if ((st = ntg__mesh_kv_int(p, n, "world", 0, NTG__MESH_MAX_WORLD, &v, err))) return st;
    h->world = (int)v;
    if ((st = ntg__mesh_kv_int(p, n, "rank", -1, NTG__MESH_MAX_WORLD - 1, &v, err))) return st;
    h->rank = (int)v;
    if (h->world > 0 && h->rank >= h->world)
        return ntg__fail(err, NTG_ERR_DATA, "rank %d of a world of %d", h->rank, h->world);
    if ((st = ntg__mesh_kv_int(p, n, "pid", 1, 0x7fffffff, &v, err))) return st;
    h->pid = (long)v;
    if ((st = ntg__mesh_kv_int(p, n, "prev_generation", 0, 0xffffffffLL, &v, err))) return st;
    h->prev_generation = (uint32_t)v;
    if ((st = ntg__mesh_kv_int(p, n, "prev_rank", -1, NTG__MESH_MAX_WORLD - 1, &v, err))) return st;
    h->prev_rank = (int)v;
    if ((st = get_str(p, n, "host", h->host, sizeof h->host, ntg__mesh_valid_host, 0, err)))
        return st;
    if ((st = get_str(p, n, "ring", h->ring, sizeof h->ring, ntg__mesh_valid_endpoint, 0, err)))
        return st;
    if ((st = get_str(p, n, "key", h->key, sizeof h->key, ntg__mesh_valid_key, 1, err))) return st;
    return NTG_OK;
}

/* ---------------------------------------------------------------- welcome */

size_t ntg__mesh_welcome_write(uint32_t generation, int rank, int world, uint64_t chunk_bytes,
                               const ntg__mesh_peer_info *peers, char *out, size_t cap)
{
    size_t used = 0;
    char line[NTG__MESH_KV_VALUE_MAX + 16];
    int n = snprintf(line, sizeof line, "generation=%u\nrank=%d\nworld=%d\nchunk=%llu\n",
                     (unsigned)generation, rank, world, (unsigned long long)chunk_bytes);
    for (int r = -1; r < world; r++) {
        if (r >= 0)
            n = snprintf(line, sizeof line, "peer=%d %ld %s %s %s\n", peers[r].rank, peers[r].pid,
                         peers[r].host, peers[r].ring, peers[r].key[0] ? peers[r].key : "-");
        if (n < 0) return 0;
        if (used + (size_t)n < cap) memcpy(out + used, line, (size_t)n);
        used += (size_t)n;
    }
    if (used < cap)
        out[used] = '\0';
    else if (cap)
        out[cap - 1] = '\0';
    return used;
}

/* Split `s` at spaces into fields (modifies s); returns the count, max + 1 when there are more. */
static int split_fields(char *s, char **f, int max)
{
    int k = 0;
    for (;;) {
        if (k == max) return max + 1;
        f[k++] = s;
        char *sp = strchr(s, ' ');
        if (!sp) return k;
        *sp = '\0';
        s = sp + 1;
    }
}

/* One "peer=" value into peers[i]. */
static ntg_status parse_peer(char *line, int i, ntg__mesh_peer_info *peer, ntg_error *err)
{
    char *f[5];
    if (split_fields(line, f, 5) != 5)
        return ntg__fail(err, NTG_ERR_DATA, "peer line %d: 5 fields expected", i);
    char *end;
    long pr = strtol(f[0], &end, 10);
    if (*end || end == f[0] || pr != i)
        return ntg__fail(err, NTG_ERR_DATA, "peer line %d names rank '%.16s'", i, f[0]);
    long pid = strtol(f[1], &end, 10);
    if (*end || end == f[1] || pid < 1 || pid > 0x7fffffffL)
        return ntg__fail(err, NTG_ERR_DATA, "peer %d: bad pid '%.16s'", i, f[1]);
    if (!ntg__mesh_valid_host(f[2]) || strlen(f[2]) >= sizeof peer->host)
        return ntg__fail(err, NTG_ERR_DATA, "peer %d: bad host '%.64s'", i, f[2]);
    if (!ntg__mesh_valid_endpoint(f[3]) || strlen(f[3]) >= sizeof peer->ring)
        return ntg__fail(err, NTG_ERR_DATA, "peer %d: bad ring endpoint '%.128s'", i, f[3]);
    int nokey = strcmp(f[4], "-") == 0;
    if (!nokey && !ntg__mesh_valid_key(f[4]))
        return ntg__fail(err, NTG_ERR_DATA, "peer %d: bad key '%.48s'", i, f[4]);
    peer->rank = i;
    peer->pid = pid;
    memcpy(peer->host, f[2], strlen(f[2]) + 1);
    memcpy(peer->ring, f[3], strlen(f[3]) + 1);
    if (nokey)
        peer->key[0] = '\0';
    else
        memcpy(peer->key, f[4], 41);
    return NTG_OK;
}

ntg_status ntg__mesh_welcome_parse(const unsigned char *p, size_t n, uint32_t *generation,
                                   int *rank, int *world, uint64_t *chunk_bytes,
                                   ntg__mesh_peer_info *peers, int max_world, ntg_error *err)
{
    ntg_status st = ntg__mesh_kv_check(p, n, err);
    if (st) return st;
    long long g, r, w, c;
    if ((st = ntg__mesh_kv_int(p, n, "chunk", 64, NTG__MESH_MAX_DATA_PAYLOAD, &c, err))) return st;
    if (c % 4 != 0)
        return ntg__fail(err, NTG_ERR_DATA, "a ring frame of %lld bytes (a multiple of 4 expected)",
                         c);
    if ((st = ntg__mesh_kv_int(p, n, "generation", 1, 0xffffffffLL, &g, err))) return st;
    if ((st = ntg__mesh_kv_int(p, n, "world", 1, NTG__MESH_MAX_WORLD, &w, err))) return st;
    if ((st = ntg__mesh_kv_int(p, n, "rank", 0, w - 1, &r, err))) return st;
    if (w > max_world)
        return ntg__fail(err, NTG_ERR_DATA, "a layout of %lld ranks (room for %d)", w, max_world);
    /* one pass over the lines: a layout of thousands of peers must not cost quadratic time */
    int count = 0;
    size_t i = 0;
    while (i < n) {
        const unsigned char *nl = memchr(p + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - p) : n;
        if (e - i > 5 && memcmp(p + i, "peer=", 5) == 0) {
            if (count >= (int)w)
                return ntg__fail(err, NTG_ERR_DATA,
                                 "the layout lists more peers than its world of %lld", w);
            char line[NTG__MESH_KV_VALUE_MAX];
            size_t vl = e - i - 5; /* below the limit: ntg__mesh_kv_check passed */
            memcpy(line, p + i + 5, vl);
            line[vl] = '\0';
            if ((st = parse_peer(line, count, &peers[count], err))) return st;
            count++;
        }
        i = e + 1;
    }
    if (count != (int)w)
        return ntg__fail(err, NTG_ERR_DATA, "the layout lists %d peers for a world of %lld", count,
                         w);
    *generation = (uint32_t)g;
    *chunk_bytes = (uint64_t)c;
    *rank = (int)r;
    *world = (int)w;
    return NTG_OK;
}

/* --------------------------------------------------------------- schedule */

static ntg_status sched_setup(ntg__mesh_sched *s, int kind, int rank, int world, uint64_t total,
                              uint64_t chunk, const uint64_t *bounds, int part, ntg_error *err)
{
    memset(s, 0, sizeof *s);
    if (world < 1 || world > NTG__MESH_MAX_WORLD)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "a world of %d ranks (1..%d)", world,
                         NTG__MESH_MAX_WORLD);
    if (rank < 0 || rank >= world)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "rank %d of a world of %d", rank, world);
    if (chunk == 0 || chunk > NTG__MESH_MAX_DATA_PAYLOAD)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "a chunk of %llu elements",
                         (unsigned long long)chunk);
    if (total > NTG__MESH_MAX_TOTAL)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "a buffer of %llu elements (limit %llu)",
                         (unsigned long long)total, (unsigned long long)NTG__MESH_MAX_TOTAL);
    if (kind != 0 && kind != 1)
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "schedule kind %d", kind);
    if (part < NTG__MESH_PART_ALL || part > NTG__MESH_PART_GATHER || (part && kind != 0))
        return ntg__fail(err, NTG_ERR_INVALID_ARG, "part %d of a schedule of kind %d", part, kind);
    if (bounds) {
        if (kind != 0 || bounds[0] != 0 || bounds[world] != total)
            return ntg__fail(err, NTG_ERR_INVALID_ARG,
                             "segment bounds %llu .. %llu do not cut a buffer of %llu elements",
                             (unsigned long long)bounds[0], (unsigned long long)bounds[world],
                             (unsigned long long)total);
        for (int j = 0; j < world; j++)
            if (bounds[j + 1] < bounds[j])
                return ntg__fail(err, NTG_ERR_INVALID_ARG, "segment %d ends before it starts", j);
    }
    s->kind = kind;
    s->rank = rank;
    s->world = world;
    s->total = total;
    s->chunk = chunk;
    s->bounds = bounds;
    if (kind == 0) {
        uint32_t half = world > 1 ? (uint32_t)(world - 1) : 0;
        s->step0 = part == NTG__MESH_PART_GATHER ? half : 0;
        s->steps = part == NTG__MESH_PART_REDUCE ? half : 2 * half;
        for (uint32_t t = s->step0; t < s->steps; t++) {
            s->sends += ntg__mesh_sched_chunks(s, ntg__mesh_sched_seg_at(s, 0, t));
            s->recvs += ntg__mesh_sched_chunks(s, ntg__mesh_sched_seg_at(s, 1, t));
        }
    } else {
        s->steps = world > 1 ? 1 : 0;
        uint64_t k = ntg__mesh_sched_chunks(s, 0);
        if (world > 1) {
            s->sends = rank < world - 1 ? k : 0;
            s->recvs = rank > 0 ? k : 0;
        }
    }
    return NTG_OK;
}

ntg_status ntg__mesh_sched_init(ntg__mesh_sched *s, int kind, int rank, int world, uint64_t total,
                                uint64_t chunk, ntg_error *err)
{
    return sched_setup(s, kind, rank, world, total, chunk, NULL, NTG__MESH_PART_ALL, err);
}

ntg_status ntg__mesh_sched_init_part(ntg__mesh_sched *s, int rank, int world, uint64_t total,
                                     uint64_t chunk, const uint64_t *bounds, int part,
                                     ntg_error *err)
{
    return sched_setup(s, 0, rank, world, total, chunk, bounds, part, err);
}

int ntg__mesh_sched_owned(int rank, int world)
{
    return world > 0 ? (rank + 1) % world : 0;
}

void ntg__mesh_sched_segment(const ntg__mesh_sched *s, int j, uint64_t *start, uint64_t *len)
{
    if (s->kind == 1) {
        *start = 0;
        *len = s->total;
        return;
    }
    if (s->bounds) {
        *start = s->bounds[j];
        *len = s->bounds[j + 1] - s->bounds[j];
        return;
    }
    uint64_t w = (uint64_t)s->world, base = s->total / w, rem = s->total % w, uj = (uint64_t)j;
    *start = uj * base + (uj < rem ? uj : rem);
    *len = base + (uj < rem ? 1 : 0);
}

int ntg__mesh_sched_seg_at(const ntg__mesh_sched *s, int dir, uint32_t step)
{
    if (s->kind == 1) return 0;
    int w = s->world, r = s->rank, st = (int)step, seg;
    if (st < w - 1)
        seg = dir == 0 ? r - st : r - st - 1;
    else
        seg = dir == 0 ? r + 1 - (st - (w - 1)) : r - (st - (w - 1));
    seg %= w;
    return seg < 0 ? seg + w : seg;
}

uint64_t ntg__mesh_sched_chunks(const ntg__mesh_sched *s, int j)
{
    uint64_t start, len;
    ntg__mesh_sched_segment(s, j, &start, &len);
    return (len + s->chunk - 1) / s->chunk;
}

/* Move the cursor to the first step >= c->step whose segment has chunks. */
static void skip_empty(const ntg__mesh_sched *s, int dir, ntg__mesh_cursor *c)
{
    while (c->step < s->steps &&
           ntg__mesh_sched_chunks(s, ntg__mesh_sched_seg_at(s, dir, c->step)) == 0)
        c->step++;
}

void ntg__mesh_cursor_start(const ntg__mesh_sched *s, int dir, ntg__mesh_cursor *c)
{
    c->step = s->step0;
    c->chunk = 0;
    c->index = 0;
    skip_empty(s, dir, c);
}

void ntg__mesh_cursor_next(const ntg__mesh_sched *s, int dir, ntg__mesh_cursor *c)
{
    c->index++;
    c->chunk++;
    if (c->chunk >= ntg__mesh_sched_chunks(s, ntg__mesh_sched_seg_at(s, dir, c->step))) {
        c->chunk = 0;
        c->step++;
        skip_empty(s, dir, c);
    }
}

void ntg__mesh_cursor_frame(const ntg__mesh_sched *s, int dir, const ntg__mesh_cursor *c,
                            uint64_t *offset, uint32_t *count, unsigned *type)
{
    uint64_t start, len;
    ntg__mesh_sched_segment(s, ntg__mesh_sched_seg_at(s, dir, c->step), &start, &len);
    uint64_t off = c->chunk * s->chunk;
    uint64_t n = len - off < s->chunk ? len - off : s->chunk;
    *offset = start + off;
    *count = (uint32_t)n;
    if (s->kind == 1)
        *type = NTG__MSG_BCAST;
    else
        *type = c->step < (uint32_t)(s->world - 1) ? NTG__MSG_REDUCE : NTG__MSG_GATHER;
}

ntg_status ntg__mesh_sched_expect(const ntg__mesh_sched *s, const ntg__mesh_cursor *c,
                                  const ntg__mesh_msg *m, ntg_error *err)
{
    if (c->index >= s->recvs)
        return ntg__fail(err, NTG_ERR_DATA, "a %s frame after the last one expected",
                         ntg__mesh_type_name(m->type) ? ntg__mesh_type_name(m->type) : "?");
    uint64_t off;
    uint32_t cnt;
    unsigned type;
    ntg__mesh_cursor_frame(s, 1, c, &off, &cnt, &type);
    if (m->type != type || m->phase != c->step || m->offset != off || m->count != cnt ||
        m->total != s->total) {
        const char *tn = ntg__mesh_type_name(m->type);
        return ntg__fail(
            err, NTG_ERR_DATA,
            "expected %s step %u at offset %llu (%u of %llu elements); the frame is %s "
            "step %u at offset %llu (%u of %llu elements)",
            ntg__mesh_type_name(type), (unsigned)c->step, (unsigned long long)off, cnt,
            (unsigned long long)s->total, tn ? tn : "?", (unsigned)m->phase,
            (unsigned long long)m->offset, m->count, (unsigned long long)m->total);
    }
    return NTG_OK;
}
