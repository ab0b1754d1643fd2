/* SPDX-License-Identifier: MIT */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bpf.h"
#include "cell.skel.h"
#include "fileio.h"
#include "macro.h"

#define BPF_FS_MAGIC_NUMBER 0xcafe4a11

static void skel_destroy(struct cell_bpf **s)
{
	cell_bpf__destroy(*s);
}

static bool root_alone(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static void pin_dir_from(const struct stat *st, struct cell_bpf_pin_dir *ret)
{
	*ret = (struct cell_bpf_pin_dir){
		.state = root_alone(st) ? CELL_BPF_PIN_FINE : CELL_BPF_PIN_NOT_ROOTS,
		.mode = st->st_mode,
		.uid = st->st_uid,
	};
}

int cell_bpf_pin_dir_inspect(const char *path, struct cell_bpf_pin_dir *ret)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		pin_dir_from(&st, ret);
	else if (errno == ENOENT)
		*ret = (struct cell_bpf_pin_dir){.state = CELL_BPF_PIN_MISSING};
	else
		return negative_errno();
	return 0;
}

int cell_bpf_pin_dir_open(const char *path, bool create, struct cell_bpf_pin_dir *detail)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	/* made by us, or found: either way judged by what the descriptor we use is */
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = negative_errno();
		/* a symbolic link (ELOOP, or ENOTDIR with O_DIRECTORY), or not a directory */
		if ((r == -ELOOP || r == -ENOTDIR) && lstat(path, &st) == 0) {
			pin_dir_from(&st, detail);
			detail->state = CELL_BPF_PIN_NOT_ROOTS;
			return -EPERM;
		}
		return r;
	}
	if (fstat(fd, &st) < 0)
		return negative_errno();
	pin_dir_from(&st, detail);
	if (detail->state != CELL_BPF_PIN_FINE)
		return -EPERM;
	return TAKE_FD(fd);
}

const char *cell_bpf_pin_state_name(enum cell_bpf_pin_state s)
{
	switch (s) {
	case CELL_BPF_PIN_FINE:
		return "fine";
	case CELL_BPF_PIN_MISSING:
		return "missing (made on first use)";
	case CELL_BPF_PIN_NOT_ROOTS:
		break;
	}
	return "not root's alone";
}

char *cell_bpf_pin_dir_describe(const struct cell_bpf_pin_dir *d)
{
	char *s;
	int n;

	if (S_ISLNK(d->mode))
		n = asprintf(&s, "a symbolic link, owner uid %u", (unsigned)d->uid);
	else
		n = asprintf(&s, "%sowner uid %u, mode %04o",
			     S_ISDIR(d->mode) ? "" : "not a directory, ", (unsigned)d->uid,
			     (unsigned)(d->mode & 07777));
	return n < 0 ? NULL : s;
}

char *cell_bpf_pin_dir_problem(void)
{
	struct cell_bpf_pin_dir d;
	_cleanup_free_ char *what = NULL;
	char *s;

	if (cell_bpf_pin_dir_inspect(CELL_BPF_PIN_DIR, &d) < 0 || d.state != CELL_BPF_PIN_NOT_ROOTS)
		return NULL;
	what = cell_bpf_pin_dir_describe(&d);
	if (!what ||
	    asprintf(
		    &s,
		    "'%s' is %s (%s), so someone else could have put maps there for cell-session to use: remove it as root (rm -r %s) and cell-session makes it again",
		    CELL_BPF_PIN_DIR, cell_bpf_pin_state_name(d.state), what, CELL_BPF_PIN_DIR) < 0)
		return NULL;
	return s;
}

/*
 * "/proc/self/fd/N/name": name in the pin directory open at dir, whatever its path leads to now.
 * (BPF_OBJ_GET and BPF_OBJ_PIN take a directory descriptor only since Linux 6.5 and libbpf 1.2;
 * Debian 12 has 1.1. The kernel follows the magic link to the directory itself.)
 */
#define PIN_PATH_MAX 256
static void pin_path(int dir, const char *name, char path[static PIN_PATH_MAX])
{
	snprintf(path, PIN_PATH_MAX, "/proc/self/fd/%d/%s", dir, name);
}

