/* jsonfile.h - a JSON document written as a file, atomically (reports,
 * manifests, config.json): cJSON's pretty print, one closing newline, written
 * under a temporary name and renamed (ds_write_file_atomic). */
#ifndef DS_JSONFILE_H
#define DS_JSONFILE_H

#include <cjson/cJSON.h>

/* 0, or DS_EXIT_IO (reported, naming path) when it cannot be printed or written. */
int ds_write_json_atomic(const char *path, const cJSON *j);

#endif
