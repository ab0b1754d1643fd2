/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "ledger.h"
#include "stats.h"

static char *tmp, *path;

static void setup(void)
{
	tmp = th_mkdtemp();
	path = th_join(tmp, "projects/p-1/ledger.jsonl");
}

static void teardown(void)
{
	th_rm_rf(tmp);
	free(tmp);
	free(path);
}

TestSuite(ledger, .init = setup, .fini = teardown);

struct lines {
	char *all;
	size_t n;
};

static int collect(const char *line, size_t len, void *data)
{
	struct lines *l = data;
	size_t old = l->all ? strlen(l->all) : 0;

	l->all = realloc(l->all, old + len + 2);
	memcpy(l->all + old, line, len);
	l->all[old + len] = '|';
	l->all[old + len + 1] = '\0';
	l->n++;
	return 0;
}

Test(ledger, appends_and_reads_back)
{
	struct lines l = {0};

	cr_assert(eq(int, cell_ledger_read(path, collect, &l), 0));
	cr_assert(eq(sz, l.n, 0));
	cr_assert(eq(int, cell_ledger_append(path, "{\"a\":1}"), 0));
	cr_assert(eq(int, cell_ledger_append(path, "{\"b\":2}"), 0));
	cr_assert(eq(int, cell_ledger_append(path, "two\nlines"), -EINVAL));
	cr_assert(eq(int, cell_ledger_read(path, collect, &l), 0));
	cr_assert(eq(str, l.all, "{\"a\":1}|{\"b\":2}|"));
	free(l.all);
}

Test(ledger, a_torn_line_cannot_swallow_the_next_record)
{
	struct lines l = {0};
	FILE *f;

	cr_assert(eq(int, cell_ledger_append(path, "{\"a\":1}"), 0));
	/* a writer that died mid-record */
	f = fopen(path, "a");
	fputs("{\"tor", f);
	fclose(f);
	cr_assert(eq(int, cell_ledger_append(path, "{\"b\":2}"), 0));
	cr_assert(eq(int, cell_ledger_read(path, collect, &l), 0));
	cr_assert(eq(str, l.all, "{\"a\":1}|{\"tor|{\"b\":2}|"));
	free(l.all);
}

#define WRITERS 16
#define EACH 200

static int count_distinct(const char *line, size_t len, void *data)
{
	unsigned char *seen = data;
	int w, i, n = 0;

	/* every line is whole: exactly one record, no interleaving */
	cr_assert(eq(int,
		     sscanf(line, "{\"writer\":%d,\"seq\":%d,\"pad\":\"%*[x]\"}%n", &w, &i, &n), 2),
		  "%.*s", (int)len, line);
	cr_assert(eq(sz, (size_t)n, len), "%.*s", (int)len, line);
	cr_assert(eq(u8, seen[w * EACH + i], 0), "record %d/%d twice", w, i);
	seen[w * EACH + i] = 1;
	return 0;
}

