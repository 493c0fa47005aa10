/* crc32c.h — CRC32C (Castagnoli): plan sections, store blobs, training fingerprints. */
#ifndef NTG_CRC32C_H
#define NTG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of `size` bytes; `crc` is the running value (0 to start), so a long input may be fed
 * in pieces.  SSE4.2 where the CPU has it and NTG_CPU_ISA allows more than portable, else
 * slicing-by-8: both give the same value. */
uint32_t ntg__crc32c(uint32_t crc, const void *data, size_t size);

/* The two paths on their own, so tests can hold one against the other. */
uint32_t ntg__crc32c_sw(uint32_t crc, const void *data, size_t size);
uint32_t ntg__crc32c_hw(uint32_t crc, const void *data, size_t size);
int ntg__crc32c_hw_available(void);
/* Whether ntg__crc32c takes the hardware path now: the CPU has it and NTG_CPU_ISA allows more
 * than the portable baseline. */
int ntg__crc32c_uses_hw(void);

/* The CRC32C of A followed by B from crc1 = CRC32C of A and crc2 = CRC32C of the len2 bytes of
 * B: pieces checked on different threads are joined without reading them again. */
uint32_t ntg__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

#endif /* NTG_CRC32C_H */
