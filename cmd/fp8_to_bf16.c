/* fp8_to_bf16.c - dsconv fp8-to-bf16: the alias of to-bf16 (cmd/to_bf16.c),
 * kept with upstream's flags (--input-fp8-hf-path, --output-bf16-hf-path). */
#include "cmd/cmd.h"

int cmd_fp8_to_bf16(int argc, char **argv) { return cmd_to_bf16(argc, argv); }
