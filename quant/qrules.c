/* qrules.c - the quantize/keep decision per tensor and the ignore list (see qrules.h). */
#include "quant/qrules.h"
#include "common/util.h"
#include "formats/hf.h"
#include "formats/schema.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text;  /* as given (also what a decision reports) */
    int is_re;
    regex_t re;
} pattern;

typedef struct {
    int kept;             /* the layer's routed experts stay BF16 */
    const char *reason;
    const pattern *by;    /* the --ignore pattern, when that is why */
} experts_state;

struct ds_qrules {
    ds_config cfg;
    const ds_family *fam;   /* from cfg's model_type (formats/schema.h) */
    ds_quant_spec spec;
    pattern *pats;
    int n_pats;
    experts_state *experts; /* per main layer */
    int n_layers;
    int experts_only;       /* --experts-only: every other Linear is kept */
};

/* ------------------------------------------------------------ patterns */

/* Constructs whose meaning differs between Python's re (what vLLM and
 * compressed-tensors use on the same list) and POSIX regcomp. */
static const char *python_only(const char *re) {
    for (const char *p = re; *p; p++) {
        if (p[0] == '\\' && p[1] && strchr("dDAZ", p[1])) return "\\d, \\D, \\A, \\Z (write [0-9] or ^ $)";
        if (p[0] == '(' && p[1] == '?') return "(?...) groups (write plain ( ))";
        if (p[0] && strchr("*+?}", p[0]) && p[1] == '?') return "lazy quantifiers *? +? ?? {}?";
        if (p[0] == '\\' && p[1]) p++;
    }
    return NULL;
}

static int compile_pattern(pattern *pt, const char *text) {
    pt->text = xstrdup(text);
    pt->is_re = !strncmp(text, "re:", 3);
    if (!pt->is_re) return 0;
    const char *body = text + 3;
    const char *why = python_only(body);
    if (why) return ds_fail(DS_EXIT_USAGE, "--ignore %s: Python-only regex syntax: %s", text, why);
    /* re.match semantics: anchored at the start, not at the end. */
    size_t n = strlen(body);
    char *anch = xmalloc(n + 4);
    snprintf(anch, n + 4, "^(%s)", body);
    int rc = regcomp(&pt->re, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (rc) {
        char msg[256];
        regerror(rc, &pt->re, msg, sizeof msg);
        pt->is_re = 0; /* nothing compiled to free */
        return ds_fail(DS_EXIT_USAGE, "--ignore %s: bad regular expression: %s", text, msg);
    }
    return 0;
}

static int pattern_matches(const pattern *pt, const char *module) {
    if (pt->is_re) return regexec(&pt->re, module, 0, NULL, 0) == 0;
    return !strcmp(pt->text, module);
}

/* The first --ignore pattern matching a module name, or NULL. */
static const pattern *user_match(const ds_qrules *r, const char *module) {
    for (int i = 0; i < r->n_pats; i++)
        if (pattern_matches(&r->pats[i], module)) return &r->pats[i];
    return NULL;
}

/* ------------------------------------------------------------ names */

static const char *const k_mlp[] = {"gate_proj", "up_proj", "down_proj"};

static int in_list(const char *s, size_t n, const char *const *list, size_t k) {
    for (size_t i = 0; i < k; i++)
        if (strlen(list[i]) == n && !strncmp(s, list[i], n)) return 1;
    return 0;
}

/* rest = "<prefix><proj>.weight" with proj one of list: returns 1. */
static int is_proj(const char *rest, const char *prefix, const char *const *list, size_t k) {
    size_t pl = strlen(prefix);
    if (strncmp(rest, prefix, pl) || !ds_has_suffix(rest, ".weight")) return 0;
    const char *proj = rest + pl;
    size_t n = strlen(proj) - 7;
    return !memchr(proj, '.', n) && in_list(proj, n, list, k);
}

/* "mlp.experts.<E>.<proj>.weight": returns E, or -1. */
static long expert_index(const char *rest) {
    const char *p = "mlp.experts.";
    if (strncmp(rest, p, strlen(p))) return -1;
    const char *s = rest + strlen(p);
    if (!isdigit((unsigned char)*s)) return -1;
    char *end;
    long e = strtol(s, &end, 10);
    if (*end != '.' || !is_proj(end + 1, "", k_mlp, 3)) return -1;
    return e;
}

/* ------------------------------------------------------------ rules */

/* Routed experts of main layer l: kept together when the format cannot take
 * their shapes or any --ignore pattern matches the FusedMoE or one expert. */
static void decide_experts(ds_qrules *r, int l, experts_state *st) {
    const ds_config *c = &r->cfg;
    st->kept = 0;
    st->reason = NULL;
    st->by = NULL;
    if (!ds_config_is_moe_layer(c, l)) return;
    const char *why = ds_quant_unsupported(&r->spec, c->moe_intermediate_size, c->hidden_size);
    if (!why) why = ds_quant_unsupported(&r->spec, c->hidden_size, c->moe_intermediate_size);
    if (why) {
        st->kept = 1;
        st->reason = "routed experts kept together (one FusedMoE in vLLM): their shape cannot be quantized";
        return;
    }
    if (!r->n_pats) return;
    char name[256];
    snprintf(name, sizeof name, "model.layers.%d.mlp.experts", l);
    const pattern *m = user_match(r, name);
    int nr;
    const ds_tensor_rule *rows = ds_schema_rules(&nr);
    for (int e = 0; !m && e < c->n_routed_experts; e++)
        for (int k = 0; !m && k < nr; k++) {
            if (rows[k].at != DS_AT_EXPERT || !ds_schema_applies(c, r->fam, &rows[k])) continue;
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%.*s", l, e,
                     (int)(strlen(rows[k].hf) - strlen(".weight")), rows[k].hf);
            m = user_match(r, name);
        }
    if (m) {
        st->kept = 1;
        st->by = m;
        st->reason = "routed experts kept together (one FusedMoE in vLLM): --ignore matched one";
    }
}

