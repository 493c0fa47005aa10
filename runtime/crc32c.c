/* crc32c.c — placeholder: written in a parallel change. */
typedef int ntg__placeholder_crc32c;
