/* structure_census.c - every stored tensor looked up in the model schema (see
 * ds_vs_census in structure.h): a checkpoint holding tensors dsconv does not
 * know would be checked on a part of itself only, so they are refused unless
 * the user says they are expected. */
#include "verify/structure.h"
#include "common/util.h"
#include "formats/hf.h"
#include "formats/schema.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char **v;
    int n, cap;
} names;

static void collect_mp(const ds_schema_tensor *t, void *ctx) {
    names *x = ctx;
    (void)t;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 1024;
        x->v = xrealloc(x->v, (size_t)x->cap * sizeof *x->v);
    }
    x->v[x->n++] = xstrdup(t->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int in_set(const names *x, const char *s) {
    return bsearch(&s, x->v, (size_t)x->n, sizeof *x->v, cmp_str) != NULL;
}

/* A rank-file name is known when it, or the weight it is a storage part of
 * (".scale", ".weight_packed", ...), is a name convert.py writes. */
static int mp_known(const names *set, const char *name) {
    if (in_set(set, name)) return 1;
    static const char *const parts[] = {".scale", ".weight_packed", ".weight_scale", ".weight_zero_point",
                                        ".weight_shape", ".weight_global_scale"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t pl = strlen(parts[i]);
        if (n <= pl || strcmp(name + n - pl, parts[i])) continue;
        char w[512];
        snprintf(w, sizeof w, "%.*s.weight", (int)(n - pl), name);
        if (in_set(set, w)) return 1;
    }
    return 0;
}

static void mp_names(const ds_schema_tensor *t, void *ctx) {
    if (t->mtp || !t->rule->mp) return;
    ds_schema_match m = {t->rule, t->layer, t->expert, 0, DS_PART_TENSOR, NULL};
    char buf[512];
    ds_schema_mp_name(&m, buf, sizeof buf);
    ds_schema_tensor u = *t;
    u.name = buf;
    collect_mp(&u, ctx);
}

int ds_vs_census(const char *path, const ds_config *c, int allow_unknown, ds_vs_stats *st) {
    const ds_family *f;
    DS_TRY(ds_schema_family(path, c, &f));
    ds_ckpt ck;
    DS_TRY(ds_ckpt_open(path, &ck));
    int mp = 0;
    for (int i = 0; i < ck.n_entries && !mp; i++)
        mp = !strncmp(ck.entries[i].name, "layers.", 7) || !strcmp(ck.entries[i].name, "embed.weight");
    names set = {0};
    if (mp) {
        ds_schema_expected(c, f, 0, mp_names, &set);
        qsort(set.v, (size_t)set.n, sizeof *set.v, cmp_str);
    }
    char *mtp_seen = xcalloc((size_t)c->num_nextn_predict_layers + 1, 1);
    st->census_done = 1;
    st->unknown = st->not_run = st->mtp_layers = 0;
    for (int i = 0; i < ck.n_entries; i++) {
        const char *name = ck.entries[i].name;
        int known;
        if (mp) {
            known = mp_known(&set, name);
        } else {
            ds_schema_match m;
            known = ds_schema_lookup(c, f, name, &m);
            if (known && (m.mtp || !m.rule->forward)) {
                st->not_run++;
                if (m.mtp && !mtp_seen[m.layer - c->num_hidden_layers]++) st->mtp_layers++;
            }
        }
        if (known) continue;
        if (st->unknown < 8) snprintf(st->unknown_first[st->unknown], sizeof st->unknown_first[0], "%s", name);
        st->unknown++;
    }
    for (int i = 0; i < set.n; i++) free(set.v[i]);
    free(set.v);
    free(mtp_seen);
    ds_ckpt_close(&ck);
    if (!st->unknown || allow_unknown) return 0;
    char list[8 * 130 + 64] = "";
    for (int i = 0; i < st->unknown && i < 8; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, st->unknown_first[i]);
    }
    if (st->unknown > 8) snprintf(list + strlen(list), sizeof list - strlen(list), ", ... (%d in all)", st->unknown);
    return ds_fail(DS_EXIT_INPUT,
                   "%s: %d tensor%s the %s model schema does not know: %s (verify would not check them; "
                   "--allow-unknown accepts them and lists them in the report)",
                   path, st->unknown, st->unknown > 1 ? "s" : "", f->model_type, list);
}
