/* structure.h - verify's structural checks of a checkpoint, before any forward
 * pass: the config is self-consistent; every tensor the config implies (every
 * layer, every routed expert) is present with the right shape and a storage
 * the weight source can read (dtypes, scale shapes, packing, MP parts); every
 * weight and scale value is finite. Shards and index were already validated
 * when the source was opened (formats/hf.h), which names a truncated file. */
#ifndef DS_VERIFY_STRUCTURE_H
#define DS_VERIFY_STRUCTURE_H

#include <stdint.h>
#include "formats/config.h"
#include "verify/ws_source.h"

/* Calls fn for every tensor the forward pass needs, main layers only (MTP
 * layers are optional: strip-mtp removes them). 1-D tensors have d1 = 0.
 * The rows come from the model schema (formats/schema.h); a model_type it
 * does not know gives no calls (ds_vs_check_config refuses it). */
typedef void (*ds_vs_visit)(const char *name, int ndim, int64_t d0, int64_t d1, void *ctx);
void ds_vs_expected(const ds_config *c, ds_vs_visit fn, void *ctx);

/* Field combinations the forward pass relies on. 0 or DS_EXIT_INPUT naming path. */
int ds_vs_check_config(const char *path, const ds_config *c);

typedef struct {
    int tensors;        /* tensors checked */
    int64_t values;     /* values found finite */
    int problems;       /* problems reported */
    double seconds;
    /* ds_vs_census: what the checkpoint holds beyond what the forward pass reads */
    int census_done;
    int unknown;        /* tensors the model schema does not know */
    char unknown_first[8][128];
    int not_run;        /* known tensors the forward pass does not run (MTP layers) */
    int mtp_layers;     /* MTP layers present */
} ds_vs_stats;

/* Reports every problem (up to a limit) on stderr, naming checkpoint and
 * tensor. values: also read every value and check it is finite.
 * 0 or DS_EXIT_INPUT. */
int ds_vs_check(ds_ws_source *ws, int values, ds_vs_stats *st);

/* Every tensor of the checkpoint at path (Hugging Face or shard-for-mp
 * names) looked up in the model schema: counts the tensors it does not know
 * and the known ones the forward pass does not run (MTP layers) into st.
 * Unknown tensors are refused (DS_EXIT_INPUT naming them) unless
 * allow_unknown. */
int ds_vs_census(const char *path, const ds_config *c, int allow_unknown, ds_vs_stats *st);

#endif
