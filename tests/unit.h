/*
 * The main() of a Check-based unit test of one leaf: one suite of one test
 * case, named `name`, holding the tests `add` registers.
 */
#ifndef SMART_TESTS_UNIT_H
#define SMART_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int unit_main(const char *name, void (*add)(TCase *t)) {
  Suite *s = suite_create(name);
  TCase *t = tcase_create(name);
  add(t);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
