/* requant.c - dsconv requant (not built yet: issue 6). */
#include "cmd/cmd.h"
#include "common/util.h"

int cmd_requant(int argc, char **argv) {
    (void)argc; (void)argv;
    return ds_fail(DS_EXIT_USAGE, "'requant' is not built yet in this version of dsconv");
}
