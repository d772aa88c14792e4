/* manifest.c - dsconv manifest (not built yet: issue 7). */
#include "cmd/cmd.h"
#include "common/util.h"

int cmd_manifest(int argc, char **argv) {
    (void)argc; (void)argv;
    return ds_fail(DS_EXIT_USAGE, "'manifest' is not built yet in this version of dsconv");
}
