/* bug.h - broken invariants: DS_BUG() and DS_ASSERT().
 *
 * Input that is wrong is answered with a message and DS_EXIT_INPUT (3) or
 * DS_EXIT_IO (4) returned up the call chain (common/util.h). What can only
 * happen when dsconv itself is wrong - a state the code rules out, a size a
 * planner already checked - is a bug, not an input error: DS_BUG() prints
 * "dsconv: BUG: FILE:LINE: message" and ends the process at once with
 * DS_EXIT_BUG (70, sysexits' EX_SOFTWARE), so a script never mistakes an
 * internal error for bad input or a full disk. Temporary output files stay
 * under their temporary names (the output never looks complete).
 *
 * DS_ASSERT(cond) is DS_BUG("assertion failed: cond") when cond is false; it
 * is always compiled in (the checks are cheap and sit outside the hot loops).
 * DS_STATIC_ASSERT(cond, why) is the compile-time form. */
#ifndef DS_BUG_H
#define DS_BUG_H

enum { DS_EXIT_BUG = 70 };

void ds_bug_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define DS_BUG(...) ds_bug_at(__FILE__, __LINE__, __VA_ARGS__)
#define DS_ASSERT(cond) \
    do { if (!(cond)) ds_bug_at(__FILE__, __LINE__, "assertion failed: %s", #cond); } while (0)
#define DS_STATIC_ASSERT(cond, why) _Static_assert(cond, why)

#endif
