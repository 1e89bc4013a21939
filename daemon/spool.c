#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "monotime.h"

#define STALE_TMP_SECONDS (36 * 3600)	/* the Maildir convention */

static _Atomic uint64_t spool_seq;

static int
mkdir_if_missing(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

static void
remove_stale_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[PATH_MAX];
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name) >= (int)sizeof path)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    now - st.st_mtime > STALE_TMP_SECONDS)
			unlink(path);
	}
	closedir(d);
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
	snprintf(path, sizeof path, "%s/tmp", dir);
	remove_stale_tmp(path);
	return 0;
fail:
	snprintf(err, errlen, "smtp.maildir: cannot create %s: %s", dir, strerror(errno));
	return -1;
}

void
spool_queue_id(char *buf, size_t len)
{
	uint64_t seq = atomic_fetch_add(&spool_seq, 1);

	snprintf(buf, len, "%010llX%05llX", (unsigned long long)(walltime_now_us() / 1000000),
	    (unsigned long long)(seq & 0xfffff));
}

int
spool_begin(struct spool_msg *m, const char *dir, const char *hostname,
    const char *queue_id)
{
	uint64_t now = walltime_now_us();

	m->error = 0;
	m->bytes = 0;
	snprintf(m->name, sizeof m->name, "%llu.M%06lluP%dQ%s.%s",
	    (unsigned long long)(now / 1000000), (unsigned long long)(now % 1000000),
	    (int)getpid(), queue_id, hostname);
	snprintf(m->tmp_path, sizeof m->tmp_path, "%s/tmp/%s", dir, m->name);
	m->fd = open(m->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->fd < 0) {
		m->error = errno;
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

int
spool_commit(struct spool_msg *m, const char *dir)
{
	char new_path[PATH_MAX], new_dir[PATH_MAX];

	if (m->fd < 0 || m->error != 0)
		goto fail;
	if (fsync(m->fd) != 0 || close(m->fd) != 0) {
		m->fd = -1;
		m->error = errno;
		goto fail;
	}
	m->fd = -1;
	snprintf(new_path, sizeof new_path, "%s/new/%s", dir, m->name);
	snprintf(new_dir, sizeof new_dir, "%s/new", dir);
	if (rename(m->tmp_path, new_path) != 0) {
		m->error = errno;
		goto fail;
	}
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

void
spool_abort(struct spool_msg *m)
{
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	if (m->tmp_path[0] != '\0')
		unlink(m->tmp_path);
	m->tmp_path[0] = '\0';
}
