/* What the subcommands share. */
#ifndef DK_CLI_H
#define DK_CLI_H

#include <stdio.h>
#include "sync.h"

/* Exit codes, documented in README.md. */
enum { DK_EXIT_OK = 0, DK_EXIT_FAILED = 1, DK_EXIT_USAGE = 2 };

/* Print a round's results, one line per source, to f. */
void dk_cli_print_results(FILE *f, const struct dk_sync *sync);

/* `duikou demo`: in demo.c. */
int dk_cmd_demo(int argc, char **argv);

#endif
