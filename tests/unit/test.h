/* test.h - a tiny test harness. Each TEST is one case; CHECK records a failure
 * with file:line and the case goes on. main() is TESTS_MAIN(case, case, ...).
 * Output: one "PASS name" / "FAIL name" line per case (tests/run.sh counts them). */
#ifndef DS_TEST_H
#define DS_TEST_H
#include <stdio.h>
#include <string.h>
#include <math.h>

typedef struct { int fails; } test_ctx;
#define TEST(name) static void name(test_ctx *t_)
#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); t_->fails++; } } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); t_->fails++; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, a_, b_); t_->fails++; } } while (0)
#define CHECK_STR_CONTAINS(hay, needle) CHECKF((hay) && strstr((hay), (needle)), "'%s' lacks '%s'", (hay) ? (hay) : "(null)", (needle))

typedef void (*test_fn)(test_ctx *);
typedef struct { const char *name; test_fn fn; } test_case;
static inline int test_run_all(const test_case *cases, int n) {
    int failed = 0;
    for (int i = 0; i < n; i++) {
        test_ctx c = {0};
        cases[i].fn(&c);
        printf("%s %s\n", c.fails ? "FAIL" : "PASS", cases[i].name);
        fflush(stdout);
        failed += c.fails != 0;
    }
    return failed ? 1 : 0;
}
#define T(fn) { #fn, fn }
#define TESTS_MAIN(...) int main(void) { static const test_case cs_[] = { __VA_ARGS__ }; return test_run_all(cs_, (int)(sizeof cs_ / sizeof cs_[0])); }

/* Directory of test fixtures copied from the golden set (tests/data). */
#ifndef DS_TEST_DATA
#define DS_TEST_DATA "tests/data"
#endif
#endif
