#ifndef BANNERD_NOTIFY_H
#define BANNERD_NOTIFY_H
/* The eventfd counters that wake a loop from another thread (worker
 * inboxes, resolver answers, the main loop's admission and exit fds). */

/* Counts fd up: whoever watches it wakes. */
void eventfd_notify(int fd);
/* Resets fd's count, in the callback of the event watching it. */
void eventfd_drain(int fd, const char *who);

#endif
