/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "denial.h"

static struct cell_event event(unsigned family, unsigned protocol, unsigned reason)
{
	struct cell_event e = {.pid = 12,
			       .tgid = 10,
			       .family = (__u16)family,
			       .protocol = (__u16)protocol,
			       .port = 443,
			       .reason = (__u16)reason};

	memcpy(e.comm, "curl", 4);
	return e;
}

static char *json(const struct cell_event *e, pid_t cell_pid)
{
	static char line[CELL_DENIAL_LINE_MAX];

	cr_assert(eq(int, cell_denial_json("abc-1", e, 1795428000123, cell_pid, line, sizeof(line)),
		     0));
	return line;
}

Test(denial, a_tcp_connect_to_another_host)
{
	struct cell_event e = event(AF_INET, 6, CELL_DENY_NOT_LOOPBACK);

	inet_pton(AF_INET, "192.0.2.7", e.addr);
	cr_assert(
		eq(str, json(&e, 3),
		   (char *)"{\"kind\":\"denial\",\"time\":\"2026-11-23T10:00:00.123Z\","
			   "\"cell\":\"abc-1\",\"pid\":10,\"tid\":12,\"cell_pid\":3,"
			   "\"comm\":\"curl\",\"family\":\"ipv4\",\"protocol\":\"tcp\","
			   "\"address\":\"192.0.2.7\",\"port\":443,\"reason\":\"not-loopback\"}"));
}

Test(denial, ipv6_udp_and_no_cell_pid)
{
	struct cell_event e = event(AF_INET6, 17, CELL_DENY_PORT);

	inet_pton(AF_INET6, "::1", e.addr);
	cr_assert(eq(str, json(&e, 0),
		     (char *)"{\"kind\":\"denial\",\"time\":\"2026-11-23T10:00:00.123Z\","
			     "\"cell\":\"abc-1\",\"pid\":10,\"tid\":12,\"comm\":\"curl\","
			     "\"family\":\"ipv6\",\"protocol\":\"udp\",\"address\":\"::1\","
			     "\"port\":443,\"reason\":\"port\"}"));
}

Test(denial, an_abstract_unix_name_and_a_hostile_comm_are_escaped)
{
	struct cell_event e = event(AF_UNIX, 0, CELL_DENY_ABSTRACT_UNIX);

	memcpy(e.comm, "a\"b\\c\n\xff", 7);
	memcpy(e.addr, "/tmp/.X11-unix/X", 16);
	cr_assert(eq(str, json(&e, 0),
		     (char *)"{\"kind\":\"denial\",\"time\":\"2026-11-23T10:00:00.123Z\","
			     "\"cell\":\"abc-1\",\"pid\":10,\"tid\":12,"
			     "\"comm\":\"a\\\"b\\\\c\\u000a\\u00ff\",\"family\":\"unix\","
			     "\"address\":\"@/tmp/.X11-unix/X\",\"reason\":\"abstract-unix\"}"));
}

Test(denial, a_raw_socket_has_no_destination)
{
	struct cell_event e = event(AF_INET, 1, CELL_DENY_SOCKET);

	cr_assert(eq(str, json(&e, 0),
		     (char *)"{\"kind\":\"denial\",\"time\":\"2026-11-23T10:00:00.123Z\","
			     "\"cell\":\"abc-1\",\"pid\":10,\"tid\":12,\"comm\":\"curl\","
			     "\"family\":\"ipv4\",\"protocol\":\"1\",\"reason\":\"raw-socket\"}"));
}

Test(denial, a_line_too_long_for_the_buffer_is_refused)
{
	struct cell_event e = event(AF_INET, 6, CELL_DENY_PORT);
	char small[64];

	cr_assert(eq(int, cell_denial_json("abc-1", &e, 0, 0, small, sizeof(small)), -E2BIG));
}

Test(denial, reasons_have_keys_and_texts)
{
	cr_assert(eq(str, (char *)cell_denial_reason_key(CELL_DENY_PORT), (char *)"port"));
	cr_assert(eq(str, (char *)cell_denial_reason_key(999), (char *)"unknown"));
	cr_assert(not(
		eq(str, (char *)cell_denial_reason_text("not-loopback"), (char *)"not-loopback")));
	cr_assert(eq(str, (char *)cell_denial_reason_text("whatever"), (char *)"whatever"));
}

Test(denial, a_pid_in_its_own_namespace)
{
	/* the test runs in the host's pid namespace: the same pid */
	cr_assert(eq(int, (int)cell_denial_ns_pid(getpid()), (int)getpid()));
	cr_assert(eq(int, (int)cell_denial_ns_pid(0x7ffffff0), 0));
}

Test(denial, an_event_crosses_the_pipe_as_it_was)
{
	struct cell_event e = event(AF_INET6, 6, CELL_DENY_PORT), back;
	char line[CELL_EVENT_LINE_MAX];

	e.time_ns = 123456789012345ULL;
	inet_pton(AF_INET6, "2001:db8::1", e.addr);
	cr_assert(eq(int, cell_event_encode(&e, line, sizeof(line)), 0));
	cr_assert(eq(int, strncmp(line, CELL_EVENT_PREFIX, strlen(CELL_EVENT_PREFIX)), 0));
	cr_assert(eq(int, cell_event_decode(line, &back), 0));
	cr_assert(eq(int, memcmp(&e, &back, sizeof(e)), 0));
	cr_assert(eq(int, cell_event_encode(&e, line, sizeof(line) - 1), -E2BIG));
}

Test(denial, anything_but_a_whole_event_is_refused)
{
	struct cell_event e = event(AF_INET, 6, CELL_DENY_PORT), back;
	char line[CELL_EVENT_LINE_MAX], *tail;

	cr_assert(eq(int, cell_event_encode(&e, line, sizeof(line)), 0));
	tail = line + strlen(line) - 2;
	tail[-1] = 'g'; /* not hex */
	cr_assert(eq(int, cell_event_decode(line, &back), -EINVAL));
	tail[-1] = '0';
	tail[0] = '\0'; /* cut short */
	cr_assert(eq(int, cell_event_decode(line, &back), -EINVAL));
	cr_assert(eq(int, cell_event_decode("{\"id\":\"x\"}", &back), -EINVAL));
	cr_assert(eq(int, cell_event_decode(CELL_EVENT_PREFIX "00\"}", &back), -EINVAL));
}

Test(denial, a_notice_for_the_prompt_is_one_line_that_cannot_drive_the_terminal)
{
	struct cell_event e = event(AF_INET6, 6, CELL_DENY_NOT_LOOPBACK);
	char line[256];

	inet_pton(AF_INET6, "2001:db8::1", e.addr);
	memcpy(e.comm, "ev\033[2Jil\n", 10);
	cr_assert(eq(int, cell_denial_notice(&e, line, sizeof(line)), (int)strlen(line)));
	cr_assert(eq(str, line,
		     (char *)"cell: blocked [2001:db8::1]:443 by ev?[2Jil?: not loopback: a cell "
			     "goes out only through its proxy\n"));
	e = event(AF_INET, 17, CELL_DENY_PORT);
	inet_pton(AF_INET, "127.0.0.1", e.addr);
	cr_assert(gt(int, cell_denial_notice(&e, line, sizeof(line)), 0));
	cr_assert(eq(ptr, strchr(line, '\n'), line + strlen(line) - 1));
	cr_assert(not(eq(ptr, strstr(line, "cell: blocked 127.0.0.1:443 by curl: a loopback port"),
			 NULL)),
		  "%s", line);
	cr_assert(eq(int, cell_denial_notice(&e, line, 20), -E2BIG));
}
