/* A test-only LD_PRELOAD shim: moving a file into a Maildir's new/ fails
 * with EIO, by rename, renameat, renameat2, link or linkat (spool.c uses
 * rename; a spool that delivered by link and unlink would meet the same
 * failure). Every other rename or link is passed through. With
 * FAIL_RENAME_WHILE=PATH set, it fails only while PATH exists, so a test
 * can turn the fault off and see the same session store a message.
 * Used by tests/torture/torture.py and tests/e2e/test_torture.py. Built
 * without sanitizers and without the project's headers on purpose: it is
 * loaded into bannerd, not linked with it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char *oldpath, const char *newpath);
int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    unsigned int flags);
int link(const char *oldpath, const char *newpath);
int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);

/* Whether NEWPATH names a file in a directory called new, and the fault
 * is on. */
static int
should_fail(const char *newpath)
{
	const char *flag = getenv("FAIL_RENAME_WHILE");

	if (newpath == NULL || (strstr(newpath, "/new/") == NULL && strncmp(newpath, "new/", 4) != 0))
		return 0;
	return flag == NULL || flag[0] == '\0' || access(flag, F_OK) == 0;
}

static void *
next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

#define FAIL_OR_CALL(type, name, newpath, ...) do {			\
	static type real;						\
	if (should_fail(newpath)) {					\
		errno = EIO;						\
		return -1;						\
	}								\
	if (real == NULL && (real = (type)next(name)) == NULL) {	\
		errno = ENOSYS;						\
		return -1;						\
	}								\
	return real(__VA_ARGS__);					\
} while (0)

typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned int);
typedef int (*link_fn)(const char *, const char *);
typedef int (*linkat_fn)(int, const char *, int, const char *, int);

int
rename(const char *oldpath, const char *newpath)
{
	FAIL_OR_CALL(rename_fn, "rename", newpath, oldpath, newpath);
}

int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	FAIL_OR_CALL(renameat_fn, "renameat", newpath, olddirfd, oldpath, newdirfd, newpath);
}

int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    unsigned int flags)
{
	FAIL_OR_CALL(renameat2_fn, "renameat2", newpath, olddirfd, oldpath, newdirfd, newpath,
	    flags);
}

int
link(const char *oldpath, const char *newpath)
{
	FAIL_OR_CALL(link_fn, "link", newpath, oldpath, newpath);
}

int
linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	FAIL_OR_CALL(linkat_fn, "linkat", newpath, olddirfd, oldpath, newdirfd, newpath, flags);
}
