/* CRC-32C (Castagnoli), the checksum of queue log records. */
#ifndef BULWARK_CRC32C_H
#define BULWARK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) over len bytes. */
uint32_t	crc32c(uint32_t crc, const void *buf, size_t len);

#endif
