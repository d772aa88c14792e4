/* test_xform_prepare.c - the executor's readers prepare an item (the NVFP4
 * global scale) from the bytes they just read, ahead of the transform
 * (convert/xform.h ds_xf_prepare): the bytes and the scale must be those of an
 * unprepared run, whether the weight's bytes are handed over or read through
 * the map. On dev-tiny (FP8, gate/up partners). */
#include "test.h"
#include "convert/requant_plan.h"
#include "convert/xform.h"
#include "quant/requant.h"
#include "common/util.h"

#include <stdlib.h>

/* Runs every NVFP4 item of the plan whole (one chunk), prepared as `how` says
 * (0 not, 1 with its bytes, 2 through the map); appends all result bytes to *out. */
static size_t run_all(test_ctx *t_, ds_ckpt *c, ds_plan *p, int how, uint8_t **out) {
    size_t max_in = 0, max_out = 0, total = 0;
    for (int i = 0; i < p->n_items; i++) {
        const ds_plan_item *it = &p->items[i];
        if (it->xform != DS_XF_QUANT) continue;
        int64_t rows = ds_tensor_rows(it->src->info);
        size_t in = (size_t)(rows * ds_tensor_cols(it->src->info)) * ds_dtype_size(it->src->info->dtype);
        if (in > max_in) max_in = in;
        if (ds_xf_out_bytes(it, rows) > max_out) max_out = ds_xf_out_bytes(it, rows);
    }
    ds_xf_ctx *x = NULL;
    CHECK_EQ_INT(ds_xf_create(&x, c, p, 0, max_in, max_out), 0);
    if (!x) return 0;
    uint8_t *buf = xmalloc(max_out + 1);
    *out = NULL;
    for (int i = 0; i < p->n_items; i++) {
        const ds_plan_item *it = &p->items[i];
        if (it->xform != DS_XF_QUANT) continue;
        int64_t rows = ds_tensor_rows(it->src->info);
        const uint8_t *src = ds_ckpt_data(c, it->src);
        if (how) ds_xf_prepare(x, it, how == 1 ? src : NULL);
        ds_xf_result r;
        CHECK_EQ_INT(ds_xf_run(x, it, 0, rows, src, buf, &r), 0);
        for (int k = 0; k < r.n; k++) {
            size_t n = r.part[k].deferred_done ? r.part[k].bytes : (size_t)(r.part[k].rows * r.part[k].row_bytes);
            *out = xrealloc(*out, total + n + 1);
            memcpy(*out + total, r.part[k].data, n);
            total += n;
        }
    }
    free(buf);
    ds_xf_destroy(x);
    return total;
}

TEST(prepared_items_give_the_same_bytes) {
    ds_ckpt c;
    if (ds_ckpt_open(DS_TEST_DATA "/dev-tiny/input", &c)) {
        CHECKF(0, "cannot open the dev-tiny fixture");
        return;
    }
    ds_quant_spec s;
    CHECK_EQ_INT(ds_quant_parse_format("nvfp4", &s), 0);
    ds_plan p;
    CHECK_EQ_INT(ds_plan_requant(&c, &s, NULL, 0, &p), 0);
    int partners = 0;
    for (int i = 0; i < p.n_items; i++) partners += p.items[i].partner != NULL;
    CHECKF(partners > 0, "dev-tiny's plan has no gate/up partners: the test proves less");
    uint8_t *a = NULL, *b = NULL, *m = NULL;
    size_t na = run_all(t_, &c, &p, 0, &a), nb = run_all(t_, &c, &p, 1, &b), nm = run_all(t_, &c, &p, 2, &m);
    CHECK(na > 0 && na == nb && na == nm);
    CHECKF(na == nb && a && b && !memcmp(a, b, na), "prepared with its bytes: output differs");
    CHECKF(na == nm && a && m && !memcmp(a, m, na), "prepared through the map: output differs");
    free(a); free(b); free(m);
    ds_plan_free(&p);
    ds_ckpt_close(&c);
}

TESTS_MAIN(T(prepared_items_give_the_same_bytes))
