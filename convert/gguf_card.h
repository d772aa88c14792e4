/* gguf_card.h - the general.* keys llama.cpp's converter writes from the
 * model card (IN/README.md's YAML front matter: license, tags, base model...)
 * beside general.name and general.size_label, as gguf-py's Metadata.load /
 * set_gguf_meta_model write them. */
#ifndef DS_GGUF_CARD_H
#define DS_GGUF_CARD_H
#include "formats/gguf.h"
#include "formats/model_card.h"
#include <stdint.h>

/* Adds general.name through general.languages in set_gguf_meta_model's
 * order: name (cli_name when set, else the card's, else config.json's
 * _name_or_path title-cased, else dir_base title-cased), author, version, organization,
 * finetune, basename, description, size_label (the card's, else the one
 * found in _name_or_path's or dir_base's name parts, else size_label; NULL:
 * none), license (+ .name, .link), source.*, base_model.*, dataset.*, tags,
 * languages. version/organization/finetune/basename the card leaves unset
 * come from the name parts of name_or_path (NULL: none), then of dir_base
 * (the input directory's last component), as the converter's
 * get_model_id_components finds them. total_params is the converter's
 * parameter count (its size heuristics use it). card may be NULL. Keys of the
 * card whose values are not written as the converter writes them are left out
 * with one warning naming them. */
void ds_gguf_card_write(ds_gguf_kv *kv, const ds_model_card *card, const char *cli_name, const char *dir_base,
                        const char *name_or_path, const char *size_label, int64_t total_params);
#endif
