#ifndef BANNERD_SESSION_FAULT_H
#define BANNERD_SESSION_FAULT_H
/* Applying the [faults] rules (faults.h) to one session: at a point of
 * the dialogue, decide, log ("fault" lines), count
 * (bannerd_faults_total), and then delay, reply, close, 421 or stall.
 * A delay holds the session (s->fault_held): no input is processed until
 * it ends, and then the caller's hooks run what the delay held back,
 * unless a terminal rule applies after it. The hooks keep the calls one
 * way: this file never calls the dialogue or the banner path by name.
 * Nothing here frees the session. */
#include <event2/util.h>

#include "faults.h"

struct session;

struct session_fault_hooks {
	/* After a delay with no terminal rule: what the delay held back. */
	void (*resume)(struct session *s);
	/* A reply or a 421 answers in place of the normal answer (the end
	 * of data: the message is refused); called before it is sent. May
	 * be NULL. */
	void (*refused)(struct session *s, int code);
	/* Once a delay is over, whatever it ended in. May be NULL. */
	void (*after)(struct session *s);
};

/* Returns 0 when no rule applies now (the caller carries on), 1 when the
 * faults took over: a reply, a close or a stall is done, or a delay is
 * running and the hooks (static, they outlive the session) will be
 * called when it ends. */
int session_fault(struct session *s, enum fault_point p, const struct session_fault_hooks *hooks);

/* The fault timer's callback (session.c creates the timer). */
void session_fault_timer_cb(evutil_socket_t fd, short what, void *arg);

#endif
