/* Deterministic ln, exp and sqrt. See fmath.h. */
#include "util/fmath.h"

#include <stdint.h>
#include <string.h>

#define LN2 0.69314718055994530942

double smart__ln(double x) {
  if (!(x > 0))
    return -1e300;
  uint64_t b;
  memcpy(&b, &x, sizeof(b));
  int ex = (int)((b >> 52) & 0x7FF) - 1023;
  if (ex == -1023) /* subnormal: not needed here */
    return -708.0;
  b = (b & ~(UINT64_C(0x7FF) << 52)) | (UINT64_C(1023) << 52);
  double m;
  memcpy(&m, &b, sizeof(m)); /* m in [1, 2) */
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ex++;
  }
  /* ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), |z| <= 0.172. */
  double z = (m - 1) / (m + 1), z2 = z * z, t = z, sum = 0;
  for (int k = 1; k < 40; k += 2) {
    sum += t / k;
    t *= z2;
  }
  return 2 * sum + ex * LN2;
}

double smart__exp(double x) {
  if (x > 700)
    x = 700;
  if (x < -700)
    return 0;
  int k = (int)(x / LN2 + (x >= 0 ? 0.5 : -0.5));
  double r = x - k * LN2, term = 1, sum = 1;
  for (int i = 1; i < 24; i++) {
    term *= r / i;
    sum += term;
  }
  /* Scale by 2^k through the exponent bits. */
  uint64_t b;
  memcpy(&b, &sum, sizeof(b));
  int64_t e2 = (int64_t)((b >> 52) & 0x7FF) + k;
  if (e2 <= 0)
    return 0;
  if (e2 >= 0x7FF)
    return 1e308;
  b = (b & ~(UINT64_C(0x7FF) << 52)) | ((uint64_t)e2 << 52);
  memcpy(&sum, &b, sizeof(sum));
  return sum;
}

double smart__sqrt(double x) {
  if (!(x > 0))
    return 0;
  if (x > 1e300)
    x = 1e300;
  if (x < 1e-300) /* subnormal or near: scale by 2^128 and back by 2^64 */
    return smart__sqrt(x * 340282366920938463463374607431768211456.0) / 18446744073709551616.0;
  /* A first guess within a factor of two from the exponent (x = m 2^e,
   * sqrt(x) ~ 2^(e/2)), then Newton's steps, which double the correct
   * digits each; the last ones only settle the final bit. */
  uint64_t b;
  memcpy(&b, &x, sizeof(b));
  int ex = (int)((b >> 52) & 0x7FF) - 1023;
  uint64_t gb = (uint64_t)(ex / 2 + 1023) << 52;
  double g;
  memcpy(&g, &gb, sizeof(g));
  for (int i = 0; i < 8; i++)
    g = 0.5 * (g + x / g);
  return g;
}
