/* shard_mp.c - plan of shard-for-mp (upstream convert.py, byte for byte).
 *
 * Every source tensor becomes one item that writes to each rank its part:
 * routed experts whole to rank K / (E/N), split tensors as N contiguous row or
 * column ranges, the rest replicated. All splits are checked before anything
 * is written, so a refused input leaves no rank files. Names and splits come
 * from the model schema (formats/schema.h), which holds convert.py's table;
 * a tensor the schema does not know is refused, as convert.py asserts. */
#include "convert/shard_mp.h"
#include "common/util.h"
#include "formats/schema.h"

#include <stdlib.h>
#include <string.h>

int ds_plan_shard_mp(const ds_ckpt *c, const ds_mp_opts *o, ds_plan *p) {
    ds_plan_init(p);
    if (!c->has_config)
        return ds_fail(DS_EXIT_INPUT, "%s: shard-for-mp needs config.json (layers and experts)", c->dir);
    const ds_family *fam;
    DS_TRY(ds_schema_family(c->dir, &c->config, &fam));
    int N = o->mp, E = o->n_experts ? o->n_experts : c->config.n_routed_experts;
    if (o->n_experts && o->n_experts != c->config.n_routed_experts)
        return ds_fail(DS_EXIT_USAGE, "--n-experts %d disagrees with config.json's n_routed_experts %d", o->n_experts,
                       c->config.n_routed_experts);
    if (E % N)
        return ds_fail(DS_EXIT_USAGE, "%d routed experts cannot be spread evenly over %d ranks", E, N);
    int local = E / N;
    int *rank_file = xmalloc(sizeof(int) * (size_t)N);
    for (int i = 0; i < N; i++) {
        char fn[64];
        snprintf(fn, sizeof fn, "model%d-mp%d.safetensors", i, N);
        rank_file[i] = ds_plan_add_file(p, fn);
    }
    int rc = 0;
    for (int s = 0; s < c->n_shards && !rc; s++) {
        const ds_st_file *sf = &c->shards[s];
        for (int t = 0; t < sf->n_tensors && !rc; t++) {
            const ds_ckpt_entry *e = ds_ckpt_find(c, sf->tensors[t].name);
            ds_schema_match m;
            if (!ds_schema_lookup(&c->config, fam, e->name, &m)) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: not a tensor of a %s model with this config.json",
                             c->shard_names[e->file], e->name, fam->model_type);
                break;
            }
            if (m.mtp) continue;                                       /* convert.py drops the MTP layer */
            if (o->to_bf16 && m.part == DS_PART_SCALE_INV) continue;  /* folded into the weight */
            char nbuf[512];
            ds_schema_mp_name(&m, nbuf, sizeof nbuf);
            char *name = xstrdup(nbuf);
            int dim = m.rule->split == DS_SPLIT_ROW ? 0 : m.rule->split == DS_SPLIT_COL ? 1 : -1;
            ds_xform xf = DS_XF_COPY;
            const ds_ckpt_entry *scale = NULL;
            int block[2] = {0, 0};
            ds_dtype dt = e->info->dtype;
            if (o->to_bf16 && dt == DS_F8_E4M3) {
                if ((rc = ds_plan_fp8_scale(c, e, &scale, block))) { free(name); break; }
                xf = DS_XF_FP8_TO_BF16;
                dt = DS_BF16;
            }
            int expert = m.rule->split == DS_SPLIT_EXPERT ? m.expert : -1;
            int64_t shape[DS_MAX_DIMS];
            memcpy(shape, e->info->shape, sizeof shape);
            if (expert < 0 && dim >= 0 && m.part == DS_PART_CT) {
                /* packed words, group scales and weight_shape do not split as one tensor does */
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: a compressed-tensors weight that convert.py splits over "
                             "ranks (dimension %d) cannot be split in that form; run `dsconv to-bf16` first",
                             c->shard_names[e->file], e->name, dim);
                free(name);
                break;
            }
            if (expert < 0 && dim >= 0) {
                if (e->info->ndim <= dim) {
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: has %d dimensions, cannot split dimension %d",
                                 c->shard_names[e->file], e->name, e->info->ndim, dim);
                } else if (e->info->shape[dim] % N) {
                    rc = ds_fail(DS_EXIT_INPUT,
                                 "%s: tensor %s (%s): dimension %d (size %lld) is not divisible by %d ranks",
                                 c->shard_names[e->file], e->name, name, dim, (long long)e->info->shape[dim], N);
                } else if (dim == 1 && e->info->ndim != 2) {
                    rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: column split of a %d-D tensor is not supported",
                                 c->shard_names[e->file], e->name, e->info->ndim);
                }
                if (rc) { free(name); break; }
                shape[dim] /= N;
            }
            if (expert >= E) {
                rc = ds_fail(DS_EXIT_INPUT, "%s: tensor %s: expert %d but only %d routed experts",
                             c->shard_names[e->file], e->name, expert, E);
                free(name);
                break;
            }
            /* Tensors first in every file they go to, then the item that fills them. */
            int tix[4096];
            int ranks = N <= 4096 ? N : 4096;
            for (int i = 0; i < ranks; i++) {
                tix[i] = -1;
                if (expert >= 0 && expert / local != i) continue;
                tix[i] = ds_plan_add_tensor(p, rank_file[i], name, dt, e->info->ndim, shape);
            }
            ds_plan_item *it = ds_plan_add_item(p, e, xf);
            it->scale = scale;
            it->block[0] = block[0];
            it->block[1] = block[1];
            for (int i = 0; i < ranks; i++) {
                if (tix[i] < 0) continue;
                if (expert < 0 && dim >= 0)
                    ds_plan_add_out(p, rank_file[i], tix[i], dim, i * shape[dim], (i + 1) * shape[dim]);
                else
                    ds_plan_add_out(p, rank_file[i], tix[i], -1, 0, 0);
            }
            free(name);
        }
    }
    free(rank_file);
    if (rc) return rc;
    DS_TRY(ds_plan_copy_side_files(p, c, 1));
    char *cfg = ds_path_join(c->dir, "config.json");
    ds_plan_add_extra_copy(p, "config.json", cfg);   /* last: marks the output complete */
    free(cfg);
    ds_plan_finish(p);
    return 0;
}
