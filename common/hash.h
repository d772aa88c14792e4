/* hash.h - XXH3 hashing (xxHash used header-only, so no runtime library). */
#ifndef DS_HASH_H
#define DS_HASH_H
#include <stddef.h>
#include <stdint.h>

uint64_t ds_xxh3_64(const void *p, size_t n);
/* Lower-case hex, as XXH3_64bits prints: 16 chars + NUL. */
void ds_xxh3_64_hex(const void *p, size_t n, char out[17]);

/* Streaming XXH3-128 (manifests). */
typedef struct ds_h128 ds_h128;
ds_h128 *ds_h128_new(void);
void ds_h128_update(ds_h128 *h, const void *p, size_t n);
/* 32 hex chars (high 64 bits first, as XXH128 canonical form) + NUL; resets nothing. */
void ds_h128_hex(const ds_h128 *h, char out[33]);
void ds_h128_free(ds_h128 *h);
void ds_xxh128_hex(const void *p, size_t n, char out[33]);
#endif