Test(ledger, concurrent_writers_lose_nothing)
{
	static unsigned char seen[WRITERS * EACH];
	char pad[3001];
	pid_t pids[WRITERS];

	/* records longer than a pipe buffer, so a torn write would show */
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			char line[3100];

			for (int i = 0; i < EACH; i++) {
				snprintf(line, sizeof(line),
					 "{\"writer\":%d,\"seq\":%d,\"pad\":\"%s\"}", w, i, pad);
				if (cell_ledger_append(path, line) < 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;

		waitpid(pids[w], &status, 0);
		cr_assert(eq(int, status, 0));
	}
	cr_assert(eq(int, cell_ledger_read(path, count_distinct, seen), 0));
	for (int k = 0; k < WRITERS * EACH; k++)
		cr_assert(eq(u8, seen[k], 1), "record %d/%d lost", k / EACH, k % EACH);
}

Test(ledger, a_writer_never_waits_for_the_lock_and_keeps_the_order, .timeout = 30)
{
	struct cell_ledger_writer *w;
	struct lines l = {0};
	char *text;
	int fd;

	cr_assert(eq(int, cell_ledger_append(path, "{\"a\":0}"), 0));
	/* a reader (cell stats, say) holds the lock */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(eq(int, flock(fd, LOCK_EX), 0));
	cr_assert(eq(int, cell_ledger_writer_new(path, 10, 100, &w), 0));
	cr_assert(eq(int, cell_ledger_writer_add(w, "{\"a\":1}"), 0));
	cr_assert(eq(int, cell_ledger_writer_add(w, "{\"a\":2}"), 0));
	cr_assert(eq(int, cell_ledger_writer_add(w, "two\nlines"), -EINVAL));
	cr_assert(eq(int, cell_ledger_writer_add(w, "{\"a\":3}"), 0));
	text = th_read(path);
	cr_assert(eq(str, text, "{\"a\":0}\n"));
	free(text);
	close(fd);
	cr_assert(eq(sz, cell_ledger_writer_free(w), 0));
	cr_assert(eq(int, cell_ledger_read(path, collect, &l), 0));
	cr_assert(eq(str, l.all, "{\"a\":0}|{\"a\":1}|{\"a\":2}|{\"a\":3}|"));
	free(l.all);
}

Test(ledger, a_writer_holds_a_bounded_queue_and_gives_up_in_time, .timeout = 30)
{
	struct cell_ledger_writer *w;
	char line[32];
	int fd, r = 0, i;

	cr_assert(eq(int, cell_ledger_append(path, "{\"a\":0}"), 0));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(eq(int, flock(fd, LOCK_SH), 0));
	cr_assert(eq(int, cell_ledger_writer_new(path, 10, 100, &w), 0));
	/* while the lock is held for good: so many records, then no more */
	for (i = 0; i < 100 && r == 0; i++) {
		snprintf(line, sizeof(line), "{\"a\":%d}", i + 1);
		r = cell_ledger_writer_add(w, line);
	}
	cr_assert(eq(int, r, -EAGAIN));
	cr_assert(eq(int, i - 1, CELL_LEDGER_QUEUE_MAX));
	/* and it stops after finish_ms with all of them unwritten, said so */
	cr_assert(eq(sz, cell_ledger_writer_free(w), CELL_LEDGER_QUEUE_MAX));
	close(fd);
}

Test(ledger, a_writer_tries_again_and_counts_what_it_could_not_write, .timeout = 30)
{
	char *blocker = th_join(tmp, "projects");
	struct cell_ledger_writer *w;
	struct lines l = {0};

	/* the ledger's directory cannot be made while a file stands in its way */
	free(th_write(tmp, "projects", "in the way"));
	cr_assert(eq(int, cell_ledger_writer_new(path, 10, 100, &w), 0));
	cr_assert(eq(int, cell_ledger_writer_add(w, "{\"a\":1}"), 0));
	/* out of the way: the record arrives without another add */
	cr_assert(eq(int, unlink(blocker), 0));
	cr_assert(th_wait_for_file(path, 10), "the writer did not try again");
	cr_assert(eq(sz, cell_ledger_writer_free(w), 0));
	cr_assert(eq(int, cell_ledger_read(path, collect, &l), 0));
	cr_assert(eq(str, l.all, "{\"a\":1}|"));
	free(l.all);
	/* in the way to the end: one record lost, and said so */
	th_rm_rf(blocker);
	free(th_write(tmp, "projects", "in the way"));
	cr_assert(eq(int, cell_ledger_writer_new(path, 10, 100, &w), 0));
	cr_assert(eq(int, cell_ledger_writer_add(w, "{\"a\":2}"), 0));
	cr_assert(eq(sz, cell_ledger_writer_free(w), 1));
	free(blocker);
}

Test(stats, records_round_trip_and_merge)
{
	struct cell_stats a = {0}, total = {0};
	struct cell_host_stats *h;
	char *line = NULL;

	cr_assert(eq(int, cell_stats_host(&a, "github.com", &h), 0));
	h->tunnels = 2;
	h->bytes_up = 100;
	h->bytes_down = 5000;
	cr_assert(eq(int, cell_stats_host(&a, "example.net", &h), 0));
	h->denied = 3;
	cr_assert(eq(int, cell_stats_record(&a, "proxy", "p-1", "web", 100, 160, &line), 0));
	cr_assert(
		eq(str, line,
		   "{\"v\":1,\"kind\":\"proxy\",\"project\":\"p-1\",\"name\":\"web\",\"start\":100,"
		   "\"end\":160,\"hosts\":{\"github.com\":{\"requests\":0,\"tunnels\":2,\"up\":100,"
		   "\"down\":5000,\"denied\":0},\"example.net\":{\"requests\":0,\"tunnels\":0,"
		   "\"up\":0,\"down\":0,\"denied\":3}}}"));
	cr_assert(eq(int, cell_stats_merge_record(&total, line, strlen(line)), 0));
	cr_assert(eq(int, cell_stats_merge_record(&total, line, strlen(line)), 0));
	cell_stats_sort(&total);
	cr_assert(eq(str, total.hosts[0].host, "github.com"));
	cr_assert(eq(u64, total.hosts[0].tunnels, 4));
	cr_assert(eq(u64, total.hosts[0].bytes_down, 10000));
	cr_assert(eq(u64, total.hosts[1].denied, 6));
	cr_assert(eq(u64, total.records, 2));
	cr_assert(eq(i64, total.first_start, 100));
	cr_assert(eq(i64, total.last_end, 160));
	free(line);
	cell_stats_done(&a);
	cell_stats_done(&total);
}

Test(stats, a_bad_record_counts_nothing)
{
	struct cell_stats s = {0};
	static const char *const bad[] = {
		"not json",
		"{\"start\":1,\"end\":2}",
		"{\"start\":1,\"end\":2,\"hosts\":{\"a.test\":{\"up\":-1}}}",
		"{\"start\":1,\"end\":2,\"hosts\":{\"a.test\":{\"up\":5},\"b.test\":{\"down\":1.5}}}",
		"{\"start\":1,\"end\":2,\"hosts\":{\"\\u001b[2J\":{\"up\":5}}}",
		"{\"start\":1,\"end\":2,\"netns_cells\":-1,\"hosts\":{\"a.test\":{\"up\":5}}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(eq(int, cell_stats_merge_record(&s, bad[i], strlen(bad[i])), -EINVAL),
			  "%s", bad[i]);
	cr_assert(eq(sz, s.n_hosts, 0));
	cr_assert(eq(u64, s.records, 0));
	cell_stats_done(&s);
}

/* A cell of its own network namespace: its record says only its proxy counted it. */
Test(stats, a_netns_cells_record_says_the_proxy_counted_it)
{
	struct cell_stats a = {.netns_cells = 1}, total = {0};
	char *line = NULL;

	cr_assert(eq(int, cell_stats_record(&a, "cell", "p-1", "web", 100, 160, &line), 0));
	cr_assert(eq(str, line,
		     "{\"v\":1,\"kind\":\"cell\",\"project\":\"p-1\",\"name\":\"web\","
		     "\"start\":100,\"end\":160,\"hosts\":{},\"netns_cells\":1}"));
	cr_assert(eq(int, cell_stats_merge_record(&total, line, strlen(line)), 0));
	cr_assert(eq(int, cell_stats_merge_record(&total, line, strlen(line)), 0));
	cr_assert(eq(u64, total.netns_cells, 2));
	cr_assert(eq(u64, total.cells, 0));
	free(line);
	cell_stats_done(&total);
}
