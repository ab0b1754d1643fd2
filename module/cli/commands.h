/* SPDX-License-Identifier: MIT */
#pragma once

/* One function per sub-command, each in cmd-<verb>.c; argv[0] is the verb. */
int cmd_run(int argc, char *argv[]);
int cmd_enter(int argc, char *argv[]);
int cmd_hook(int argc, char *argv[]);
int cmd_login_shell(int argc, char *argv[]);
int cmd_proxy(int argc, char *argv[]);
int cmd_stats(int argc, char *argv[]);
int cmd_metrics(int argc, char *argv[]);
int cmd_learn(int argc, char *argv[]);
int cmd_top(int argc, char *argv[]);
int cmd_log(int argc, char *argv[]);
int cmd_status(int argc, char *argv[]);
int cmd_up(int argc, char *argv[]);
int cmd_down(int argc, char *argv[]);
int cmd_ps(int argc, char *argv[]);
int cmd_logs(int argc, char *argv[]);
int cmd_gc(int argc, char *argv[]);
int cmd_allow(int argc, char *argv[]);
int cmd_allow_host(int argc, char *argv[]);
int cmd_deny(int argc, char *argv[]);
int cmd_explain(int argc, char *argv[]);
int cmd_env(int argc, char *argv[]);
int cmd_doctor(int argc, char *argv[]);
/* cell __escape-probe ATTEMPT...: hidden, run by cell doctor --escape in the cell */
int cmd_escape_probe(int argc, char *argv[]);
int cmd_init(int argc, char *argv[]);
int cmd_import(int argc, char *argv[]);
int cmd_help(int argc, char *argv[]);
int cmd_version(int argc, char *argv[]);
