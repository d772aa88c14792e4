/* model_card.h - a Hugging Face model card's front matter (README.md's YAML
 * header: license, tags, base model...), read as llama.cpp's converter reads
 * it, within the strict YAML subset model cards use (model_card.c). What the
 * GGUF writer makes of it: convert/gguf_card.h. */
#ifndef DS_MODEL_CARD_H
#define DS_MODEL_CARD_H

/* A value: null, a string, a list (of items), or anything else (a number,
 * a bool, a nested mapping, a block scalar...: not read here). */
typedef enum { DS_CV_NULL, DS_CV_STR, DS_CV_LIST, DS_CV_OTHER } ds_cv_kind;
typedef struct { ds_cv_kind kind; char *s; } ds_cv_item;  /* DS_CV_NULL, _STR or _OTHER */
typedef struct {
    char *key;
    ds_cv_kind kind;
    char *s;              /* DS_CV_STR */
    ds_cv_item *items;    /* DS_CV_LIST: n items */
    int n;
    int line;             /* in README.md, 1-based */
} ds_cv_entry;

/* The front matter's top-level keys, in file order. */
typedef struct {
    char *path;           /* README.md */
    ds_cv_entry *e;
    int n;
} ds_model_card;

/* Reads dir/README.md's front matter. *card is NULL when there is no
 * README.md or no front matter, or when the front matter is more than the
 * YAML subset read here (then a warning names the file, line and why).
 * 0, or DS_EXIT_INPUT naming the file where llama.cpp's converter stops too:
 * a front matter that is not UTF-8 or holds characters YAML refuses. */
int ds_model_card_load(const char *dir, ds_model_card **card);
void ds_model_card_free(ds_model_card *card);
/* The entry of key (a key given twice: the last, as yaml.safe_load), or NULL. */
const ds_cv_entry *ds_model_card_get(const ds_model_card *card, const char *key);
#endif
