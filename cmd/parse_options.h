/* parse_options.h - one option table per command drives both parsing and the
 * option list of --help (as git's parse-options): each option is spelled once,
 * with its long name, short letter, kind, target, value name and help text.
 * Groups of options that several commands share (the writing commands' common
 * options, --device, --threads, ...) are macros that expand to table entries. */
#ifndef DS_PARSE_OPTIONS_H
#define DS_PARSE_OPTIONS_H

#include <stdio.h>

typedef enum {
    DS_OPT_END = 0, /* terminates a table */
    DS_OPT_GROUP,   /* a heading in --help ("options:"); parses nothing */
    DS_OPT_FLAG,    /* no value: *(int *)value = 1 */
    DS_OPT_INT,     /* *(long *)value = a whole number in [min, max] */
    DS_OPT_DOUBLE,  /* *(double *)value = a number in [dmin, dmax] */
    DS_OPT_STRING,  /* *(const char **)value = the argument */
    DS_OPT_ENUM,    /* *(int *)value = the value of the choice named (choices) */
    DS_OPT_CALLBACK /* cb(option, arg): 0 or an exit code; value is the callback's context */
} ds_opt_kind;

enum {
    DS_OPTF_RECORD = 1, /* shapes the output bytes: noted for the run record (--resume, --part, finish) */
    DS_OPTF_HIDDEN = 2, /* parsed but not listed in --help (internal) */
    DS_OPTF_NOARG = 4   /* a CALLBACK that takes no value */
};

typedef struct {
    const char *name;
    int value;
} ds_opt_choice;

typedef struct ds_option ds_option;
typedef int (*ds_opt_cb)(const ds_option *o, const char *arg);

struct ds_option {
    ds_opt_kind kind;
    const char *long_name; /* without the leading "--" */
    int short_name;        /* 0: none */
    void *value;
    const char *argh;      /* the value's name in --help ("N", "FILE"); NULL for a flag */
    const char *help;      /* may hold '\n': continuation lines are indented */
    unsigned flags;
    long min, max;                /* DS_OPT_INT */
    double dmin, dmax;            /* DS_OPT_DOUBLE */
    const ds_opt_choice *choices; /* DS_OPT_ENUM, ended by {NULL, 0} */
    ds_opt_cb cb;                 /* DS_OPT_CALLBACK */
};

/* Table entries; a trailing ".flags = DS_OPTF_..." (or any other field) may follow. */
#define DS_OPT_GROUP_(h) {.kind = DS_OPT_GROUP, .help = (h)}
#define DS_OPT_FLAG_(l, s, v, h, ...) \
    {.kind = DS_OPT_FLAG, .long_name = (l), .short_name = (s), .value = (v), .help = (h), __VA_ARGS__}
#define DS_OPT_INT_(l, v, a, lo, hi, h, ...) \
    {.kind = DS_OPT_INT, .long_name = (l), .value = (v), .argh = (a), .help = (h), .min = (lo), .max = (hi), __VA_ARGS__}
#define DS_OPT_DOUBLE_(l, v, a, lo, hi, h, ...) \
    {.kind = DS_OPT_DOUBLE, .long_name = (l), .value = (v), .argh = (a), .help = (h), .dmin = (lo), .dmax = (hi), \
     __VA_ARGS__}
#define DS_OPT_STRING_(l, s, v, a, h, ...) \
    {.kind = DS_OPT_STRING, .long_name = (l), .short_name = (s), .value = (v), .argh = (a), .help = (h), __VA_ARGS__}
#define DS_OPT_ENUM_(l, v, a, c, h, ...) \
    {.kind = DS_OPT_ENUM, .long_name = (l), .value = (v), .argh = (a), .help = (h), .choices = (c), __VA_ARGS__}
#define DS_OPT_CALLBACK_(l, v, a, f, h, ...) \
    {.kind = DS_OPT_CALLBACK, .long_name = (l), .value = (v), .argh = (a), .help = (h), .cb = (f), __VA_ARGS__}
#define DS_OPT_END_() {.kind = DS_OPT_END}

/* --help and -h are answered by the parser itself; every table gets them. */

/* Called for each DS_OPTF_RECORD option parsed, with its argument (NULL for a flag). */
typedef void (*ds_opt_note)(void *ctx, const ds_option *o, const char *arg);

typedef struct {
    const char *usage;   /* usage lines and what the command does, printed before the options */
    const char *epilog;  /* after the options: examples, exit codes */
    ds_opt_note note;    /* optional */
    void *note_ctx;
    int short_help;      /* -h is --help too (a command with short options) */
} ds_opt_doc;

/* Parses argv[1..] with the table (getopt_long: long options may be abbreviated,
 * options and operands may mix). Returns 0 with *first_arg the index of the
 * first operand; DS_OPT_HELP_SHOWN after printing --help on stdout (the
 * command then exits 0); or an exit code: an unknown option or a missing value
 * prints the help on stderr and is DS_EXIT_USAGE, as is a bad value. */
enum { DS_OPT_HELP_SHOWN = -1 };
int ds_parse_options(int argc, char **argv, const ds_option *opts, const ds_opt_doc *doc, int *first_arg);

/* The command's operands (IN, OUT, ...), argv[first..argc): each of the n
 * targets (const char **) still NULL takes the next operand, in order, so that
 * one given by an option (--hf-ckpt-path IN) is kept; then every target must
 * be set and no operand left. 0, or the usage error (help on stderr, exit 2). */
int ds_opt_operands(int argc, char **argv, int first, const ds_option *opts, const ds_opt_doc *doc, int n, ...);

/* Prints the command's help: doc->usage, the generated option list, doc->epilog. */
void ds_opt_print_help(FILE *f, const ds_option *opts, const ds_opt_doc *doc);
/* Prints only the generated option list (headings and options). */
void ds_opt_print_list(FILE *f, const ds_option *opts);
/* The usage error of a command: its help on stderr; DS_EXIT_USAGE. */
int ds_opt_usage_error(const ds_option *opts, const ds_opt_doc *doc);

/* Callbacks for options that several commands share (value: the target). */
int ds_opt_cb_device(const ds_option *o, const char *arg);  /* value: ds_device_req * */

#define DS_OPT_DEVICE_(v, h) DS_OPT_CALLBACK_("device", (v), "auto|cpu|cuda|cuda:K", ds_opt_cb_device, (h))
#define DS_OPT_THREADS_(v, h) DS_OPT_INT_("threads", (v), "N", 1, 4096, (h))

#endif
