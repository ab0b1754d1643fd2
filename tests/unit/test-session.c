/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "running.h"
#include "session.h"
#include "stats.h"

#define FIXTURE(name) CELL_TEST_SRC "/tests/fixtures/mountinfo/" name

struct id_case {
	char id[64];
	bool valid;
};

static struct id_case ids[] = {
	{"a", true},
	{"7db1b8f6e097-28fe4dc7", true},
	{"A_b-9", true},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true}, /* 48 */
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	{"", false},
	{"-a", false},
	{"..", false},
	{"a/b", false},
	{"a b", false},
	{"a\nb", false},
	{"é", false},
};

ParameterizedTestParameters(session, ids)
{
	return cr_make_param_array(struct id_case, ids, sizeof(ids) / sizeof(ids[0]));
}

ParameterizedTest(struct id_case *c, session, ids)
{
	cr_assert(eq(int, cell_session_id_valid(c->id), c->valid), "'%s'", c->id);
}

Test(session, the_slice_is_below_the_cgroup2_mount)
{
	char *slice = NULL;

	cr_assert(eq(int, cell_session_slice(FIXTURE("hybrid"), &slice), 0));
	cr_assert(eq(str, slice, (char *)"/sys/fs/cgroup/unified/cell.slice"));
	free(slice);
	cr_assert(eq(int, cell_session_slice(FIXTURE("unified"), &slice), 0));
	cr_assert(eq(str, slice, (char *)"/sys/fs/cgroup/cell.slice"));
	free(slice);
	cr_assert(eq(int, cell_session_slice(FIXTURE("v1-only"), &slice), -ENOENT));
}

Test(session, a_record_reads_back_into_the_stats)
{
	struct cell_counters c = {.connects_allowed = 6,
				  .connects_denied = 3,
				  .udp_denied = 1,
				  .bytes_in = 1ULL << 40,
				  .packets_out = 9};
	struct cell_stats s = {0};
	char *line = NULL, *rec = NULL;

	cr_assert(eq(int, cell_session_record("x-1", 137, &c, NULL, &line), 0));
	cr_assert(not(eq(ptr, strstr(line, "\"status\":137"), NULL)), "%s", line);
	cr_assert(eq(int, cell_stats_merge_kernel(&s, line, strlen(line)), 0));
	cr_assert(eq(int, cell_stats_merge_kernel(&s, line, strlen(line)), 0));
	cr_assert(eq(u64, s.cells, 2));
	cr_assert(eq(u64, s.kernel.connects_allowed, 12));
	cr_assert(eq(u64, s.kernel.bytes_in, 2ULL << 40));
	/* into a ledger record and back */
	cr_assert(eq(int, cell_stats_record(&s, "cell", "p-1", "p", 1, 2, &rec), 0));
	cell_stats_done(&s);
	cr_assert(eq(int, cell_stats_merge_record(&s, rec, strlen(rec)), 0));
	cr_assert(eq(u64, s.cells, 2));
	cr_assert(eq(u64, s.kernel.packets_out, 18));
	cr_assert(eq(u64, s.kernel.udp_denied, 2));
	cell_stats_done(&s);
	free(line);
	free(rec);
	/* a reaped cell's status is unknown: none is written */
	cr_assert(eq(int, cell_session_record("x-2", -1, &c, NULL, &line), 0));
	cr_assert(eq(ptr, strstr(line, "\"status\""), NULL), "%s", line);
	cr_assert(not(eq(ptr, strstr(line, "\"connects_allowed\":6"), NULL)), "%s", line);
	free(line);
}

Test(session, bad_kernel_counters_are_refused_whole)
{
	struct cell_stats s = {0};
	static const char *const bad[] = {
		"{\"connects_allowed\":-1}",
		"{\"connects_allowed\":1.5}",
		"{\"connects_allowed\":\"1\"}",
		"[1]",
		"{\"v\":1,\"start\":1,\"end\":2,\"hosts\":{},\"kernel\":{\"bytes_in\":-3}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = i < 4 ? cell_stats_merge_kernel(&s, bad[i], strlen(bad[i]))
			      : cell_stats_merge_record(&s, bad[i], strlen(bad[i]));

		cr_assert(eq(int, r, -EINVAL), "%s", bad[i]);
	}
	cr_assert(eq(u64, s.cells, 0));
	cr_assert(eq(u64, s.records, 0));
}

static char *tmp;

static void running_setup(void)
{
	tmp = th_mkdtemp();
	setenv("XDG_STATE_HOME", tmp, 1);
}

static void running_teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
}

static int collect(const struct cell_running *c, void *data)
{
	char *out = data;

	snprintf(out + strlen(out), 256 - strlen(out), "%s %s %s %lld %d %d%s;", c->id, c->project,
		 c->name, (long long)c->start, (int)c->owner, (int)c->keeper,
		 c->netns ? " netns" : "");
	return 0;
}

Test(running, records_round_trip_and_go, .init = running_setup, .fini = running_teardown)
{
	struct cell_running c = {.id = (char *)"abc-1",
				 .project = (char *)"p-1",
				 .name = (char *)"p",
				 .start = 1795451692,
				 .owner = 10,
				 .keeper = 11,
				 .keeper_start = 5,
				 .proxy = 12,
				 .netns = true};
	char out[256] = "";
	char *junk = th_join(tmp, "cell/cells");

	free(th_write(junk, "broken.json", "{\"id\":"));
	free(th_write(junk, "other.json", "{\"id\":\"../x\",\"project\":\"p\",\"name\":\"n\"}"));
	free(junk);
	cr_assert(eq(int, cell_running_save(&c), 0));
	cr_assert(eq(int, cell_running_list(collect, out), 0));
	cr_assert(eq(str, out, (char *)"abc-1 p-1 p 1795451692 10 11 netns;"));
	cr_assert(eq(int, cell_running_remove("abc-1"), 0));
	out[0] = '\0';
	cr_assert(eq(int, cell_running_list(collect, out), 0));
	cr_assert(eq(str, out, (char *)""));
	cr_assert(eq(int, cell_running_remove("../x"), -EINVAL));
}

