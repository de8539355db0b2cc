/* `duikou sync` on a terminal: a status line per running source while a
 * round takes longer than a second, redrawn in place four times a second
 * and erased before each log line and at the end, so that the result lines
 * follow as usual. Nothing of it when stdout is not a terminal. */
#ifndef DK_CLI_PROGRESS_H
#define DK_CLI_PROGRESS_H

#include <stdio.h>
#include "sync.h"

struct dk_cli_progress;

/* A display on `f` when f is a terminal (and $TERM is not "dumb"), with
 * the log's before-write hook set; else NULL. Sets opts->tick and its
 * arguments to draw it. Free with dk_cli_progress_free. */
struct dk_cli_progress *dk_cli_progress_new(FILE *f, struct dk_sync_opts *opts);
/* Erase the display, unset the log hook, free. NULL is fine. */
void dk_cli_progress_free(struct dk_cli_progress *p);

#endif
