/* runrec.h - what a writing run records under OUT/.dsconv/, so that --resume
 * and --part I/N can prove what is on disk instead of assuming it.
 *
 * A run (the whole command, or part I of N) is described by its head: the
 * command, the options that shape the output bytes, the input directory and a
 * fingerprint of the input (index, config, every shard's size and header hash).
 * While it writes, the run appends one line per committed output file to a
 * journal (OUT/.dsconv/run.log or part-I-of-N.log): the file's size (and
 * XXH3-128, and its tensors'), written after the rename, so an entry proves the
 * file was complete. When the run ends, the journal becomes the record
 * (run.json / part-I-of-N.json): the head plus the manifest of what it wrote.
 *
 *   journal line 1: {"format":"dsconv-run-1","command":C,"options":[..],"input":DIR,
 *                    "part":[I,N] (parts only),"fingerprint":{...}}
 *   journal line k: {"file":NAME,"size":N,"xxh3_128":HEX,"tensors":{NAME:HEX,...}}
 *                   (the hashes where the run makes them: parts, and runs with --manifest)
 *   record:         the head's fields + "files":{NAME:{"size","xxh3_128","tensors"}}
 *
 * Nothing here relies on locks: every run writes only its own journal and
 * record, and reads the others'. */
#ifndef DS_RUNREC_H
#define DS_RUNREC_H

#include "convert/plan.h"
#include <cjson/cJSON.h>

#define DS_REC_DIR ".dsconv"

/* The input's fingerprint as JSON: {"xxh3_128": HEX over all of it, "index": HEX|null,
 * "config": HEX|null, "shards": [{"name","size","header"}...]}. Caller frees. */
int ds_fingerprint(const ds_ckpt *c, cJSON **out);
/* NULL when a and b are the same input; else a malloc'd sentence saying the
 * first difference ("shard X: size 10 -> 12"). */
char *ds_fingerprint_diff(const cJSON *was, const cJSON *now);

/* The head of a run: caller frees. options: the output-shaping options, as given. */
cJSON *ds_rec_head(const char *command, const char *const *options, int n_options, const char *input_dir,
                   int part_i, int part_n, const cJSON *fingerprint);
/* NULL when heads a and b describe the same conversion (command, options,
 * input fingerprint; not the part), else a malloc'd sentence saying how they differ. */
char *ds_rec_head_diff(const cJSON *was, const cJSON *now);

/* A loaded record or journal. */
typedef struct {
    cJSON *head;     /* the head's fields (owned) */
    cJSON *files;    /* NAME -> {"size","xxh3_128","tensors"} (owned, possibly empty) */
    int complete;    /* from the final record, not a journal */
    int part_i, part_n;  /* 0, 0 for a whole run */
} ds_rec;

/* File names under OUT/.dsconv: "run" or "part-I-of-N", plus ".log" / ".json". malloc'd. */
char *ds_rec_path(const char *out_dir, int part_i, int part_n, const char *ext);
/* Loads the record (preferred) or journal of run (part_i, part_n) in out_dir.
 * 0 with *found 0 when neither exists; DS_EXIT_INPUT when one is not readable as ours. */
int ds_rec_load(const char *out_dir, int part_i, int part_n, ds_rec *r, int *found);
void ds_rec_free(ds_rec *r);

/* Every record or journal in OUT/.dsconv (whole run and parts), sorted by
 * (part_n, part_i). */
typedef struct { ds_rec *recs; int n; } ds_rec_set;
int ds_rec_load_all(const char *out_dir, ds_rec_set *s);
void ds_rec_set_free(ds_rec_set *s);

/* The journal a run appends to. */
typedef struct ds_journal ds_journal;
/* Creates (truncate) or reopens (append) the journal; a new one gets the head as its first line. */
int ds_journal_open(ds_journal **j, const char *out_dir, int part_i, int part_n, const cJSON *head, int append,
                    int sync);
/* Appends one committed file's entry (durable before it returns, unless sync is off). */
int ds_journal_add(ds_journal *j, const char *file, const cJSON *entry);
void ds_journal_close(ds_journal *j);
/* Writes the final record (head + files) atomically and removes the journal. */
int ds_rec_finish(const char *out_dir, int part_i, int part_n, const cJSON *head, const cJSON *files);
/* Removes every record and journal in OUT/.dsconv (--force starts over). */
int ds_rec_remove_all(const char *out_dir);

/* --part: the part (1..n_parts) of every plan file, a pure function of the
 * plan (so of the input's index and the options) and n_parts: the files,
 * largest first (ties in plan order), each go to the part with the fewest
 * bytes so far (ties: the lowest part). part_of must hold p->n_files. */
void ds_part_assign(const ds_plan *p, int n_parts, int *part_of);
/* Planned bytes of plan file f (header and data). */
uint64_t ds_plan_file_bytes(const ds_plan *p, int f);

/* Entry JSON of a file as a manifest holds it: {"size"[,"xxh3_128"][,"tensors"]}
 * (hashes where the run made them: parts and runs with --manifest). */
cJSON *ds_rec_entry(uint64_t size, const char *hex /* 32 hex digits or NULL */, cJSON *tensors /* taken, may be NULL */);

#endif
