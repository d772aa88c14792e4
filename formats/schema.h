/* schema.h - the model schema: every family dsconv understands and every
 * tensor of it, in one table (formats/schema.c), as llama.cpp names every
 * tensor of every architecture in one place.
 *
 * A family is chosen by config.json's model_type. Each tensor row says where
 * the tensor lives (top level, every layer, dense or MoE layers only, each
 * routed expert, MTP layers only), its Hugging Face name, the name DeepSeek's
 * inference/convert.py gives it and how convert.py splits it over
 * model-parallel ranks, its role, its shape in config terms, whether it is the
 * weight of a Linear, whether `requant` quantizes it by default, whether the
 * upstream release stores it FP8 with a block scale, and whether verify's
 * forward pass reads it. structure checks, requant's rules, shard-for-mp, the
 * model-parallel weight source and inspect all read this table; adding a
 * family is adding rows (and a line to ds_families). */
#ifndef DS_SCHEMA_H
#define DS_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include "formats/config.h"

/* Family bits (a row lists the families it belongs to). */
enum { DS_FAM_V3 = 1, DS_FAM_V32 = 2, DS_FAM_KIMI = 4, DS_FAM_ALL = 7 };

typedef struct {
    const char *model_type;  /* config.json model_type */
    int bit;                 /* DS_FAM_* */
    const char *members;     /* released models of the family, for help and inspect */
    int indexer;             /* DeepSeek Sparse Attention's lightning indexer in every layer */
    int mtp;                 /* the released checkpoints carry MTP layers */
} ds_family;

typedef enum {
    DS_ROLE_EMBED, DS_ROLE_NORM, DS_ROLE_ATTN, DS_ROLE_INDEXER, DS_ROLE_MLP, DS_ROLE_ROUTER, DS_ROLE_ROUTER_BIAS,
    DS_ROLE_SHARED_EXPERT, DS_ROLE_EXPERT, DS_ROLE_HEAD, DS_ROLE_MTP, DS_ROLE_COUNT
} ds_role;

typedef enum {
    DS_AT_TOP,     /* once: hf is the full name */
    DS_AT_LAYER,   /* every layer (main and MTP): hf follows "model.layers.L." */
    DS_AT_DENSE,   /* layers that are not MoE */
    DS_AT_MOE,     /* MoE layers */
    DS_AT_EXPERT,  /* each routed expert of a MoE layer: hf follows "model.layers.L.mlp.experts.E." */
    DS_AT_MTP,     /* MTP layers only (layer >= num_hidden_layers) */
} ds_at;

/* convert.py's model-parallel split. */
typedef enum { DS_SPLIT_NONE, DS_SPLIT_ROW, DS_SPLIT_COL, DS_SPLIT_EXPERT } ds_split;

/* Shape terms (ds_schema_dim computes them from the config). */
typedef enum {
    DS_D_NONE, DS_D_HIDDEN, DS_D_2HIDDEN, DS_D_VOCAB, DS_D_Q_LORA, DS_D_Q_OUT, DS_D_KV_A_OUT, DS_D_KV_LORA,
    DS_D_KV_B_OUT, DS_D_O_IN, DS_D_INTER, DS_D_MOE_INTER, DS_D_SHARED_INTER, DS_D_EXPERTS, DS_D_IDX_Q_OUT,
    DS_D_IDX_HEAD, DS_D_IDX_HEADS,
} ds_dim;

/* Conditions on config fields. */
enum { DS_IF_Q_LORA = 1, DS_IF_NO_Q_LORA = 2, DS_IF_NOAUX = 4, DS_IF_UNTIED = 8, DS_IF_SHARED = 16 };

/* The weights verify's forward pass reads, one row of the table each. The
 * pass's step list (verify/forward.c) says which it uses in what order; the
 * row says the name pattern and the shape. */
typedef enum {
    DS_W_NONE,                                            /* a row the forward pass does not read */
    DS_W_EMBED, DS_W_FINAL_NORM, DS_W_HEAD,               /* top level */
    DS_W_ATTN_NORM, DS_W_Q_A, DS_W_Q_NORM, DS_W_Q_B, DS_W_Q, DS_W_KV_A, DS_W_KV_NORM, DS_W_KV_B, DS_W_O,
    DS_W_IX_Q, DS_W_IX_K, DS_W_IX_K_NORM, DS_W_IX_K_NORM_BIAS, DS_W_IX_W, /* DSA's indexer */
    DS_W_FFN_NORM,
    DS_W_GATE, DS_W_UP, DS_W_DOWN,                        /* the dense MLP */
    DS_W_ROUTER, DS_W_ROUTER_BIAS,
    DS_W_EXPERT_GATE, DS_W_EXPERT_UP, DS_W_EXPERT_DOWN,   /* a routed expert */
    DS_W_SHARED_GATE, DS_W_SHARED_UP, DS_W_SHARED_DOWN,   /* the shared experts */
    DS_W_COUNT
} ds_weight;

