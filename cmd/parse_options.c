/* parse_options.c - parsing and --help from one option table (parse_options.h). */
#include "cmd/parse_options.h"
#include "cmd/cmd.h"
#include "common/util.h"
#include "common/bug.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Column where the help text of an option starts. */
#define HELP_COL 27

enum { CODE_HELP = 0x10000, CODE_BASE = 0x10001 }; /* getopt_long codes: above any short option */

static int takes_arg(const ds_option *o) {
    switch (o->kind) {
    case DS_OPT_INT: case DS_OPT_DOUBLE: case DS_OPT_STRING: case DS_OPT_ENUM: return 1;
    case DS_OPT_CALLBACK: return !(o->flags & DS_OPTF_NOARG);
    default: return 0;
    }
}

static int is_option(const ds_option *o) { return o->kind != DS_OPT_GROUP && o->kind != DS_OPT_END; }

static void print_option(FILE *f, const ds_option *o) {
    char left[160];
    int n;
    if (o->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s%s%s", o->short_name, o->long_name, o->argh ? " " : "",
                     o->argh ? o->argh : "");
    else
        n = snprintf(left, sizeof left, "  --%s%s%s", o->long_name, o->argh ? " " : "", o->argh ? o->argh : "");
    fputs(left, f);
    if (n + 2 > HELP_COL) fputs("  ", f);
    else fprintf(f, "%*s", HELP_COL - n, "");
    /* continuation lines of the help text start at the help column */
    for (const char *h = o->help ? o->help : ""; *h; h++) {
        fputc(*h, f);
        if (*h == '\n' && h[1]) fprintf(f, "%*s", HELP_COL, "");
    }
    fputc('\n', f);
}

void ds_opt_print_list(FILE *f, const ds_option *opts) {
    for (const ds_option *o = opts; o->kind != DS_OPT_END; o++) {
        if (o->kind == DS_OPT_GROUP) fprintf(f, "%s\n", o->help);
        else if (!(o->flags & DS_OPTF_HIDDEN)) print_option(f, o);
    }
}

void ds_opt_print_help(FILE *f, const ds_option *opts, const ds_opt_doc *doc) {
    if (doc->usage) fputs(doc->usage, f);
    ds_opt_print_list(f, opts);
    if (doc->epilog) fputs(doc->epilog, f);
}

int ds_opt_usage_error(const ds_option *opts, const ds_opt_doc *doc) {
    ds_opt_print_help(stderr, opts, doc);
    return DS_EXIT_USAGE;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !*s || *end || !(v >= lo && v <= hi))
        return ds_fail(DS_EXIT_USAGE, "%s takes a number from %g to %g (got '%s')", opt, lo, hi, s);
    *out = v;
    return 0;
}

static int parse_enum(const char *opt, const ds_opt_choice *ch, const char *s, int *out) {
    for (const ds_opt_choice *c = ch; c->name; c++)
        if (!strcmp(c->name, s)) { *out = c->value; return 0; }
    char list[256] = "";
    size_t n = 0;
    for (const ds_opt_choice *c = ch; c->name && n < sizeof list; c++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", c == ch ? "" : c[1].name ? ", " : " or ", c->name);
    return ds_fail(DS_EXIT_USAGE, "%s must be %s (got '%s')", opt, list, s);
}

/* Stores one parsed option; 0 or an exit code. */
static int apply(const ds_option *o, const char *arg) {
    char opt[96];
    snprintf(opt, sizeof opt, "--%s", o->long_name);
    switch (o->kind) {
    case DS_OPT_FLAG: *(int *)o->value = 1; return 0;
    case DS_OPT_INT: return ds_parse_int(opt, arg, o->min, o->max, (long *)o->value);
    case DS_OPT_DOUBLE: return parse_double(opt, arg, o->dmin, o->dmax, (double *)o->value);
    case DS_OPT_STRING: *(const char **)o->value = arg; return 0;
    case DS_OPT_ENUM: return parse_enum(opt, o->choices, arg, (int *)o->value);
    case DS_OPT_CALLBACK: return o->cb(o, arg);
    default: DS_BUG("option --%s of kind %d cannot be parsed", o->long_name, (int)o->kind);
    }
    return 0;
}

int ds_parse_options(int argc, char **argv, const ds_option *opts, const ds_opt_doc *doc, int *first_arg) {
    int n = 0;
    for (const ds_option *o = opts; o->kind != DS_OPT_END; o++) n++;
    struct option *lo = xcalloc((size_t)n + 2, sizeof *lo);
    char shorts[128] = "";
    size_t ns = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const ds_option *o = &opts[i];
        if (!is_option(o)) continue;
        DS_ASSERT(o->long_name && (o->kind != DS_OPT_CALLBACK || o->cb) && (o->kind == DS_OPT_CALLBACK || o->value));
        lo[k++] = (struct option){o->long_name, takes_arg(o) ? required_argument : no_argument, 0,
                                  o->short_name ? o->short_name : CODE_BASE + i};
        if (o->short_name && ns + 3 < sizeof shorts) {
            shorts[ns++] = (char)o->short_name;
            if (takes_arg(o)) shorts[ns++] = ':';
        }
    }
    lo[k++] = (struct option){"help", no_argument, 0, CODE_HELP};
    if (doc->short_help && ns + 2 < sizeof shorts) shorts[ns++] = 'h';
    shorts[ns] = 0;

    int rc = 0, c;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (c == CODE_HELP || (c == 'h' && doc->short_help)) {
            ds_opt_print_help(stdout, opts, doc);
            rc = DS_OPT_HELP_SHOWN;
            break;
        }
        const ds_option *o = NULL;
        if (c >= CODE_BASE && c < CODE_BASE + n) o = &opts[c - CODE_BASE];
        else
            for (int i = 0; i < n && !o; i++)
                if (is_option(&opts[i]) && opts[i].short_name && opts[i].short_name == c) o = &opts[i];
        if (!o) { /* '?': getopt_long has said what is wrong */
            rc = ds_opt_usage_error(opts, doc);
            break;
        }
        const char *arg = takes_arg(o) ? optarg : NULL;
        if ((rc = apply(o, arg))) break;
        if ((o->flags & DS_OPTF_RECORD) && doc->note) doc->note(doc->note_ctx, o, arg);
    }
    free(lo);
    *first_arg = optind;
    return rc;
}

int ds_opt_operands(int argc, char **argv, int first, const ds_option *opts, const ds_opt_doc *doc, int n, ...) {
    va_list ap;
    int missing = 0;
    va_start(ap, n);
    for (int k = 0; k < n; k++) {
        const char **t = va_arg(ap, const char **);
        if (!*t && first < argc) *t = argv[first++];
        if (!*t) missing = 1;
    }
    va_end(ap);
    return missing || first != argc ? ds_opt_usage_error(opts, doc) : 0;
}

int ds_opt_cb_device(const ds_option *o, const char *arg) { return ds_parse_device(arg, (ds_device_req *)o->value); }
