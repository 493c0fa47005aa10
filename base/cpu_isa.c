/* cpu_isa.c — parsing the instruction-set cap NTG_CPU_ISA (cpu_isa.h). */
#include <stdlib.h>
#include <strings.h>

#include "cpu_isa.h"
#include "ntg_error.h"

ntg_status ntg__isa_cap_parse(const char *value, int *cap, ntg_error *err)
{
    *cap = NTG_ISA_AVX512;
    if (!value || !*value) return NTG_OK;
    static const int all[] = {NTG_ISA_AVX512, NTG_ISA_AVX2, NTG_ISA_PORTABLE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(value, ntg__isa_name(all[i])) == 0) {
            *cap = all[i];
            return NTG_OK;
        }
    return ntg__fail(err, NTG_ERR_INVALID_ARG,
                     NTG_CPU_ISA_ENV "='%.40s': not an instruction-set cap; expected avx512, "
                                     "avx2 or portable",
                     value);
}

ntg_status ntg__isa_cap_from_env(int *cap, ntg_error *err)
{
    return ntg__isa_cap_parse(getenv(NTG_CPU_ISA_ENV), cap, err);
}

const char *ntg__isa_name(int isa)
{
    switch (isa) {
    case NTG_ISA_PORTABLE:
        return "portable";
    case NTG_ISA_AVX2:
        return "avx2";
    case NTG_ISA_AVX512:
        return "avx512";
    default:
        return "?";
    }
}