static int map_fd_at(int dir, const char *name)
{
	char path[PIN_PATH_MAX];
	int fd;

	pin_path(dir, name, path);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

/* A pinned map, from a pin directory that is root's alone only. */
static int map_fd(const char *name)
{
	struct cell_bpf_pin_dir detail;
	_cleanup_close_ int dir = cell_bpf_pin_dir_open(CELL_BPF_PIN_DIR, false, &detail);

	if (dir < 0)
		return dir;
	return map_fd_at(dir, name);
}

int cell_bpf_cgroup_id(const char *path, uint64_t *ret)
{
	/* a cgroup2 directory's file handle is its kernfs id, which is the cgroup id */
	union {
		struct file_handle fh;
		char bytes[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h = {.fh.handle_bytes = sizeof(uint64_t)};
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return negative_errno();
	if (h.fh.handle_bytes != sizeof(uint64_t))
		return -EOPNOTSUPP;
	memcpy(ret, h.fh.f_handle, sizeof(*ret));
	return 0;
}

static int ensure_bpffs(void)
{
	struct statfs sf;

	if (statfs(CELL_BPF_FS, &sf) == 0 && sf.f_type == BPF_FS_MAGIC_NUMBER)
		return 0;
	if (mount("bpf", CELL_BPF_FS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return negative_errno();
	return 0;
}

static uint32_t attached_version(int dir)
{
	uint32_t key = 0, version = 0;
	_cleanup_close_ int fd = map_fd_at(dir, "cell_meta");

	if (fd < 0 || bpf_map_lookup_elem(fd, &key, &version) < 0)
		return 0;
	return version;
}

uint32_t cell_bpf_attached_version(void)
{
	struct cell_bpf_pin_dir detail;
	_cleanup_close_ int dir = cell_bpf_pin_dir_open(CELL_BPF_PIN_DIR, false, &detail);

	return dir < 0 ? 0 : attached_version(dir);
}

/* Whether the link pinned at path is attached to the cgroup cg. */
static bool link_on(const char *path, uint64_t cg)
{
	struct bpf_link_info info = {0};
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool on;

	if (fd < 0)
		return false;
	on = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_CGROUP &&
	     info.cgroup.cgroup_id == cg;
	close(fd);
	return on;
}

/*
 * The Unix socket hooks (6.7+): section names libbpf 1.1 does not know, so their program and
 * attach types are set here, the latter as the running kernel's BTF numbers it.
 */
static const struct {
	const char *prog, *attach_type;
} unix_hooks[] = {
	{"cell_connect_unix", "BPF_CGROUP_UNIX_CONNECT"},
	{"cell_sendmsg_unix", "BPF_CGROUP_UNIX_SENDMSG"},
};

/* Which of unix_hooks prog is, or -1. */
static int unix_hook(const struct bpf_program *prog)
{
	for (size_t i = 0; i < ELEMENTSOF(unix_hooks); i++)
		if (streq(bpf_program__name(prog), unix_hooks[i].prog))
			return (int)i;
	return -1;
}

/* The values of enum bpf_attach_type's names in the kernel's BTF; -ENOENT if one is missing. */
static int kernel_attach_types(int ret[static ELEMENTSOF(unix_hooks)])
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	size_t found = 0;
	int id;

	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
	t = id > 0 ? btf__type_by_id(btf, (__u32)id) : NULL;
	for (int i = 0; t && i < btf_vlen(t); i++) {
		const char *name = btf__name_by_offset(btf, btf_enum(t)[i].name_off);

		for (size_t k = 0; name && k < ELEMENTSOF(unix_hooks); k++)
			if (streq(name, unix_hooks[k].attach_type)) {
				ret[k] = btf_enum(t)[i].val;
				found++;
			}
	}
	btf__free(btf);
	return found == ELEMENTSOF(unix_hooks) ? 0 : -ENOENT;
}

bool cell_bpf_has_unix_hooks(void)
{
	int types[ELEMENTSOF(unix_hooks)];

	return kernel_attach_types(types) == 0;
}

/* Sets up the Unix hooks where the kernel has them; elsewhere they are not loaded. */
static int prepare_unix_hooks(struct cell_bpf *skel)
{
	int types[ELEMENTSOF(unix_hooks)];
	bool have = kernel_attach_types(types) == 0;
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj)
	{
		int i = unix_hook(prog), r;

		if (i < 0)
			continue;
		if (!have) {
			r = bpf_program__set_autoload(prog, false);
		} else {
			r = bpf_program__set_type(prog, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
			if (r >= 0)
				r = bpf_program__set_expected_attach_type(
					prog, (enum bpf_attach_type)types[i]);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Whether every program is attached to the cgroup cg, as this build's version. A Unix hook's
 * link may be missing: the load that wrote this version attached them where the kernel has
 * them, and the kernel does not change under a pinned program.
 */
static bool in_place(const struct cell_bpf *skel, int dir, uint64_t cg)
{
	struct bpf_program *prog;

	if (attached_version(dir) != CELL_BPF_VERSION)
		return false;
	bpf_object__for_each_program(prog, skel->obj)
	{
		char name[128], path[PIN_PATH_MAX];

		snprintf(name, sizeof(name), "link_%s", bpf_program__name(prog));
		pin_path(dir, name, path);
		if (!link_on(path, cg) &&
		    !(unix_hook(prog) >= 0 && faccessat(dir, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0))
			return false;
	}
	return true;
}

/*
 * Attaches prog to the cgroup at cgfd through a link pinned as name in the pin directory dir, or
 * updates that link.
 */
static int attach(struct bpf_program *prog, int cgfd, uint64_t cg, int dir, const char *name)
{
	char path[PIN_PATH_MAX];
	struct bpf_link *link;
	int r;

	pin_path(dir, name, path);
	if (link_on(path, cg)) {
		link = bpf_link__open(path);
		if (!link)
			return -errno;
		r = bpf_link__update_program(link, prog);
		bpf_link__destroy(link); /* closes our fd; the pin keeps the link */
		return r;
	}
	/* a link of a cgroup that is gone, or none */
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
		return negative_errno();
	link = bpf_program__attach_cgroup(prog, cgfd);
	if (!link)
		return -errno;
	r = bpf_link__pin(link, path);
	bpf_link__destroy(link);
	return r;
}

/* Whether name, in the pin directory, is one of obj's maps or the link of one of its programs. */
static bool pinned_by(const struct bpf_object *obj, const char *name)
{
	if (startswith(name, "link_"))
		return bpf_object__find_program_by_name(obj, name + strlen("link_")) != NULL;
	return bpf_object__find_map_by_name(obj, name) != NULL;
}

/*
 * Unpins what an older build pinned and this one has no use for: its maps (freed when no
 * program or cell-session holds them any more) and links (detached).
 */
static void unpin_obsolete(const struct bpf_object *obj, int dir)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !pinned_by(obj, e->d_name))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

int cell_bpf_setup(const char *slice)
{
	struct cell_bpf *skel _cleanup_(skel_destroy) = NULL;
	_cleanup_close_ int cgfd = -1, dir = -1;
	struct cell_bpf_pin_dir detail;
	struct bpf_program *prog;
	struct bpf_map *map;
	uint32_t key = 0, version = CELL_BPF_VERSION;
	uint64_t cg;
	int r;

	r = ensure_bpffs();
	if (r < 0)
		return r;
	/* everything below goes through this descriptor, not the path, which names what it
	 * leads to at the time */
	dir = cell_bpf_pin_dir_open(CELL_BPF_PIN_DIR, true, &detail);
	if (dir < 0)
		return dir;
	/* checked again once locked: a newer build may be loading now */
	if (attached_version(dir) > CELL_BPF_VERSION)
		return -EPROTONOSUPPORT;
	/* two cells starting at once: one loads, the other then finds it all in place */
	while (flock(dir, LOCK_EX) < 0)
		if (errno != EINTR)
			return negative_errno();
	r = cell_mkdir_p(slice, 0755);
	if (r >= 0)
		r = cell_bpf_cgroup_id(slice, &cg);
	if (r < 0)
		return r;
	skel = cell_bpf__open();
	if (!skel)
		return -errno;
	if (in_place(skel, dir, cg))
		return 0;
	/* an older build's programs would not know what a newer one's cells rely on */
	if (attached_version(dir) > CELL_BPF_VERSION)
		return -EPROTONOSUPPORT;
	/* the maps pinned already (by an older build, say) are reused: they keep their contents */
	bpf_object__for_each_map(map, skel->obj)
	{
		char path[PIN_PATH_MAX];

		pin_path(dir, bpf_map__name(map), path);
		r = bpf_map__set_pin_path(map, path);
		if (r < 0)
			return r;
	}
	r = prepare_unix_hooks(skel);
	if (r < 0)
		return r;
	r = cell_bpf__load(skel);
	if (r < 0)
		return r;
	cgfd = open(slice, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return negative_errno();
	bpf_object__for_each_program(prog, skel->obj)
	{
		char name[128];

		if (!bpf_program__autoload(prog))
			continue;
		snprintf(name, sizeof(name), "link_%s", bpf_program__name(prog));
		r = attach(prog, cgfd, cg, dir, name);
		if (r < 0)
			return r;
	}
	r = bpf_map__update_elem(skel->maps.cell_meta, &key, sizeof(key), &version, sizeof(version),
				 BPF_ANY);
	if (r >= 0)
		unpin_obsolete(skel->obj, dir);
	return r;
}

int cell_bpf_policy_set(uint64_t cgroup, const struct cell_policy *p)
{
	_cleanup_close_ int fd = map_fd("cell_policy");

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &cgroup, p, BPF_ANY) < 0 ? -errno : 0;
}

int cell_bpf_own_socket(uint64_t cgroup, int sock)
{
	_cleanup_close_ int fd = map_fd("cell_owner_of");
	struct cell_owner o = {cgroup};

	if (fd < 0)
		return fd;
	/* (a socket's key is its descriptor; one of a cell's already stays that cell's) */
	return bpf_map_update_elem(fd, &sock, &o, BPF_NOEXIST) < 0 ? -errno : 0;
}

/* Removes the cell's entry from the pinned map name; none is fine. */
static int map_delete(const char *name, uint64_t cgroup)
{
	_cleanup_close_ int fd = map_fd(name);

	if (fd < 0)
		return fd;
	if (bpf_map_delete_elem(fd, &cgroup) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int cell_bpf_policy_delete(uint64_t cgroup)
{
	return map_delete("cell_policy", cgroup);
}

int cell_bpf_counters(uint64_t cgroup, struct cell_counters *ret)
{
	_cleanup_close_ int fd = map_fd("cell_stats");
	_cleanup_free_ struct cell_counters *per_cpu = NULL;
	int n = libbpf_num_possible_cpus();

	memset(ret, 0, sizeof(*ret));
	if (fd < 0)
		return fd;
	if (n <= 0)
		return n < 0 ? n : -EINVAL;
	per_cpu = calloc((size_t)n, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &cgroup, per_cpu) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* the counters are all __u64: summed as an array, a new one cannot be forgotten here */
	for (int i = 0; i < n; i++) {
		const __u64 *from = (const __u64 *)&per_cpu[i];
		__u64 *to = (__u64 *)ret;

		for (size_t k = 0; k < sizeof(*ret) / sizeof(__u64); k++)
			to[k] += from[k];
	}
	return 0;
}

int cell_bpf_counters_delete(uint64_t cgroup)
{
	return map_delete("cell_stats", cgroup);
}

struct events_ctx {
	int (*fn)(const struct cell_event *e, void *data); /* NULL: skip them all */
	void *data;
	uint64_t cgroup; /* only this cell's events (0: all) */
	int stopped;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct events_ctx *c = ctx;
	const struct cell_event *e = data;

	if (size < sizeof(*e) || !c->fn || (c->cgroup && e->cgroup != c->cgroup))
		return 0;
	c->stopped = c->fn(data, c->data);
	return c->stopped;
}

int cell_bpf_events(int timeout_ms, int (*fn)(const struct cell_event *e, void *data), void *data)
{
	_cleanup_close_ int fd = map_fd("cell_events");
	struct events_ctx ctx = {fn, data, 0, 0};
	struct ring_buffer *rb;
	int r;

	if (fd < 0)
		return fd;
	rb = ring_buffer__new(fd, on_event, &ctx, NULL);
	if (!rb)
		return -errno;
	r = ring_buffer__consume(rb);
	if (r >= 0 && !ctx.stopped && timeout_ms > 0)
		r = ring_buffer__poll(rb, timeout_ms);
	ring_buffer__free(rb);
	if (ctx.stopped)
		return ctx.stopped;
	return r < 0 ? r : 0;
}

struct cell_bpf_ring {
	struct ring_buffer *rb;
	int fd; /* the slot's ring buffer */
	uint64_t cgroup;
	struct events_ctx ctx;
};

/* Takes a free slot of the pool for the cell: its index, or -ENOSPC if all are taken. */
static int ring_claim(int owner_fd, uint64_t cgroup)
{
	/* the lowest free: the pool's ring buffers are made once for as many cells as are ever
	 * open at once, and then reused */
	for (uint32_t slot = 0; slot < CELL_RING_SLOTS; slot++) {
		if (bpf_map_update_elem(owner_fd, &slot, &cgroup, BPF_NOEXIST) == 0)
			return (int)slot;
		if (errno != EEXIST)
			return -errno;
	}
	return -ENOSPC;
}

/* The ring buffer in a slot (the caller holds it), made if the slot has none yet. */
static int ring_in_slot(int pool_fd, uint32_t slot)
{
	uint32_t id;
	int fd, r;

	if (bpf_map_lookup_elem(pool_fd, &slot, &id) == 0) {
		fd = bpf_map_get_fd_by_id(id);
		return fd < 0 ? -errno : fd;
	}
	if (errno != ENOENT)
		return -errno;
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "cell_ring", 0, 0, CELL_RING_BYTES, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(pool_fd, &slot, &fd, BPF_ANY) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Deletes the cell's slot entries (slot → cell and cell → slot); none is fine. */
static int ring_unclaim(int owner_fd, int slot_fd, uint64_t cgroup)
{
	uint32_t slot, next, *prev = NULL;
	uint64_t owner;
	int r = 0;

	if (bpf_map_delete_elem(slot_fd, &cgroup) < 0 && errno != ENOENT)
		r = -errno;
	/* by owner rather than through cell_ring_slot: a claim whose cell → slot entry was never
	 * written (its keeper died in between) is given back too */
	while (bpf_map_get_next_key(owner_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(owner_fd, &next, &owner) == 0 && owner == cgroup) {
			if (bpf_map_delete_elem(owner_fd, &next) < 0 && errno != ENOENT)
				r = -errno;
			continue; /* the key after prev is the next one still */
		}
		slot = next;
		prev = &slot;
	}
	return r;
}

int cell_bpf_ring_open(uint64_t cgroup, struct cell_bpf_ring **ret)
{
	_cleanup_close_ int owner_fd = map_fd("cell_ring_owner"),
			    slot_fd = map_fd("cell_ring_slot"), pool_fd = map_fd("cell_ring_pool");
	struct cell_bpf_ring *r = NULL;
	int e, slot;
	uint32_t s;

	if (owner_fd < 0 || slot_fd < 0 || pool_fd < 0)
		return owner_fd < 0 ? owner_fd : slot_fd < 0 ? slot_fd : pool_fd;
	if (bpf_map_lookup_elem(slot_fd, &cgroup, &s) == 0)
		return -EEXIST;
	slot = ring_claim(owner_fd, cgroup);
	if (slot < 0)
		return slot;
	s = (uint32_t)slot;
	r = calloc(1, sizeof(*r));
	e = r ? 0 : -ENOMEM;
	if (r) {
		r->cgroup = cgroup;
		r->ctx.cgroup = cgroup;
		r->fd = ring_in_slot(pool_fd, s);
		e = r->fd < 0 ? r->fd : 0;
	}
	if (e >= 0) {
		r->rb = ring_buffer__new(r->fd, on_event, &r->ctx, NULL);
		e = r->rb ? 0 : -errno;
	}
	/* what the slot's last cell left unread is skipped (its events are not ours anyway) */
	if (e >= 0 && ring_buffer__consume(r->rb) < 0)
		e = -EIO;
	if (e >= 0 && bpf_map_update_elem(slot_fd, &cgroup, &s, BPF_NOEXIST) < 0)
		e = -errno;
	if (e < 0) {
		ring_unclaim(owner_fd, slot_fd, cgroup);
		cell_bpf_ring_free(r);
		return e;
	}
	*ret = r;
	return 0;
}

int cell_bpf_ring_fd(const struct cell_bpf_ring *r)
{
	return ring_buffer__epoll_fd(r->rb);
}

int cell_bpf_ring_drain(struct cell_bpf_ring *r, int (*fn)(const struct cell_event *e, void *data),
			void *data)
{
	int n;

	r->ctx = (struct events_ctx){fn, data, r->cgroup, 0};
	n = ring_buffer__consume(r->rb);
	if (r->ctx.stopped)
		return r->ctx.stopped;
	return n < 0 ? n : 0;
}

void cell_bpf_ring_free(struct cell_bpf_ring *r)
{
	if (!r)
		return;
	ring_buffer__free(r->rb);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

int cell_bpf_ring_release(uint64_t cgroup)
{
	_cleanup_close_ int owner_fd = map_fd("cell_ring_owner"),
			    slot_fd = map_fd("cell_ring_slot");

	if (owner_fd < 0 || slot_fd < 0)
		return owner_fd < 0 ? owner_fd : slot_fd;
	return ring_unclaim(owner_fd, slot_fd, cgroup);
}
