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

#include <ctype.h>
#include <string.h>

int cli_unhex(const char *text, uint8_t *out, size_t n) {
  size_t got = 0;
  int hi = -1;
  for (const char *c = text; *c; c++) {
    if (isspace((unsigned char)*c))
      continue;
    int v = isdigit((unsigned char)*c) ? *c - '0'
            : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10
            : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10
                                       : -1;
    if (v < 0 || got >= n)
      return -1;
    if (hi < 0) {
      hi = v;
    } else {
      out[got++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  return got == n && hi < 0 ? 0 : -1;
}

void cli_hex(char *out, const uint8_t *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", in[i]);
}

void cli_read_key(const char *path, uint8_t *out, size_t n, const char *what) {
  FILE *f = fopen(path, "r");
  char line[512];
  if (!f)
    cli_die(2, "%s: cannot open %s", what, path);
  int ok = fgets(line, sizeof(line), f) && cli_unhex(line, out, n) == 0;
  fclose(f);
  memset(line, 0, sizeof(line));
  if (!ok)
    cli_die(2, "%s: %s does not start with a %zu-byte hex key", what, path, n);
}
