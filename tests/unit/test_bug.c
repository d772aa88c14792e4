/* test_bug.c - DS_BUG / DS_ASSERT (common/bug.h): the message names the
 * source file and line of the call, and the process ends with DS_EXIT_BUG (70),
 * distinct from the input (3) and I/O (4) codes. Each case runs the failing
 * call in a forked child and reads its stderr through a pipe. */
#include "tests/unit/test.h"
#include "common/bug.h"
#include "common/util.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn in a child; returns its exit status (-1 when it did not exit) and its stderr in err. */
static int run_child(void (*fn)(int), int arg, char *err, size_t cap) {
    int fd[2];
    if (pipe(fd)) return -2;
    fflush(stdout); fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -2;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(fd[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid) return -2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Each enum sits on the line of its call, so it holds the line the message must name. */
static void call_bug(int v) { DS_BUG("slot state %d is impossible", v); } enum { BUG_LINE = __LINE__ };
static void call_assert(int v) { DS_ASSERT(v > 3); } enum { ASSERT_LINE = __LINE__ };
static void call_assert_ok(int v) { DS_ASSERT(v > 3); }

TEST(bug_names_file_line_and_exits_70) {
    char err[2048], want[128];
    int rc = run_child(call_bug, 7, err, sizeof err);
    CHECK_EQ_INT(rc, DS_EXIT_BUG);
    CHECK_EQ_INT(DS_EXIT_BUG, 70);
    snprintf(want, sizeof want, "tests/unit/test_bug.c:%d: slot state 7 is impossible", (int)BUG_LINE);
    const char *e = err;
    CHECK_STR_CONTAINS(e, want);
    CHECK_STR_CONTAINS(e, "dsconv: BUG: ");
}

TEST(assert_names_condition_and_exits_70) {
    char err[2048], want[128];
    int rc = run_child(call_assert, 2, err, sizeof err);
    CHECK_EQ_INT(rc, DS_EXIT_BUG);
    snprintf(want, sizeof want, "tests/unit/test_bug.c:%d: assertion failed: v > 3", (int)ASSERT_LINE);
    const char *e = err;
    CHECK_STR_CONTAINS(e, want);
}

TEST(assert_that_holds_is_silent) {
    char err[256];
    int rc = run_child(call_assert_ok, 4, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(strlen(err), 0);
}

TEST(bug_code_is_none_of_the_others) {
    int codes[] = {DS_OK, DS_EXIT_MISMATCH, DS_EXIT_USAGE, DS_EXIT_INPUT, DS_EXIT_IO, 77 /* skip */};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) CHECK(codes[i] != DS_EXIT_BUG);
}

TESTS_MAIN(T(bug_names_file_line_and_exits_70), T(assert_names_condition_and_exits_70),
           T(assert_that_holds_is_silent), T(bug_code_is_none_of_the_others))
