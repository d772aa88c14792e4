/* finish.c - dsconv finish OUT: completes a conversion written as --part I/N. */
#include "cmd/cmd.h"
#include "cmd/wargs.h"
#include "common/util.h"
#include "convert/runrec.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help =
    "usage: dsconv finish OUT [--rehash] [--input IN] [--manifest FILE] [--json FILE] [--quiet]\n\n"
    "Complete a conversion that ran as N parts (--part I/N, see MANUAL.md \"Parts\").\n"
    "Checks that OUT/.dsconv holds the records of all N parts, finished, made from\n"
    "the same input with the same command and options as each other and as the\n"
    "input now is, and that every file they name is in OUT with the recorded size\n"
    "and header; then writes what follows the files (side files, config.json and\n"
    "the index, last) and the combined manifest OUT/.dsconv/manifest.json. The\n"
    "result is byte for byte what the command run whole writes. A missing or\n"
    "unfinished part, or any mismatch: exit 3 naming the part(s), nothing written.\n\n"
    "  --rehash          also re-read every file and compare its recorded XXH3-128\n"
    "  --input IN        the input checkpoint, where it is not at the recorded path\n"
    "                    (another mount on this host)\n"
    "  --manifest FILE   also write the combined manifest to FILE\n"
    "  --json FILE       a JSON summary\n"
    "  --quiet           no summary line\n"
    "\nexample (after 'dsconv fp8-to-bf16 IN OUT --part I/16' for I = 1..16):\n"
    "  dsconv finish OUT && dsconv verify --manifest OUT/.dsconv/manifest.json OUT\n";

/* A recorded option is replayed to the command, so it must be one a part
 * records: "--name[=value]" of the command's own options, never a shared one
 * (getopt_long also takes abbreviations: "--man=F" would be --manifest). */
static int replayable(const char *opt) {
    static const struct option shared[] = {DS_WRITE_LONG_OPTS, {0, 0, 0, 0}};
    if (strncmp(opt, "--", 2) || !opt[2] || opt[2] == '=') return 0;
    size_t n = strcspn(opt + 2, "=");
    for (const struct option *o = shared; o->name; o++)
        if (!strncmp(o->name, opt + 2, n)) return 0;
    return 1;
}

int cmd_finish(int argc, char **argv) {
    enum { O_REHASH = 1, O_INPUT, O_MANIFEST, O_JSON, O_QUIET, O_NO_SYNC, O_HELP };
    static const struct option opts[] = {
        {"rehash", no_argument, 0, O_REHASH}, {"input", required_argument, 0, O_INPUT},
        {"manifest", required_argument, 0, O_MANIFEST}, {"json", required_argument, 0, O_JSON},
        {"quiet", no_argument, 0, O_QUIET}, {"no-sync", no_argument, 0, O_NO_SYNC}, {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *input = NULL, *manifest = NULL, *json = NULL;
    int rehash = 0, quiet = 0, no_sync = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_REHASH: rehash = 1; break;
        case O_INPUT: input = optarg; break;
        case O_MANIFEST: manifest = optarg; break;
        case O_JSON: json = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_NO_SYNC: no_sync = 1; break;
        case O_HELP: fputs(help, stdout); return 0;
        default: fputs(help, stderr); return DS_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) { fputs(help, stderr); return DS_EXIT_USAGE; }
    const char *out = argv[optind];
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
    int rc = 0;
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
