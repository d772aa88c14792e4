/* jsonfile.c - see jsonfile.h. */
#include "common/jsonfile.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int ds_write_json_atomic(const char *path, const cJSON *j) {
    char *txt = cJSON_Print(j);
    if (!txt) return ds_fail(DS_EXIT_IO, "%s: out of memory printing JSON", path);
    size_t n = strlen(txt);
    txt[n] = '\n'; /* the terminator becomes the closing newline: the length is n + 1 */
    int rc = ds_write_file_atomic(path, txt, n + 1);
    free(txt);
    return rc;
}
