/* hash.c - thin wrappers over xxHash (header-only build). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/hash.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>

struct ds_h128 { XXH3_state_t st; };

uint64_t ds_xxh3_64(const void *p, size_t n) { return XXH3_64bits(p, n); }

void ds_xxh3_64_hex(const void *p, size_t n, char out[17]) {
    snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits(p, n));
}

ds_h128 *ds_h128_new(void) {
    ds_h128 *h = xaligned(sizeof *h);
    XXH3_128bits_reset(&h->st);
    return h;
}
void ds_h128_update(ds_h128 *h, const void *p, size_t n) { XXH3_128bits_update(&h->st, p, n); }
void ds_h128_hex(const ds_h128 *h, char out[33]) {
    XXH128_hash_t v = XXH3_128bits_digest(&h->st);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)v.high64, (unsigned long long)v.low64);
}
void ds_h128_free(ds_h128 *h) { free(h); }
void ds_xxh128_hex(const void *p, size_t n, char out[33]) {
    XXH128_hash_t v = XXH3_128bits(p, n);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)v.high64, (unsigned long long)v.low64);
}
