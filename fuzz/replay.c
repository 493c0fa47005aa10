/* replay.c — a main for a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput once
 * on every file of the corpus directories (or files) it is given, as `meson test` does. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds one file to the target in a buffer of exactly its size (1 byte for an empty file, so
 * the pointer is never NULL, as under libFuzzer).  0: replayed; -1: not readable. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > (64u << 20)) {
        fprintf(stderr, "replay: %s: not a regular file of at most 64 MiB\n", path);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n) {
        fprintf(stderr, "replay: %s: cannot read %zu bytes\n", path, n);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of `dir`, in name order (a failure names the same input each run). */
static int replay_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) return replay_file(dir) == 0 ? (++*count, 0) : -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue; /* ., .. and hidden files (README notes) */
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **more = realloc(names, cap * sizeof *names);
            if (!more) {
                rc = -1;
                break;
            }
            names = more;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) {
            rc = -1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (rc == 0 && n) qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            struct stat st;
            if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
                if (replay_file(names[i]) != 0)
                    rc = -1;
                else
                    ++*count;
            }
        }
        free(names[i]);
    }
    free(names);
    if (rc) fprintf(stderr, "replay: %s: out of memory or unreadable input\n", dir);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
        return 2;
    }
    size_t count = 0;
    for (int i = 1; i < argc; i++)
        if (replay_dir(argv[i], &count) != 0) return 1;
    if (count == 0) {
        fprintf(stderr, "replay: no inputs in %s (an empty corpus tests nothing)\n", argv[1]);
        return 1;
    }
    printf("replay: %zu inputs, no crash\n", count);
    return 0;
}
