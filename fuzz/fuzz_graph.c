/* fuzz_graph.c — libFuzzer target: the YAML graph compiler on arbitrary text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ntgraph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ntg_compile_options o;
    ntg_compile_options_init(&o);
    o.max_batch = 2;
    ntg_plan *plan = NULL;
    ntg_error err;
    /* any outcome is fine except a crash, a leak or a sanitizer report; a compiled plan
     * must also reload (the compiler never writes a plan its own loader refuses) */
    if (ntg_compile_string((const char *)data, size, "fuzz.yaml", &o, &plan, &err) == NTG_OK) {
        void *bytes = NULL;
        size_t n = 0;
        if (ntg_plan_serialize(plan, &bytes, &n, &err) == NTG_OK) {
            ntg_plan *again = NULL;
            if (ntg_plan_load_memory(bytes, n, 0, &again, &err) != NTG_OK) __builtin_trap();
            ntg_plan_destroy(again);
        }
        ntg_free(bytes);
        ntg_plan_destroy(plan);
    }
    return 0;
}
