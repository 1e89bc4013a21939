#ifndef BANNERD_SESSION_FAULT_H
#define BANNERD_SESSION_FAULT_H
/* Applying the [faults] rules (faults.h) to one session: at a point of
 * the dialogue, decide, log ("fault" lines), count
 * (bannerd_faults_total), and then delay, reply, close, 421 or stall.
 * A delay holds the session (s->fault_held): no input is processed until
 * it ends, and then resume(s) runs what the delay held back, unless a
 * terminal rule applies after it. Nothing here frees the session. */
#include <event2/util.h>

#include "faults.h"

struct session;

typedef void session_fault_resume_fn(struct session *s);

/* Returns 0 when no rule applies now (the caller carries on), 1 when the
 * faults took over: a reply, a close or a stall is done, or a delay is
 * running and resume will be called when it ends. */
int session_fault(struct session *s, enum fault_point p, session_fault_resume_fn *resume);

/* The fault timer's callback (session.c creates the timer). */
void session_fault_timer_cb(evutil_socket_t fd, short what, void *arg);

#endif
