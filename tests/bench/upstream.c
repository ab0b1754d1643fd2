/* SPDX-License-Identifier: MIT */
/*
 * The proxy benchmark's upstream: answers GET /N with N bytes, one process per connection, as
 * fast as the kernel takes them, so that the proxies are what is measured.
 * Usage: bench-upstream PORT-FILE  (writes the port it listens on to PORT-FILE)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void serve(int fd)
{
	static char chunk[256 * 1024];
	char req[8192] = "", head[128];
	size_t len = 0;
	long long n = 0, sent = 0;
	char *sp;

	while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);

		if (r <= 0)
			return;
		len += (size_t)r;
		req[len] = '\0';
	}
	sp = strchr(req, '/');
	if (sp)
		n = atoll(sp + 1);
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n\r\n", n);
	if (write(fd, head, strlen(head)) < 0)
		return;
	while (sent < n) {
		size_t want =
			(size_t)(n - sent) < sizeof(chunk) ? (size_t)(n - sent) : sizeof(chunk);
		ssize_t w = write(fd, chunk, want);

		if (w <= 0)
			return;
		sent += w;
	}
}

int main(int argc, char *argv[])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	FILE *f;

	if (argc < 2 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0)
		return 1;
	getsockname(fd, (struct sockaddr *)&a, &alen);
	f = fopen(argv[1], "w");
	if (!f)
		return 1;
	fprintf(f, "%u\n", ntohs(a.sin_port));
	fclose(f);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			continue;
		if (fork() == 0) {
			serve(c);
			_exit(0);
		}
		close(c);
	}
}
