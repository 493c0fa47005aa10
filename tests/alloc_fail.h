/* alloc_fail.h — the tests' malloc interposer: counts allocations, tracks live ones, and can
 * fail the Nth allocation made by our own code (SQLite's habit of fault injection).
 *
 * Linked into a test program, tests/alloc_fail.c replaces malloc, calloc, realloc,
 * posix_memalign, aligned_alloc, memalign, strdup, strndup, free, mmap, munmap and
 * pthread_create for the whole process.  Only threads marked as the test's are seen
 * (af_mark_thread; a thread a marked thread creates is marked too, so pthreadpool workers count);
 * Criterion's own threads are not.  Under AddressSanitizer the interposer is compiled out (ASan
 * owns malloc): af_available() is then false and a test using it must skip. */
#ifndef NTG_TESTS_ALLOC_FAIL_H
#define NTG_TESTS_ALLOC_FAIL_H

#include <stdbool.h>

/* Whether the interposer is in this build (not under AddressSanitizer) and set up: the
 * first call finds the address range of our code (this executable's text, which holds the
 * static libntgraph).  Call it from the test before anything else. */
bool af_available(void);
/* The calling thread's allocations are seen from now on (and those of threads it starts). */
void af_mark_thread(void);

/* Counting: allocation calls (any caller) from marked threads while counting is on. */
void af_count_start(void);
long af_count_stop(void); /* the number counted since af_count_start */

/* Live allocations from marked threads: heap blocks and mappings made, less those freed. */
long af_live(void);

/* Injection: from now on, the `nth` (1-based) allocation whose caller is our code (this
 * executable: the call's return address lies in its text) fails as out of memory (NULL,
 * ENOMEM, MAP_FAILED); 0 = never fail, count only.  Calls from other libraries (libyaml,
 * XNNPACK, libstdc++ for RocksDB, and libc's own: fopen, opendir, realpath) are never
 * failed: see tests/test_alloc_fail.c. */
void af_inject(long nth);
/* Also fail allocations libc makes (fopen, opendir, realpath, ... called by anyone, our code
 * or a library such as RocksDB): how our code takes a library's out-of-memory errors. */
void af_inject_libc(bool on);
/* Stops injecting; returns how many injectable allocations were seen since af_inject. */
long af_inject_stop(void);
/* Whether the failure of the last af_inject has happened. */
bool af_injected(void);

#endif
