/*
 * Deterministic natural logarithm, exponential and square root, without
 * libm. The NAK timer draw (engine/nak.c) needs ln() and exp(), congestion
 * control (engine/cc.c) the square root; doing them here keeps the
 * core free of a libm dependency and makes a simulation bit-identical
 * whatever the C library. Accuracy ~1e-15 relative, far beyond what a timer
 * needs. Pure; no state.
 */
#ifndef SMART_UTIL_FMATH_H
#define SMART_UTIL_FMATH_H

/* ln(x) for x > 0; -1e300 for x <= 0 (and NaN), -708 for subnormals. */
double smart__ln(double x);
/* e^x, clamped: 0 below -700, e^700 above 700. */
double smart__exp(double x);
/* The square root of x >= 0; 0 for x <= 0 (and NaN). */
double smart__sqrt(double x);

#endif
