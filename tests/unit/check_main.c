/* The one main() of every unit-test binary: test_X.c gives its suite
 * through unit_suite(), and this runs it. scripts/run-tests reads Check's
 * own summary line ("NN%: Checks: N, Failures: F, Errors: E") from each
 * binary, so the runner prints nothing of its own. */
#include <check.h>
#include <stdlib.h>

#include "check_main.h"

int
main(void)
{
	SRunner *sr = srunner_create(unit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
