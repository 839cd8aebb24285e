/* Shared helpers for the Check suites. */
#ifndef CL_TEST_H
#define CL_TEST_H

#include <check.h>
#include <stdio.h>

/* Path of a file under the source tree, e.g. cl_test_path("tests/data/x"). */
static inline const char *cl_test_path(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", CL_SRCDIR, rel);
    return buf;
}

/* ../shared/data next to the checkout, or NULL (tests that need it skip). */
const char *cl_test_shared_data(void);

/* A fresh temporary directory for this test process (removed at exit). */
const char *cl_test_tmpdir(void);

#endif
