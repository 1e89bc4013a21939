#ifndef BANNERLAB_CHECK_MAIN_H
#define BANNERLAB_CHECK_MAIN_H
/* The contract between a unit-test file and tests/unit/check_main.c:
 * each tests/unit/test_*.c builds its suite here, and the one main() in
 * check_main.c runs it. */
#include <check.h>

Suite *unit_suite(void);

#endif
