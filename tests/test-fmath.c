/*
 * util/fmath: the core's own ln, exp and sqrt. Known values, identities
 * over the range the NAK timer uses (ln of 1..e^λ, λ = ln(group size) + 1)
 * and the one congestion control uses (sqrt of loss rates), and the
 * documented clamps. No libm: the values are written out.
 */
#include <check.h>

#include "util/fmath.h"

#include "unit.h"

static void near(double got, double want, double rel) {
  double d = got - want, tol = rel * (want < 0 ? -want : want);
  if (tol < rel)
    tol = rel;
  ck_assert_msg(d <= tol && -d <= tol, "got %.17g, want %.17g", got, want);
}

START_TEST(known_values) {
  near(smart__ln(1.0), 0.0, 1e-15);
  near(smart__ln(2.0), 0.69314718055994531, 1e-15);
  near(smart__ln(10.0), 2.3025850929940457, 1e-15);
  near(smart__ln(1e6), 13.815510557964274, 1e-15);
  near(smart__ln(0.001), -6.9077552789821371, 1e-15);
  near(smart__exp(0.0), 1.0, 1e-15);
  near(smart__exp(1.0), 2.7182818284590452, 1e-15);
  near(smart__exp(-1.0), 0.36787944117144233, 1e-15);
  near(smart__exp(10.0), 22026.465794806718, 1e-14);
  near(smart__exp(-20.0), 2.0611536224385579e-9, 1e-14);
}
END_TEST

START_TEST(inverse_over_the_timer_range) {
  /* The timer draws ln(1 + u (e^λ - 1)) for λ up to ln(10^6) + 1. */
  for (double x = -30; x <= 30; x += 0.37)
    near(smart__ln(smart__exp(x)), x, 1e-13);
  for (double y = 1e-6; y < 1e7; y *= 1.7)
    near(smart__exp(smart__ln(y)), y, 1e-13);
  /* ln is increasing. */
  double prev = smart__ln(1.0);
  for (double y = 1.001; y < 1e7; y *= 1.01) {
    double v = smart__ln(y);
    ck_assert(v > prev);
    prev = v;
  }
}
END_TEST

START_TEST(clamps) {
  ck_assert(smart__ln(0.0) == -1e300);
  ck_assert(smart__ln(-1.0) == -1e300);
  ck_assert(smart__ln(5e-324) == -708.0); /* subnormal */
  ck_assert(smart__exp(-701.0) == 0.0);
  ck_assert(smart__exp(1e6) == smart__exp(700.0));
  ck_assert(smart__exp(700.0) > 1e304);
}
END_TEST

START_TEST(square_root) {
  near(smart__sqrt(4.0), 2.0, 1e-15);
  near(smart__sqrt(2.0), 1.4142135623730951, 1e-15);
  near(smart__sqrt(1e-12), 1e-6, 1e-15);
  near(smart__sqrt(6.0e-5), 0.0077459666924148338, 1e-15);
  near(smart__sqrt(1e20), 1e10, 1e-15);
  for (double y = 1e-12; y < 1e12; y *= 1.37)
    near(smart__sqrt(y) * smart__sqrt(y), y, 1e-14);
  near(smart__sqrt(4e-310), 2e-155, 1e-14);
  ck_assert(smart__sqrt(0.0) == 0.0);
  ck_assert(smart__sqrt(-1.0) == 0.0);
}
END_TEST

static void add_tests(TCase *t) {
  tcase_add_test(t, known_values);
  tcase_add_test(t, inverse_over_the_timer_range);
  tcase_add_test(t, clamps);
  tcase_add_test(t, square_root);
}

int main(void) { return unit_main("fmath", add_tests); }
