/* A test-only LD_PRELOAD shim: fsync on a regular file fails with EIO, as
 * a dying disk would make it, while directories are synced for real. It
 * lets tests/e2e/test_spool.py drive spool_commit's fsync failure path.
 * Two optional variables, for tests/torture/torture.py: FAIL_FSYNC_WHAT=dir
 * fails the fsync of directories instead (the one after the rename into
 * new/), and FAIL_FSYNC_WHILE=PATH fails only while PATH exists, so a test
 * can turn the fault off and see the same session store a message.
 * Built without sanitizers and without the project's headers on purpose:
 * it is loaded into bannerd, not linked with it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync(int fd);

static int
should_fail(int fd)
{
	const char *what = getenv("FAIL_FSYNC_WHAT"), *flag = getenv("FAIL_FSYNC_WHILE");
	int dirs = what != NULL && strcmp(what, "dir") == 0;
	struct stat st;

	if (fstat(fd, &st) != 0 || !(dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
		return 0;
	return flag == NULL || flag[0] == '\0' || access(flag, F_OK) == 0;
}

int
fsync(int fd)
{
	static int (*real_fsync)(int);

	if (should_fail(fd)) {
		errno = EIO;
		return -1;
	}
	if (real_fsync == NULL)
		real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	return real_fsync == NULL ? 0 : real_fsync(fd);
}
