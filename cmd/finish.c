/* finish.c - dsconv finish OUT: completes a conversion written as --part I/N. */
#include "cmd/cmd.h"
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/runrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: dsconv finish OUT [--rehash] [--input IN] [--manifest FILE] [--json FILE] [--quiet]\n\n"
    "Complete a conversion that ran as N parts (--part I/N, see MANUAL.md \"Parts\").\n"
    "Checks that OUT/.dsconv holds the records of all N parts, finished, made from\n"
    "the same input with the same command and options as each other and as the\n"
    "input now is, and that every file they name is in OUT with the recorded size\n"
    "and header; then writes what follows the files (side files, config.json and\n"
    "the index, last) and the combined manifest OUT/.dsconv/manifest.json. The\n"
    "result is byte for byte what the command run whole writes. A missing or\n"
    "unfinished part, or any mismatch: exit 3 naming the part(s), nothing written.\n\n"
    ;

static const char *examples =
    "\nexample (after 'dsconv fp8-to-bf16 IN OUT --part I/16' for I = 1..16):\n"
    "  dsconv finish OUT && dsconv verify --manifest OUT/.dsconv/manifest.json OUT\n";

/* A recorded option is replayed to the command, so it must be one a part
 * records: "--name[=value]" of the command's own options, never a shared one
 * (getopt_long also takes abbreviations: "--man=F" would be --manifest). */
static int replayable(const char *opt) {
    if (strncmp(opt, "--", 2) || !opt[2] || opt[2] == '=') return 0;
    return !ds_wargs_is_shared(opt + 2, strcspn(opt + 2, "="));
}

int cmd_finish(int argc, char **argv) {
    const char *input = NULL, *manifest = NULL, *json = NULL;
    int rehash = 0, quiet = 0, no_sync = 0;
    const ds_option opts[] = {
        DS_OPT_FLAG_("rehash", 0, &rehash, "also re-read every file and compare its recorded XXH3-128"),
        DS_OPT_STRING_("input", 0, &input, "IN",
                       "the input checkpoint, where it is not at the recorded path\n(another mount on this host)"),
        DS_OPT_STRING_("manifest", 0, &manifest, "FILE", "also write the combined manifest to FILE"),
        DS_OPT_STRING_("json", 0, &json, "FILE", "a JSON summary"),
        DS_OPT_FLAG_("quiet", 0, &quiet, "no summary line"),
        DS_OPT_FLAG_("no-sync", 0, &no_sync, "skip fsync before each rename"),
        DS_OPT_END_()};
    const ds_opt_doc doc = {usage, examples, NULL, NULL, 0};
    int i, rc = ds_parse_options(argc, argv, opts, &doc, &i);
    if (rc) return rc == DS_OPT_HELP_SHOWN ? 0 : rc;
    const char *out = NULL;
    DS_TRY(ds_opt_operands(argc, argv, i, opts, &doc, 1, &out));
    if (!ds_is_dir(out)) return ds_fail(DS_EXIT_INPUT, "%s: not a directory", out);

    /* Any part's record says what was run; the command itself then checks every part against it. */
    ds_rec_set all;
    DS_TRY(ds_rec_load_all(out, &all));
    const ds_rec *r = NULL;
    for (int k = 0; k < all.n && !r; k++)
        if (all.recs[k].part_n) r = &all.recs[k];
    if (!r) {
        ds_rec_set_free(&all);
        return ds_fail(DS_EXIT_INPUT, "%s: no part records in %s/ (run the parts with --part I/N first)", out,
                       DS_REC_DIR);
    }
    const char *command = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->head, "command"));
    const char *in = input ? input : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->head, "input"));
    const ds_cmd *cmd = command ? ds_cmd_find(command) : NULL;
    if (!cmd || !strcmp(command, "finish") || !in) {
        rc = ds_fail(DS_EXIT_INPUT, "%s: part %d of %d: record names no command dsconv can finish ('%s')", out,
                     r->part_i, r->part_n, command ? command : "?");
        ds_rec_set_free(&all);
        return rc;
    }
    const cJSON *ropts = cJSON_GetObjectItemCaseSensitive(r->head, "options"), *o;
    cJSON_ArrayForEach(o, ropts)
        if (!cJSON_IsString(o) || !replayable(o->valuestring)) {
            rc = ds_fail(DS_EXIT_INPUT, "%s: part %d of %d: recorded option '%s' is not one a part records", out,
                         r->part_i, r->part_n, cJSON_IsString(o) ? o->valuestring : "?");
            ds_rec_set_free(&all);
            return rc;
        }
    int n = cJSON_GetArraySize(ropts);
    char **av = xcalloc((size_t)n + 16, sizeof(char *));
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "--finish-parts=%d", r->part_n);
    int ac = 0;
    av[ac++] = xstrdup(command);
    av[ac++] = xstrdup(in);
    av[ac++] = xstrdup(out);
    cJSON_ArrayForEach(o, ropts) av[ac++] = xstrdup(cJSON_IsString(o) ? o->valuestring : "--?");
    av[ac++] = xstrdup(nbuf);
    if (rehash) av[ac++] = xstrdup("--rehash");
    if (quiet) av[ac++] = xstrdup("--quiet");
    if (no_sync) av[ac++] = xstrdup("--no-sync");
    if (manifest) { av[ac++] = xstrdup("--manifest"); av[ac++] = xstrdup(manifest); }
    if (json) { av[ac++] = xstrdup("--json"); av[ac++] = xstrdup(json); }
    ds_rec_set_free(&all);
    /* getopt permutes argv: keep the pointers to free them. */
    char **keep = xcalloc((size_t)ac + 1, sizeof(char *));
    memcpy(keep, av, sizeof(char *) * (size_t)ac);
    rc = cmd->fn(ac, av);
    for (int i = 0; i < ac; i++) free(keep[i]);
    free(keep);
    free(av);
    return rc;
}