int ds_qrules_new(ds_qrules **out, const ds_config *cfg, const ds_quant_spec *spec, const char *const *ignore,
                  int n_ignore) {
    *out = NULL;
    const ds_family *fam;
    DS_TRY(ds_schema_family("config.json", cfg, &fam));
    ds_qrules *r = xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    r->fam = fam;
    r->spec = *spec;
    r->pats = xcalloc((size_t)n_ignore + 1, sizeof *r->pats);
    for (int i = 0; i < n_ignore; i++) {
        int rc = compile_pattern(&r->pats[i], ignore[i]);
        r->n_pats = i + 1;
        if (rc) {
            ds_qrules_free(r);
            return rc;
        }
    }
    r->n_layers = cfg->num_hidden_layers > 0 ? cfg->num_hidden_layers : 0;
    r->experts = xcalloc((size_t)r->n_layers + 1, sizeof *r->experts);
    for (int l = 0; l < r->n_layers; l++) decide_experts(r, l, &r->experts[l]);
    *out = r;
    return 0;
}

void ds_qrules_free(ds_qrules *r) {
    if (!r) return;
    for (int i = 0; i < r->n_pats; i++) {
        if (r->pats[i].is_re) regfree(&r->pats[i].re);
        free(r->pats[i].text);
    }
    free(r->pats);
    free(r->experts);
    free(r);
}

static void set(ds_qr_decision *d, ds_qr_action a, int linear, const char *reason, const pattern *by) {
    d->action = a;
    d->is_linear = linear;
    d->reason = reason;
    d->pattern = by ? by->text : NULL;
}

/* A Linear of a main layer that is not a routed expert: its own shape, the
 * user's patterns, then its fused partner's. */
