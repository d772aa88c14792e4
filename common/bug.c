/* bug.c - the one exit for broken invariants (see bug.h). */
#include "common/bug.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void ds_bug_at(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One write, so lines of threads that fail together do not interleave. */
    fprintf(stderr, "dsconv: BUG: %s:%d: %s (please report this; exit %d)\n", file, line, msg, DS_EXIT_BUG);
    fflush(stderr);
    fflush(stdout);
    /* _exit, not exit: other threads may hold locks that atexit handlers or
     * stdio teardown would wait for; a broken invariant must not hang. */
    _exit(DS_EXIT_BUG);
}