typedef struct {
    int families;     /* DS_FAM_* bits */
    ds_at at;
    const char *hf;   /* Hugging Face name (see ds_at) */
    const char *mp;   /* convert.py's name, same convention ("attn.wq_b.weight") */
    ds_role role;
    ds_dim d0, d1;    /* d1 DS_D_NONE: 1-D */
    int cond;         /* DS_IF_* bits, all must hold */
    int linear;       /* the weight of a Linear module (named in requant's ignore when kept) */
    int quantize;     /* requant quantizes it by default */
    int fp8;          /* FP8 with a block scale in the upstream FP8 release */
    ds_split split;
    int forward;      /* the forward pass reads it (in a main layer) */
    ds_weight w;      /* which of the forward pass's weights it is (DS_W_NONE: none) */
} ds_tensor_rule;

/* The families, NULL-terminated by model_type. */
extern const ds_family ds_families[];

/* The family of a model_type, or NULL. */
const ds_family *ds_family_find(const char *model_type);
/* The family of a config; DS_EXIT_INPUT naming path, the model_type and the
 * supported ones when it is not one of them. */
int ds_schema_family(const char *path, const ds_config *c, const ds_family **f);
/* "deepseek_v3, deepseek_v32, kimi_k2" */
const char *ds_schema_supported(void);
const char *ds_role_name(ds_role r);

/* Every row, and its count. */
const ds_tensor_rule *ds_schema_rules(int *n);
/* A rule's size along d for config c. */
int64_t ds_schema_dim(const ds_config *c, ds_dim d);
/* Whether a rule applies to config c and family f (conditions and family bits). */
int ds_schema_applies(const ds_config *c, const ds_family *f, const ds_tensor_rule *r);

/* The row of forward-pass weight w (never NULL for DS_W_NONE < w < DS_W_COUNT;
 * a missing row is a bug of the table). */
const ds_tensor_rule *ds_schema_weight(ds_weight w);
/* w's Hugging Face name in layer L (routed expert e): "model.layers.L.<hf>",
 * "model.layers.L.mlp.experts.E.<hf>", or the top-level name. Returns buf. */
const char *ds_schema_weight_name(ds_weight w, int L, int e, char *buf, size_t cap);
/* w's shape for config c: [d0, d1], d1 0 when 1-D. */
void ds_schema_weight_shape(const ds_config *c, ds_weight w, int64_t *d0, int64_t *d1);

/* One tensor the config implies. */
typedef struct {
    const ds_tensor_rule *rule;
    const char *name;   /* Hugging Face name */
    int layer;          /* -1 at top level */
    int expert;         /* -1 unless a routed expert */
    int mtp;            /* in an MTP layer (the forward pass does not run it) */
    int ndim;
    int64_t shape[2];   /* shape[1] 0 when 1-D */
} ds_schema_tensor;

typedef void (*ds_schema_visit)(const ds_schema_tensor *t, void *ctx);
/* Calls fn for every tensor config c implies: top level, each main layer and,
 * with mtp, each of the num_nextn_predict_layers MTP layers. */
void ds_schema_expected(const ds_config *c, const ds_family *f, int mtp, ds_schema_visit fn, void *ctx);

/* Storage companions of a weight ("<module>.weight_scale_inv", ...). */
typedef enum {
    DS_PART_TENSOR,        /* the tensor itself */
    DS_PART_SCALE_INV,     /* FP8 block scale (weight_scale_inv) */
    DS_PART_CT,            /* a compressed-tensors part: weight_packed, weight_scale, weight_zero_point, weight_shape,
                            * weight_global_scale */
} ds_part;

/* A name looked up in the schema. */
typedef struct {
    const ds_tensor_rule *rule;
    int layer, expert, mtp;
    ds_part part;
    const char *suffix;    /* the storage suffix after "<module>." ("weight", "weight_scale_inv", ...) */
} ds_schema_match;

/* Finds the row of a Hugging Face tensor name under config c. 1 when known
 * (m filled), 0 when the schema has no such tensor for this family and config
 * (a layer beyond num_hidden_layers + num_nextn_predict_layers, an expert
 * beyond n_routed_experts, a tensor of another family, ...). */
int ds_schema_lookup(const ds_config *c, const ds_family *f, const char *name, ds_schema_match *m);

/* convert.py's name of a Hugging Face tensor: "layers.L." + rule mp with the
 * storage suffix (weight_scale_inv becomes "scale"). Writes into buf. */
void ds_schema_mp_name(const ds_schema_match *m, char *buf, size_t cap);

#endif
