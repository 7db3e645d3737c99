#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *cli_prog = "smart";

void cli_die(int status, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli_prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(status);
}

double cli_number(const char *opt, const char *text, double min, double max) {
  char *end;
  double v = text ? strtod(text, &end) : 0;
  if (!text || !*text || *end || v < min || v > max)
    cli_die(2, "%s wants a number from %g to %g", opt, min, max);
  return v;
}

void cli_setopt(smart_sock *s, int opt, const void *val, size_t len, const char *what) {
  int rc = smart_setopt(s, opt, val, len);
  if (rc != 0)
    cli_die(2, "%s: %s", what, smart_strerror(rc));
}