static int decide_linear(const ds_qrules *r, const char *name, const char *rest, int ndim,
                         const int64_t *shape, ds_qr_decision *d) {
    const ds_config *c = &r->cfg;
    if (ndim != 2)
        return ds_fail(DS_EXIT_INPUT, "tensor %s: a Linear weight must be 2-D, not %d-D", name, ndim);
    const char *why = ds_quant_unsupported(&r->spec, shape[0], shape[1]);
    if (why) {
        set(d, DS_QR_KEEP, 1, why, NULL);
        return 0;
    }
    char module[512];
    size_t ml = strlen(name) - 7; /* drop ".weight" */
    if (ml >= sizeof module) return ds_fail(DS_EXIT_INPUT, "tensor %s: name too long", name);
    memcpy(module, name, ml);
    module[ml] = 0;
    const pattern *m = user_match(r, module);
    if (m) {
        set(d, DS_QR_KEEP, 1, "--ignore", m);
        return 0;
    }
    /* vLLM's fused pairs: both shards must have the same scheme. */
    const char *self = NULL, *partner = NULL;
    int64_t partner_rows = shape[0];
    if (c->q_lora_rank > 0 && !strcmp(rest, "self_attn.q_a_proj.weight")) {
        self = "self_attn.q_a_proj", partner = "self_attn.kv_a_proj_with_mqa";
        partner_rows = (int64_t)c->kv_lora_rank + c->qk_rope_head_dim;
    } else if (c->q_lora_rank > 0 && !strcmp(rest, "self_attn.kv_a_proj_with_mqa.weight")) {
        self = "self_attn.kv_a_proj_with_mqa", partner = "self_attn.q_a_proj";
        partner_rows = c->q_lora_rank;
    } else if (ds_has_suffix(rest, "gate_proj.weight") && expert_index(rest) < 0) {
        self = "gate_proj", partner = "up_proj";
    } else if (ds_has_suffix(rest, "up_proj.weight") && expert_index(rest) < 0) {
        self = "up_proj", partner = "gate_proj";
    }
    if (partner) {
        /* module = <prefix><rest minus ".weight">; swap the last component. */
        char pmod[600];
        size_t keep = ml - strlen(self);
        snprintf(pmod, sizeof pmod, "%.*s%s", (int)keep, module, partner);
        const pattern *pm = user_match(r, pmod);
        if (pm) {
            set(d, DS_QR_KEEP, 1, "kept with its fused partner (vLLM loads them as one), which --ignore matched", pm);
            return 0;
        }
        if (ds_quant_unsupported(&r->spec, partner_rows, shape[1])) {
            set(d, DS_QR_KEEP, 1, "kept with its fused partner (vLLM loads them as one), whose shape cannot be quantized",
                NULL);
            return 0;
        }
    }
    set(d, DS_QR_QUANTIZE, 1, NULL, NULL);
    return 0;
}

/* What a kept tensor that is not quantized is, by its schema role. */
static const char *keep_reason(const ds_tensor_rule *rule) {
    switch (rule->role) {
    case DS_ROLE_HEAD: return "lm_head";
    case DS_ROLE_EMBED: return "embedding";
    case DS_ROLE_NORM: return "norm";
    case DS_ROLE_ROUTER: return "router";
    case DS_ROLE_ROUTER_BIAS: return "router bias";
    case DS_ROLE_INDEXER:
        return rule->linear ? "indexer (DeepSeek Sparse Attention): kept in BF16" : "indexer norm";
    default: return "not a Linear";
    }
}

