/*
 * The CUnit harness every unit test program shares: each program defines
 * its tests in a CU_TestInfo array and calls UNIT_MAIN with it.
 */
#ifndef BULWARK_UNIT_H
#define BULWARK_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

/*
 * The template "/tmp/bulwark-<name>." plus mkdtemp's six placeholder
 * characters, in out; -1 when it does not fit.
 */
static inline int
unit_template(char *out, size_t outlen, const char *name)
{
	int n = snprintf(out, outlen, "/tmp/bulwark-%s.", name);

	if (n < 0 || (size_t)n + 7 > outlen)
		return -1;
	memset(out + n, 'X', 6);
	out[n + 6] = '\0';
	return 0;
}

/* A fresh temporary directory for the tests named name; 0, or -1. */
static inline int
unit_tmpdir(char *out, size_t outlen, const char *name)
{
	if (unit_template(out, outlen, name) == -1)
		return -1;
	return mkdtemp(out) != NULL ? 0 : -1;
}

/* A fresh temporary file, open for writing; its descriptor, or -1. */
static inline int
unit_tmpfile(char *out, size_t outlen, const char *name)
{
	if (unit_template(out, outlen, name) == -1)
		return -1;
	return mkstemp(out);
}

/*
 * The shared corpus, or NULL: the Makefile exports where
 * tools/shared-corpus.sh found it as BULWARK_SHARED_CORPUS.
 */
static inline const char *
unit_shared_corpus(void)
{
	const char *dir = getenv("BULWARK_SHARED_CORPUS");

	return dir != NULL && *dir != '\0' ? dir : NULL;
}

/*
 * Run one suite; init and clean (either may be NULL) set up and tear
 * down what every test of it shares.  A suite whose set-up fails counts
 * as a failure.
 */
static inline int
unit_run_fixture(const char *suite_name, CU_InitializeFunc init,
    CU_CleanupFunc clean, CU_TestInfo *tests)
{
	CU_SuiteInfo suites[] = {
		{ suite_name, init, clean, NULL, NULL, tests },
		CU_SUITE_INFO_NULL
	};
	unsigned int failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() +
	    CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? 0 : 1;
}

static inline int
unit_run(const char *suite_name, CU_TestInfo *tests)
{
	return unit_run_fixture(suite_name, NULL, NULL, tests);
}

#define UNIT_MAIN(name, tests)			\
	int main(void) { return unit_run((name), (tests)); }

#endif