Test(running, a_process_is_known_by_pid_and_start_time)
{
	pid_t child = fork();
	uint64_t start;

	if (child == 0) {
		pause();
		_exit(0);
	}
	start = cell_process_start(child);
	cr_assert(gt(u64, start, 0));
	cr_assert(cell_process_alive(child, start));
	cr_assert(not(cell_process_alive(child, start + 1)));
	kill(child, SIGKILL);
	/* a zombie is gone too */
	for (int i = 0; i < 200 && cell_process_alive(child, start); i++)
		usleep(5000);
	cr_assert(not(cell_process_alive(child, start)));
	waitpid(child, NULL, 0);
	cr_assert(not(cell_process_alive(child, start)));
	cr_assert(not(cell_process_alive(0, 1)));
}

/* What a cell's limits saw: in cell-session's record, then the ledger's, the peak the largest
 * of any cell, the kills and refusals summed. */
Test(session, what_the_limits_saw_reads_back_into_the_stats)
{
	const struct cell_counters c = {0};
	const struct cell_limits_usage u1 = {.memory_peak = 64 << 20, .oom_kills = 1},
				       u2 = {.memory_peak = 1 << 20, .pids_refused = 4};
	struct cell_stats s = {0};
	char *l1 = NULL, *l2 = NULL, *rec = NULL;

	cr_assert(eq(int, cell_session_record("x-1", 137, &c, &u1, &l1), 0));
	cr_assert(not(eq(ptr, strstr(l1, "\"memory_peak\":67108864,\"oom_kills\":1}"), NULL)), "%s",
		  l1);
	cr_assert(eq(int, cell_session_record("x-2", 0, &c, &u2, &l2), 0));
	cr_assert(eq(int, cell_stats_merge_kernel(&s, l1, strlen(l1)), 0));
	cr_assert(eq(int, cell_stats_merge_kernel(&s, l2, strlen(l2)), 0));
	cr_assert(eq(u64, s.memory_peak, 64 << 20));
	cr_assert(eq(u64, s.oom_kills, 1));
	cr_assert(eq(u64, s.pids_refused, 4));
	cr_assert(eq(int, cell_stats_record(&s, "cell", "p-1", "p", 1, 2, &rec), 0));
	cr_assert(not(eq(ptr,
			 strstr(rec, "\"limits\":{\"memory_peak\":67108864,\"oom_kills\":1,"
				     "\"pids_refused\":4}"),
			 NULL)),
		  "%s", rec);
	cell_stats_done(&s);
	cr_assert(eq(int, cell_stats_merge_record(&s, rec, strlen(rec)), 0));
	cr_assert(eq(int, cell_stats_merge_record(&s, rec, strlen(rec)), 0));
	cr_assert(eq(u64, s.memory_peak, 64 << 20));
	cr_assert(eq(u64, s.oom_kills, 2));
	cr_assert(eq(u64, s.pids_refused, 8));
	cell_stats_done(&s);
	/* a record with bad limits is refused whole */
	cr_assert(eq(int,
		     cell_stats_merge_record(
			     &s,
			     "{\"start\":1,\"end\":2,\"hosts\":{\"a.test\":{\"up\":5}},"
			     "\"limits\":{\"oom_kills\":-1}}",
			     strlen("{\"start\":1,\"end\":2,\"hosts\":{\"a.test\":{\"up\":5}},"
				    "\"limits\":{\"oom_kills\":-1}}")),
		     -EINVAL));
	cr_assert(eq(sz, s.n_hosts, 0));
	free(l1);
	free(l2);
	free(rec);
}

/* A netns cell's record from cell-session (its limits' cgroup): only what the limits saw; its
 * kernel counters, which count its loopback twice, are left out (its proxy counts it). */
Test(session, a_netns_cells_record_takes_only_its_limits)
{
	const struct cell_counters c = {.connects_allowed = 3, .bytes_in = 4096};
	const struct cell_limits_usage u = {.memory_peak = 8 << 20, .oom_kills = 1};
	struct cell_stats s = {0};
	char *line = NULL;

	cr_assert(eq(int, cell_session_record("x-1", 137, &c, &u, &line), 0));
	cr_assert(eq(int, cell_stats_merge_limits(&s, line, strlen(line)), 0));
	cr_assert(eq(u64, s.memory_peak, 8 << 20));
	cr_assert(eq(u64, s.oom_kills, 1));
	cr_assert(eq(u64, s.kernel.connects_allowed, 0));
	cr_assert(eq(u64, s.kernel.bytes_in, 0));
	cr_assert(eq(u64, s.cells, 0));
	cr_assert(eq(int, cell_stats_merge_limits(&s, "[1]", 3), -EINVAL));
	cr_assert(eq(int, cell_stats_merge_limits(&s, "{\"oom_kills\":-1}", 16), -EINVAL));
	cr_assert(eq(u64, s.oom_kills, 1));
	cell_stats_done(&s);
	free(line);
}
