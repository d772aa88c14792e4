/* dtype.h - the one table of dtype traits (ggml style): every place that needs
 * a size, a name or a conversion asks this table instead of switching on dtype. */
#ifndef DS_DTYPE_H
#define DS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DS_F8_E4M3 = 0,
    DS_F8_E5M2,
    DS_BF16,
    DS_F16,
    DS_F32,
    DS_F64,
    DS_I8,
    DS_U8,
    DS_I16,
    DS_I32,
    DS_I64,
    DS_BOOL,
    DS_DTYPE_COUNT
} ds_dtype;

typedef struct {
    const char *name;              /* safetensors spelling, e.g. "F8_E4M3" */
    size_t size;                   /* bytes per element */
    int is_float;                  /* floating-point kind */
    float (*to_f32)(const void *p);  /* one element at p to float */
    void (*from_f32)(float v, void *p); /* float to one element at p (RNE for floats, saturating for ints) */
} ds_dtype_traits;

const ds_dtype_traits *ds_dtype_info(ds_dtype t);
/* Returns 0 and sets *t for a known safetensors dtype name, -1 otherwise. */
int ds_dtype_from_name(const char *name, ds_dtype *t);
static inline size_t ds_dtype_size(ds_dtype t) { return ds_dtype_info(t)->size; }
static inline const char *ds_dtype_name(ds_dtype t) { return ds_dtype_info(t)->name; }

/* Scalar conversions (exact; used by the kernels and the tests). */
float ds_e4m3_to_f32(uint8_t v);   /* e4m3fn: bias 7, no inf, 0x7F/0xFF NaN, max 448 */
uint8_t ds_f32_to_e4m3(float f);   /* RNE, saturates to +-448, NaN -> 0x7F */
float ds_e5m2_to_f32(uint8_t v);
uint8_t ds_f32_to_e5m2(float f);   /* RNE, overflow -> inf, NaN -> 0x7F */
float ds_bf16_to_f32(uint16_t v);
uint16_t ds_f32_to_bf16(float f);  /* RNE; NaN stays NaN (quiet bit set) */
float ds_f16_to_f32(uint16_t v);
uint16_t ds_f32_to_f16(float f);   /* RNE */

/* 256-entry e4m3 -> f32 table, filled once by ds_e4m3_to_f32 values. */
const float *ds_e4m3_table(void);

#endif
