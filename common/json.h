/* json.h - strict JSON for everything dsconv reads from a checkpoint.
 *
 * cJSON keeps the first of two equal keys where Python's json (and so
 * transformers and the safetensors reference reader) keeps the last, and it
 * stops at the end of the first value. A file that two readers understand
 * differently is refused instead: duplicate keys in any object, and anything
 * but whitespace after the value, are DS_EXIT_INPUT naming the file and key. */
#ifndef DS_JSON_H
#define DS_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses text[0, len); *out must be freed with cJSON_Delete. what names the
 * part of the file in messages ("header", or NULL for the whole file). */
int ds_json_parse(const char *path, const char *what, const char *text, size_t len, cJSON **out);
/* The same checks without a message: NULL for invalid JSON, trailing bytes or
 * a duplicate key (for readers that treat a bad line as the end of a log). */
cJSON *ds_json_parse_quiet(const char *text, size_t len);
/* Reads and parses a file of at most max_bytes (a larger one is DS_EXIT_INPUT). */
int ds_json_load(const char *path, size_t max_bytes, cJSON **out);

/* Caps on what is parsed whole (the largest real files are far below them:
 * DeepSeek-V3's index is 9 MB, its config 2 KB). */
#define DS_MAX_CONFIG_BYTES (16u << 20)
#define DS_MAX_INDEX_BYTES (256u << 20)
#define DS_MAX_MANIFEST_BYTES (1024u << 20)

#endif
