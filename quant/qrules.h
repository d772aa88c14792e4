/* qrules.h - which tensors of a DeepSeek-V3 checkpoint `dsconv requant`
 * quantizes, and the `ignore` list that tells compressed-tensors and vLLM
 * which Linears stayed unquantized.
 *
 * Tensors are named and classified by the model schema (formats/schema.h):
 * a tensor it does not know for the config's family is refused (exit 3).
 * Quantized: every Linear of the main layers the schema marks quantizable -
 * attention (q_a_proj, q_b_proj or q_proj, kv_a_proj_with_mqa, kv_b_proj,
 * o_proj), dense MLP, shared and routed experts. Kept in BF16 (dequantized
 * when FP8): embeddings, norms, the router (mlp.gate.weight,
 * e_score_correction_bias), lm_head, V3.2's indexer (wq_b, wk, weights_proj,
 * k_norm: named in the ignore list), the MTP layers
 * (layers >= num_hidden_layers), any Linear whose shape the format cannot take
 * (ds_quant_unsupported: input dim not a multiple of the group size, ...), and
 * Linears matched by --ignore. vLLM loads some Linears fused, so they go
 * together: q_a_proj with kv_a_proj_with_mqa, gate_proj with up_proj, and all
 * routed experts of a layer (one FusedMoE) - if one is kept, all are.
 *
 * --ignore patterns match module names (the tensor name without ".weight"),
 * as compressed-tensors and vLLM do: an exact name, or "re:" and a regular
 * expression matched from the start of the name (Python's re.match; here
 * POSIX extended syntax, so Python-only forms such as \d or (?:...) are
 * refused - write [0-9] and plain groups, which mean the same to both). */
#ifndef DS_QRULES_H
#define DS_QRULES_H

#include <stdint.h>
#include "formats/config.h"
#include "quant/requant.h"

typedef enum {
    DS_QR_QUANTIZE = 0, /* becomes ds_quant_outputs() */
    DS_QR_KEEP,         /* written in BF16: FP8 dequantized, any other dtype unchanged */
    DS_QR_DROP,         /* an FP8 block scale (*_scale_inv), consumed by its weight's dequantization */
} ds_qr_action;

typedef struct {
    ds_qr_action action;
    int is_linear;       /* the weight of a Linear (a kept one is covered by the ignore list) */
    const char *reason;  /* why kept or dropped (static text); NULL when quantized */
    const char *pattern; /* the --ignore pattern responsible, when there is one (owned by the rules) */
} ds_qr_decision;

typedef struct ds_qrules ds_qrules;

/* cfg and spec are copied. ignore: the --ignore values. DS_EXIT_USAGE for a
 * pattern that does not compile or uses Python-only syntax. */
int ds_qrules_new(ds_qrules **r, const ds_config *cfg, const ds_quant_spec *spec, const char *const *ignore,
                  int n_ignore);
void ds_qrules_free(ds_qrules *r);

/* --experts-only: only the routed experts of the main layers are quantized;
 * every other Linear is kept (reason "--experts-only"). */
void ds_qrules_set_experts_only(ds_qrules *r, int on);

/* Decides one tensor from its name and shape. 0, or DS_EXIT_INPUT (naming the
 * tensor) when a Linear weight is not 2-D or a routed expert's shape is not the
 * one config.json gives. */
int ds_qrules_decide(const ds_qrules *r, const char *name, int ndim, const int64_t *shape, ds_qr_decision *d);

/* One checkpoint tensor, as ds_qrules_ignore_list reads it. */
typedef struct {
    const char *name;
    int ndim;
    const int64_t *shape;
} ds_qr_tensor;

/* The quantization_config "ignore" list for a checkpoint's tensors: the module
 * name of every kept Linear, except that a kept MTP layer is one pattern
 * "re:model\.layers\.N\." and a layer whose routed experts are kept is
 * "re:model\.layers\.N\.mlp\.experts($|\.)" (the FusedMoE module vLLM checks
 * and every expert in it). Sorted (numbers in names compare as numbers), no
 * duplicates. Warns about --ignore patterns that matched no Linear. *list is
 * malloc'd (ds_qrules_list_free). 0 or ds_qrules_decide's error. */
int ds_qrules_ignore_list(const ds_qrules *r, const ds_qr_tensor *t, int n, char ***list, int *n_list);
void ds_qrules_list_free(char **list, int n);

#endif
