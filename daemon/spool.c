#include "spool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "monotime.h"

/* The host part of a name, cut so that the whole name fits in
 * struct spool_msg's 256 bytes. */
#define SPOOL_HOST_MAX 200

static _Atomic uint64_t spool_seq;

static int
mkdir_if_missing(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

int
spool_maildir_prepare(const char *dir, char *err, size_t errlen)
{
	static const char *const subdirs[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];

	if (mkdir_if_missing(dir) != 0)
		goto fail;
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
		if (mkdir_if_missing(path) != 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "smtp.maildir: cannot create %s: %s", dir, strerror(errno));
	return -1;
}

/* The host part of a Maildir name: maildir(5) forbids '/' and ':' in
 * it and writes them as \057 and \072. */
static void
maildir_host(const char *host, char *out, size_t len)
{
	size_t n = 0;

	for (; *host != '\0' && n + 5 <= len; host++) {
		if (*host == '/' || *host == ':')
			n += (size_t)snprintf(out + n, len - n, "\\%03o", (unsigned)*host);
		else
			out[n++] = *host;
	}
	out[n] = '\0';
}

/* SECONDS.M<usec>P<pid>Q<queue id>.HOST: the pid is what lets a later
 * start-up tell a dead writer's file from a live one's. */
static void
maildir_name(char *buf, size_t len, const char *hostname, const char *queue_id)
{
	uint64_t now = walltime_now_us();
	char host[SPOOL_HOST_MAX];

	maildir_host(hostname, host, sizeof host);
	snprintf(buf, len, "%llu.M%06lluP%dQ%s.%s",
	    (unsigned long long)(now / 1000000), (unsigned long long)(now % 1000000),
	    (int)getpid(), queue_id, host);
}

static const char *
skip_class(const char *p, int (*in_class)(int))
{
	const char *start = p;

	while (in_class((unsigned char)*p))
		p++;
	return p == start ? NULL : p;
}

/* The writer's pid if NAME is one of maildir_name's for HOST, else 0. */
static long
tmp_name_writer(const char *name, const char *host)
{
	const char *p = skip_class(name, isdigit), *pid_at;
	long pid;

	if (p == NULL || p[0] != '.' || p[1] != 'M' || (p = skip_class(p + 2, isdigit)) == NULL ||
	    *p != 'P' || (p = skip_class(pid_at = p + 1, isdigit)) == NULL || *p != 'Q' ||
	    (p = skip_class(p + 1, isxdigit)) == NULL || *p != '.' || strcmp(p + 1, host) != 0)
		return 0;
	pid = strtol(pid_at, NULL, 10);
	return pid > 0 && pid < INT_MAX ? pid : 0;
}

/* Only ESRCH says the writer is gone; EPERM is someone else's live
 * process. At start-up our own pid can only be a previous life's (a
 * container's pid 1), since we have not written anything yet. */
static int
writer_gone(long pid)
{
	if (pid == (long)getpid())
		return 1;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static unsigned
remove_dead_writers_tmp(const char *tmpdir, const char *hostname)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[PATH_MAX], host[SPOOL_HOST_MAX];
	unsigned removed = 0;
	long pid;

	if (d == NULL)
		return 0;
	maildir_host(hostname, host, sizeof host);
	while ((e = readdir(d)) != NULL) {
		if ((pid = tmp_name_writer(e->d_name, host)) == 0 || !writer_gone(pid))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name) >= (int)sizeof path)
			continue;
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

static int
not_writable(const char *dir, const char *sub, char *err, size_t errlen)
{
	snprintf(err, errlen, "smtp.maildir: cannot write to %s/%s: %s", dir, sub, strerror(errno));
	return -1;
}

/* Creates and removes a file in tmp/, as a delivery would, so that a
 * Maildir we cannot write to stops the start-up rather than the first
 * client's message. */
static int
write_test(const char *dir, const char *hostname, char *err, size_t errlen)
{
	char name[256], path[PATH_MAX];
	int fd;

	maildir_name(name, sizeof name, hostname, "0");
	if (snprintf(path, sizeof path, "%s/tmp/%s", dir, name) >= (int)sizeof path) {
		snprintf(err, errlen, "smtp.maildir: %s: path too long", dir);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd) != 0 || unlink(path) != 0)
		return not_writable(dir, "tmp", err, errlen);
	snprintf(path, sizeof path, "%s/new", dir);
	if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) != 0)
		return not_writable(dir, "new", err, errlen);
	return 0;
}

