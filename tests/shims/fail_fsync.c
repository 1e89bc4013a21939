/* A test-only LD_PRELOAD shim: fsync on a regular file fails with EIO, as
 * a dying disk would make it, while directories are synced for real. It
 * lets tests/e2e/test_spool.py drive spool_commit's fsync failure path.
 * Built without sanitizers and without the project's headers on purpose:
 * it is loaded into bannerd, not linked with it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync(int fd);

int
fsync(int fd)
{
	static int (*real_fsync)(int);
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		errno = EIO;
		return -1;
	}
	if (real_fsync == NULL)
		real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real_fsync == NULL ? 0 : real_fsync(fd);
}
