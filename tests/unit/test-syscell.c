/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "session.h"
#include "syscell.h"

Test(syscell, arguments_are_parsed_and_bad_ones_named)
{
	const char *good[] = {"project=/srv/agent", "config=/etc/cell/agent.json", "network=none",
			      "debug", "require_login_shell"};
	const char *unknown[] = {"project=/srv/agent", "netwrk=none"};
	const char *relative[] = {"project=srv/agent"};
	struct cell_syscell_args a;
	struct cell_diag d = {0};

	cr_assert(eq(int, cell_syscell_args_parse(5, good, &a, &d), 0));
	cr_assert(eq(str, (char *)a.project, (char *)"/srv/agent"));
	cr_assert(eq(str, (char *)a.config, (char *)"/etc/cell/agent.json"));
	cr_assert(eq(int, a.network, CELL_NET_NONE));
	cr_assert(a.debug);
	cr_assert(a.require_login_shell);
	cr_assert(eq(int, cell_syscell_args_parse(4, good, &a, &d), 0));
	cr_assert(not(a.require_login_shell));
	cr_assert(eq(int, cell_syscell_args_parse(2, unknown, &a, &d), -EINVAL));
	cr_assert(not(eq(ptr, strstr(d.message, "'netwrk=none'"), NULL)), "%s", d.message);
	cell_diag_clear(&d);
	cr_assert(eq(int, cell_syscell_args_parse(1, relative, &a, &d), -EINVAL));
	cell_diag_clear(&d);
	cr_assert(eq(int, cell_syscell_args_parse(0, NULL, &a, &d), -EINVAL));
	cr_assert(not(eq(ptr, strstr(d.message, "project=/DIR is required"), NULL)));
	cell_diag_clear(&d);
}

Test(syscell, only_cell_login_shell_is_a_login_shell)
{
	char *dir = th_mkdtemp(), *shell = th_join(dir, "cell-login-shell");

	cr_assert(not(cell_syscell_login_shell_ok("/bin/bash")));
	cr_assert(not(cell_syscell_login_shell_ok("cell-login-shell")));
	cr_assert(not(cell_syscell_login_shell_ok("/nonexistent/cell-login-shell")));
	cr_assert(not(cell_syscell_login_shell_ok("")));
	/* named so, but others may write it (or it is not root's) */
	free(th_write(dir, "cell-login-shell", "#!/bin/sh\n"));
	chmod(shell, 0777);
	cr_assert(not(cell_syscell_login_shell_ok(shell)));
	chmod(shell, 0755);
	cr_assert(eq(int, cell_syscell_login_shell_ok(shell), geteuid() == 0));
	th_rm_rf(dir);
	free(dir);
	free(shell);
}

Test(syscell, state_round_trips_and_is_gone_after_remove)
{
	char *dir = th_mkdtemp(), *sub = th_join(dir, "pam");
	struct cell_syscell_state s = {.uid = 1001,
				       .proxy = 4242,
				       .proxy_start = 123456789,
				       .proxy_port = 40000},
				  got;

	strcpy(s.id, "pam-agent-1");
	strcpy(s.project_id, "work-0123456789ab");
	strcpy(s.name, "work");
	strcpy(s.cgroup, "/user.slice/session-3.scope");
	strcpy(s.ledger, "/home/agent/.local/state/cell/projects/work-0123456789ab/ledger.jsonl");
	cr_assert(eq(int, cell_syscell_state_save(sub, &s), 0));
	cr_assert(eq(int, cell_syscell_state_load(sub, "pam-agent-1", &got), 0));
	cr_assert(eq(int, memcmp(&s, &got, sizeof(s)), 0));
	cr_assert(eq(int, cell_syscell_state_load(sub, "../x", &got), -EINVAL));
	cr_assert(eq(int, cell_syscell_state_remove(sub, "pam-agent-1"), 0));
	cr_assert(eq(int, cell_syscell_state_load(sub, "pam-agent-1", &got), -ENOENT));
	/* twice: nothing to do, no error */
	cr_assert(eq(int, cell_syscell_state_remove(sub, "pam-agent-1"), 0));
	th_rm_rf(dir);
	free(dir);
	free(sub);
}

Test(syscell, the_cell_a_process_is_in_comes_from_its_cgroup)
{
	char path[256], id[64];

	cr_assert(eq(int,
		     cell_session_cgroup_of("12:pids:/x\n0::/cell.slice/1001-pam-a-1\n", path,
					    sizeof(path)),
		     0));
	cr_assert(eq(str, path, (char *)"/cell.slice/1001-pam-a-1"));
	cr_assert(eq(int, cell_session_cell_of(path, "/cell.slice", 1001, id, sizeof(id)), 0));
	cr_assert(eq(str, id, (char *)"pam-a-1"));
	/* another user's cell, or none */
	cr_assert(
		eq(int, cell_session_cell_of(path, "/cell.slice", 1002, id, sizeof(id)), -ENOENT));
	cr_assert(eq(int,
		     cell_session_cell_of("/user.slice/session-1.scope", "/cell.slice", 1001, id,
					  sizeof(id)),
		     -ENOENT));
	/* a cgroup of the user's own named like the slice is no cell */
	cr_assert(eq(int,
		     cell_session_cell_of("/user.slice/user-1001.slice/cell.slice/1001-pam-a-1",
					  "/cell.slice", 1001, id, sizeof(id)),
		     -ENOENT));
	cr_assert(
		eq(int, cell_session_cgroup_of("1:name=systemd:/\n", path, sizeof(path)), -ENOENT));
}
