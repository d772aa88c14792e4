/* fuzz_config.c - libFuzzer harness for config.json parsing (ds_config_parse).
 * Any input must give 0 or DS_EXIT_INPUT; an accepted config must pass the
 * sanity rules the parser promises (positive sizes, non-negative counts). */
#include "formats/config.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = xmalloc(size + 1); /* ds_config_parse takes a NUL-terminated text */
    memcpy(json, data, size);
    json[size] = 0;
    ds_config c;
    int rc = ds_config_parse("config.json", json, &c);
    free(json);
    if (rc != 0 && rc != DS_EXIT_INPUT) abort();
    if (rc == 0) {
        if (c.hidden_size <= 0 || c.vocab_size <= 0 || c.num_attention_heads <= 0 || c.num_hidden_layers < 0 ||
            c.n_routed_experts < 0 || (c.n_routed_experts && (c.n_group <= 0 || c.n_routed_experts % c.n_group)))
            abort();
        if (!memchr(c.model_type, 0, sizeof c.model_type) || !memchr(c.torch_dtype, 0, sizeof c.torch_dtype)) abort();
        for (int l = 0; l < 4; l++) (void)ds_config_is_moe_layer(&c, l);
    }
    return 0;
}
