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

/* cell proxy's usage: cell's command table and cell-proxy (which cell proxy execs) say it. */
#define CELL_PROXY_ARGS                                                                       \
	"[-C DIR] [--listen ADDR] [--notices FILE] [--max-head BYTES] [--head-timeout MS] "   \
	"[--connect-timeout MS] [--idle-timeout MS] [--max-tunnels N] [--flush-interval MS] " \
	"[--log-max BYTES] | --print-ca"
#define CELL_PROXY_SUMMARY "Run the project's allowlisting HTTP proxy in the foreground"
#define CELL_PROXY_HELP                                                                      \
	"  -C DIR                the project around DIR (default: the current directory)\n"  \
	"  --listen ADDR         where to listen (127.0.0.1:0: a free port, printed)\n"      \
	"  --notices FILE        append each refusal to FILE as a line for people\n"         \
	"  --max-head BYTES      the largest request head taken (default 16384)\n"           \
	"  --head-timeout MS     time for a request head to arrive (default 10000)\n"        \
	"  --connect-timeout MS  time to reach a host (default 10000)\n"                     \
	"  --idle-timeout MS     a tunnel with no bytes either way this long is closed\n"    \
	"                        (default 300000)\n"                                         \
	"  --max-tunnels N       connections served at once (default 4096)\n"                \
	"  --flush-interval MS   how often counts go to the ledger (default 10000)\n"        \
	"  --log-max BYTES       the request log's size before it is rotated (10 MiB)\n"     \
	"  --print-ca            print the CA certificate cells trust for inspected hosts\n" \
	"                        (made on first use) and exit"
