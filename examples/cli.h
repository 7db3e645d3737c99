/* Small helpers shared by the example programs. */
#ifndef SMART_EXAMPLES_CLI_H
#define SMART_EXAMPLES_CLI_H

#include <smart/smart.h>

/* Print "PROG: message" and exit with `status`. */
void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a number within [min, max] or die naming the option. */
double cli_number(const char *opt, const char *text, double min, double max);
/* Set an option or die with the library's message. */
void cli_setopt(smart_sock *s, int opt, const void *val, size_t len, const char *what);
extern const char *cli_prog;

#endif
