/* exec-cli.h — the `ecsd exec` subcommand (exec.c). */
#pragma once

/* Run `ecsd exec ...` (argv[0] is "exec"); returns the process's exit code. */
int cmd_exec(int argc, char **argv);
