#ifndef BANNERD_SPOOL_H
#define BANNERD_SPOOL_H
/* The Maildir sink. A message is written to tmp/, fsynced, renamed into
 * new/, and the new/ directory is fsynced; only then may the session
 * answer 250. Any failure leaves nothing in new/ and the tmp file is
 * removed, so the client is told 452 (storage full) or 451 and nothing
 * half-written remains. Called from worker threads; nothing here is
 * shared between them but the queue id counter. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct spool_msg {
	int fd;
	int error;		/* first errno seen while writing, 0 if none */
	uint64_t bytes;
	const char *dir;	/* the Maildir (the session's config holds it) */
	char name[256];		/* unique Maildir file name; "" once nothing
				 * of ours is left in tmp/ */
};

/* Creates DIR, DIR/tmp, DIR/new and DIR/cur if missing. Returns 0 or -1
 * with err. Called at start-up and on every reload. */
int spool_maildir_prepare(const char *dir, char *err, size_t errlen);
/* Start-up only, after the privileges are dropped: a write test (a file
 * created and removed in tmp/, new/ writable), then removes the tmp/
 * files a killed bannerd left: those whose name carries HOSTNAME and the
 * pid of a process that no longer exists. Files of other writers, and of
 * live processes, are left alone. Logs how many it removed. Returns 0, or
 * -1 with err when the Maildir cannot be written. */
int spool_maildir_startup(const char *dir, const char *hostname, char *err, size_t errlen);

/* A queue id for the 250 reply (19 hex digits: seconds, pid, counter),
 * unique on this host. */
void spool_queue_id(char *buf, size_t len);

int spool_begin(struct spool_msg *m, const char *dir, const char *hostname,
    const char *queue_id);
/* Records the first error and ignores later writes: the session keeps
 * reading to the end of data before it can answer. */
void spool_write(struct spool_msg *m, const void *p, size_t n);
/* Returns 0 once the message is durable in new/, else -1 (errno kept in
 * m->error) with the tmp file removed. */
int spool_commit(struct spool_msg *m, const char *dir);
void spool_abort(struct spool_msg *m);
/* Whether m->error means the storage is full (ENOSPC, EDQUOT): RFC 3463's
 * 4.3.1, not the 4.3.0 of any other local error. */
int spool_error_is_storage(int error);

#endif