int
spool_maildir_startup(const char *dir, const char *hostname, char *err, size_t errlen)
{
	char tmpdir[PATH_MAX];
	unsigned removed;

	if (write_test(dir, hostname, err, errlen) != 0)
		return -1;
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", dir);
	removed = remove_dead_writers_tmp(tmpdir, hostname);
	log_info("maildir dir=%s removed_tmp=%u (left in tmp/ by bannerd processes that are gone)",
	    dir, removed);
	return 0;
}

void
spool_queue_id(char *buf, size_t len)
{
	uint64_t seq = atomic_fetch_add(&spool_seq, 1);

	/* Seconds, pid, a counter: two bannerds started in the same second
	 * (a restart after kill -9) must not give out the same ids, and a
	 * pid is not reused within a second. */
	snprintf(buf, len, "%08llX%06X%05llX", (unsigned long long)(walltime_now_us() / 1000000 & 0xffffffff),
	    (unsigned)getpid() & 0xffffff, (unsigned long long)(seq & 0xfffff));
}

int
spool_begin(struct spool_msg *m, const char *dir, const char *hostname,
    const char *queue_id)
{
	char path[PATH_MAX];

	m->error = 0;
	m->bytes = 0;
	m->dir = dir;
	maildir_name(m->name, sizeof m->name, hostname, queue_id);
	snprintf(path, sizeof path, "%s/tmp/%s", dir, m->name);
	m->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->fd < 0) {
		m->error = errno;
		m->name[0] = '\0';
		return -1;
	}
	return 0;
}

void
spool_write(struct spool_msg *m, const void *p, size_t n)
{
	const char *c = p;

	while (m->fd >= 0 && m->error == 0 && n > 0) {
		ssize_t w = write(m->fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			m->error = errno;
			return;
		}
		c += w;
		n -= (size_t)w;
		m->bytes += (uint64_t)w;
	}
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Closes the descriptor whatever fsync said (a failed fsync used to
 * skip the close and leak it); the first error is the one kept. */
static int
close_synced(struct spool_msg *m)
{
	int rc = fsync(m->fd), e = errno;

	if (close(m->fd) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	m->fd = -1;
	if (rc != 0)
		m->error = e;
	return rc;
}

int
spool_commit(struct spool_msg *m, const char *dir)
{
	char tmp_path[PATH_MAX], new_path[PATH_MAX], new_dir[PATH_MAX];

	if (m->fd < 0 || m->error != 0)
		goto fail;
	if (close_synced(m) != 0)
		goto fail;
	snprintf(tmp_path, sizeof tmp_path, "%s/tmp/%s", dir, m->name);
	snprintf(new_path, sizeof new_path, "%s/new/%s", dir, m->name);
	snprintf(new_dir, sizeof new_dir, "%s/new", dir);
	if (rename(tmp_path, new_path) != 0) {
		m->error = errno;
		goto fail;
	}
	m->name[0] = '\0';	/* moved: nothing left in tmp/ to remove */
	/* Without this the rename itself may not survive a power cut, and
	 * the 250 we are about to send would be a lie. */
	if (fsync_dir(new_dir) != 0) {
		m->error = errno;
		unlink(new_path);
		return -1;
	}
	return 0;
fail:
	spool_abort(m);
	return -1;
}

int
spool_error_is_storage(int error)
{
	return error == ENOSPC || error == EDQUOT;
}

void
spool_abort(struct spool_msg *m)
{
	char path[PATH_MAX];

	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->name[0] != '\0' && m->dir != NULL) {
		snprintf(path, sizeof path, "%s/tmp/%s", m->dir, m->name);
		unlink(path);
	}
	m->name[0] = '\0';
}
