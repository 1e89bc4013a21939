#ifndef BANNERD_DIALOGUE_H
#define BANNERD_DIALOGUE_H
/* The ESMTP dialogue of one greeted session: the command table, line
 * framing and DATA. It works through session_io.h alone and never frees
 * the session; to end it, it closes after flush. */

struct session;

/* Runs every complete command line (and DATA) buffered, in order, until
 * more input is needed, the client stops reading its replies, or the
 * session is closing. */
void dialogue_process_input(struct session *s);

#endif
