/* abi.c — the size field of the public structs (the rule: ntgraph.h, CONVENTIONS, "Structs"),
 * and ntg_free. */
#include "abi.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "ntg_error.h"

ntg_status ntg__abi_check(const void *p, size_t v1, size_t cur, const char *type, const char *fn,
                          ntg_error *err)
{
    size_t size;
    memcpy(&size, p, sizeof size);
    if (size == 0)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "%s: %s.size is 0: initialise the struct with %s_init", fn, type, type);
    if (size > cur)
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "%s: %s.size is %zu, larger than the %zu bytes this library (ntgraph %s) "
                         "knows: the program was built against a newer ntgraph.h, or the struct "
                         "was not initialised with %s_init",
                         fn, type, size, cur, ntg_version_string(), type);
    if (size < v1 || size % alignof(size_t))
        return ntg__fail(err, NTG_ERR_INVALID_ARG,
                         "%s: %s.size is %zu, not the size of any %s (%zu to %zu bytes): "
                         "initialise the struct with %s_init",
                         fn, type, size, type, v1, cur, type);
    return NTG_OK;
}

ntg_status ntg__abi_in(void *local, const void *caller, size_t v1, size_t cur, const char *type,
                       const char *fn, ntg_error *err)
{
    if (!caller) return NTG_OK;
    ntg_status st = ntg__abi_check(caller, v1, cur, type, fn, err);
    if (st) return st;
    size_t size;
    memcpy(&size, caller, sizeof size);
    /* new fields start past every older size, so the bytes copied are the caller's fields
     * (and its padding); the size stays the library's, for the code that reads `local` */
    memcpy((char *)local + sizeof size, (const char *)caller + sizeof size, size - sizeof size);
    return NTG_OK;
}

void ntg__abi_out(void *caller, const void *local)
{
    size_t size;
    memcpy(&size, caller, sizeof size);
    memcpy((char *)caller + sizeof size, (const char *)local + sizeof size, size - sizeof size);
}

void ntg_free(void *p)
{
    free(p);
}
