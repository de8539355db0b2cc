/* The commands main.c dispatches to, each in its own file of core/cli/.
 * Each returns its exit status (options.h). */
#ifndef DK_CLI_COMMANDS_H
#define DK_CLI_COMMANDS_H

#include <stdio.h>

/* `duikou daemon`: in daemon_cmd.c. */
int dk_cmd_daemon(int argc, char **argv);
/* `duikou quarantine`: in quarantine_cmd.c. */
int dk_cmd_quarantine(int argc, char **argv);
/* `duikou exchange` and `duikou sites`: in exchange_cmd.c. */
int dk_cmd_exchange(int argc, char **argv);
int dk_cmd_sites(int argc, char **argv);
/* `duikou health`: in health_cmd.c. */
int dk_cmd_health(int argc, char **argv);
/* `duikou demo`: in demo_cmd.c. */
int dk_cmd_demo(int argc, char **argv);
/* `duikou validate`: in validate_cmd.c. */
int dk_cmd_validate(int argc, char **argv);
/* `duikou parse`: in parse_cmd.c. */
int dk_cmd_parse(int argc, char **argv);
/* `duikou log`, `show`, `diff`, `blame`, `conflicts`: in audit_cmd.c. argv[0]
 * is the command; usage(f) prints its usage (on stdout for --help). Each
 * returns its exit status. */
int dk_cmd_log(int argc, char **argv, void (*usage)(FILE *f));
int dk_cmd_show(int argc, char **argv, void (*usage)(FILE *f));
int dk_cmd_diff(int argc, char **argv, void (*usage)(FILE *f));
int dk_cmd_blame(int argc, char **argv, void (*usage)(FILE *f));
int dk_cmd_conflicts(int argc, char **argv, void (*usage)(FILE *f));

/* `duikou report`: in report_cmd.c; usage(f) prints its usage. */
int dk_cmd_report(int argc, char **argv, void (*usage)(FILE *f));

#endif
