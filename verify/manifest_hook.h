/* manifest_hook.h - where `dsconv verify CKPT --manifest FILE` checks the
 * checkpoint's bytes against a manifest (MANUAL.md "manifest"). cmd/verify.c calls this
 * before anything else and passes its exit code on (0 when the bytes match). */
#ifndef DS_VERIFY_MANIFEST_HOOK_H
#define DS_VERIFY_MANIFEST_HOOK_H

int ds_verify_manifest_check(const char *ckpt_path, const char *manifest_path);

#endif