int ds_qrules_decide(const ds_qrules *r, const char *name, int ndim, const int64_t *shape, ds_qr_decision *d) {
    const ds_config *c = &r->cfg;
    set(d, DS_QR_KEEP, 0, "not a Linear", NULL);
    ds_schema_match m;
    if (!ds_schema_lookup(c, r->fam, name, &m))
        return ds_fail(DS_EXIT_INPUT, "tensor %s: not a tensor of a %s model with this config.json", name,
                       r->fam->model_type);
    if (m.part == DS_PART_SCALE_INV) {
        set(d, DS_QR_DROP, 0, "FP8 block scale, used by its weight's dequantization", NULL);
        return 0;
    }
    if (m.part != DS_PART_TENSOR)
        return ds_fail(DS_EXIT_INPUT, "tensor %s: already compressed-tensors quantized; requant reads FP8 or BF16 "
                       "weights (convert with to-bf16 first)", name);
    const ds_tensor_rule *rule = m.rule;
    if (m.mtp) {
        set(d, DS_QR_KEEP, rule->linear, "MTP layer", NULL);
        return 0;
    }
    if (!rule->quantize) {
        set(d, DS_QR_KEEP, rule->linear, keep_reason(rule), NULL);
        return 0;
    }
    const char *rest = strchr(name + strlen("model.layers."), '.') + 1;
    int l = m.layer;
    if (rule->role == DS_ROLE_EXPERT) {
        if (ndim != 2)
            return ds_fail(DS_EXIT_INPUT, "tensor %s: a Linear weight must be 2-D, not %d-D", name, ndim);
        int64_t want0 = ds_schema_dim(c, rule->d0), want1 = ds_schema_dim(c, rule->d1);
        if (shape[0] != want0 || shape[1] != want1)
            return ds_fail(DS_EXIT_INPUT,
                           "tensor %s [%lld, %lld]: not a routed expert config.json describes "
                           "([%lld, %lld], %d experts from layer %d)",
                           name, (long long)shape[0], (long long)shape[1], (long long)want0, (long long)want1,
                           c->n_routed_experts, c->first_k_dense_replace);
        const experts_state *st = &r->experts[l];
        if (st->kept) set(d, DS_QR_KEEP, 1, st->reason, st->by);
        else set(d, DS_QR_QUANTIZE, 1, NULL, NULL);
        return 0;
    }
    DS_TRY(decide_linear(r, name, rest, ndim, shape, d));
    if (r->experts_only && d->action == DS_QR_QUANTIZE)
        set(d, DS_QR_KEEP, 1, "--experts-only: not a routed expert", NULL);
    return 0;
}

void ds_qrules_set_experts_only(ds_qrules *r, int on) { r->experts_only = on; }

/* ------------------------------------------------------------ ignore list */

/* Natural order: runs of digits compare as numbers. */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y) return x < y ? -1 : 1;
            if ((ea - a) != (eb - b)) return (ea - a) < (eb - b) ? -1 : 1;
            a = ea, b = eb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_str(const void *x, const void *y) { return natural_cmp(*(char *const *)x, *(char *const *)y); }

int ds_qrules_ignore_list(const ds_qrules *r, const ds_qr_tensor *t, int n, char ***list, int *n_list) {
    *list = NULL;
    *n_list = 0;
    char **out = xcalloc((size_t)n + 1, sizeof *out);
    int k = 0;
    int *hits = xcalloc((size_t)r->n_pats + 1, sizeof *hits); /* kept Linears per --ignore pattern */
    for (int i = 0; i < n; i++) {
        ds_qr_decision d;
        int rc = ds_qrules_decide(r, t[i].name, t[i].ndim, t[i].shape, &d);
        if (rc) {
            ds_qrules_list_free(out, k);
            free(hits);
            return rc;
        }
        if (!d.is_linear || d.action != DS_QR_KEEP) continue;
        if (d.pattern)
            for (int p = 0; p < r->n_pats; p++)
                if (r->pats[p].text == d.pattern) hits[p]++;
        int l = ds_layer_of(t[i].name);
        ds_schema_match m;
        char buf[512];
        if (l >= r->cfg.num_hidden_layers) {
            snprintf(buf, sizeof buf, "re:model\\.layers\\.%d\\.", l);
        } else if (l >= 0 && ds_schema_lookup(&r->cfg, r->fam, t[i].name, &m) && m.rule->role == DS_ROLE_EXPERT) {
            snprintf(buf, sizeof buf, "re:model\\.layers\\.%d\\.mlp\\.experts($|\\.)", l);
        } else {
            size_t ml = strlen(t[i].name) - strlen(".weight");
            snprintf(buf, sizeof buf, "%.*s", (int)ml, t[i].name);
        }
        out[k++] = xstrdup(buf);
    }
    qsort(out, (size_t)k, sizeof *out, cmp_str);
    int u = 0;
    for (int i = 0; i < k; i++) {
        if (u && !strcmp(out[u - 1], out[i])) {
            free(out[i]);
            continue;
        }
        out[u++] = out[i];
    }
    for (int p = 0; p < r->n_pats; p++)
        if (!hits[p]) ds_warn("--ignore %s matched no Linear that would be quantized", r->pats[p].text);
    free(hits);
    *list = out;
    *n_list = u;
    return 0;
}

void ds_qrules_list_free(char **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}
