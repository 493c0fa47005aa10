/* version.c — the version of the linked library. */
#include "ntgraph.h"

int ntg_version_number(void)
{
    return NTG_VERSION_NUMBER;
}

const char *ntg_version_string(void)
{
    return NTG_VERSION_STRING;
}
