/* fsafe.h - file-system safety: temporary files nobody can plant, side files
 * that stay inside the checkpoint, outputs that never overlap the input, and
 * a clean exit when a mapped input file shrinks under us.
 *
 * Every file dsconv writes is first created by ds_tmp_create (one place), so
 * a link or file planted at a predictable name is never followed or reused. */
#ifndef DS_FSAFE_H
#define DS_FSAFE_H

#include <stdint.h>
#include <sys/types.h>

/* Creates a fresh temporary file beside final_path:
 * "DIR/.BASE.XXXXXX.dsconv-tmp" (six random characters), opened
 * O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC with mode (umask applies).
 * *tmp is malloc'd. 0 or DS_EXIT_IO. */
int ds_tmp_create(const char *final_path, mode_t mode, char **tmp, int *fd);
/* True for names ds_tmp_create makes (and the older ".BASE.dsconv-tmp"). */
int ds_is_tmp_name(const char *name);

/* The directory tree a checkpoint may read side files from: the input
 * directory itself, and for a Hugging Face cache snapshot
 * (".../models--ORG--NAME/snapshots/REV") that repository's blobs/. */
typedef struct {
    char *real;   /* realpath of the input directory */
    char *blobs;  /* realpath of ../../blobs for a cache snapshot, or NULL */
} ds_tree;
int ds_tree_init(ds_tree *t, const char *dir);
void ds_tree_free(ds_tree *t);
/* Checks the entry DIR/NAME of the tree for reading: a symbolic link must
 * resolve inside the tree (else DS_EXIT_INPUT naming the link and its
 * target); the file must be a regular file (a FIFO, device or socket is
 * DS_EXIT_INPUT) that can be opened. *resolved (malloc'd) is the path to
 * open: with no links left, for O_NOFOLLOW. *is_dir set for directories
 * (not an error: the caller skips them). */
int ds_tree_member(const ds_tree *t, const char *name, char **resolved, int *is_dir);

/* Copies src (opened O_NOFOLLOW, must be a regular file) to dst through a
 * temporary file, streaming, with src's permission bits (never wider):
 * 0, DS_EXIT_INPUT or DS_EXIT_IO. */
int ds_copy_file_stream(const char *src, const char *dst);

/* Refuses an output directory that would put the input at risk: OUT that is
 * IN (same device and inode, whatever the spelling), OUT inside IN, or IN
 * inside OUT. For a lone-file input (in_is_file) IN is the file's directory
 * for "OUT is IN" and "IN inside OUT"; a fresh folder beside the file is fine.
 * DS_EXIT_USAGE naming both, or 0. Nothing is created or removed. */
int ds_check_out_vs_in(const char *in_dir, int in_is_file, const char *out_dir);

/* For commands whose OUT is one file (to-gguf): an existing OUT that is the
 * input file, or a file inside the input directory, is DS_EXIT_USAGE (even
 * with --force). A new file is fine. */
int ds_check_out_file_vs_in(const char *in, const char *out_file);

/* Installs a SIGBUS handler: a mapped input that shrinks while being read
 * (the only way dsconv gets SIGBUS) ends the process with exit 4 and a
 * message instead of a crash. Temporary outputs stay hidden and are removed
 * by the next run. */
void ds_install_fault_handlers(void);

#endif
