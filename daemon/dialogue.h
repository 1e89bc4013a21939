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

/* After a [faults] delay: reads again and runs what was buffered. */
void dialogue_resume(struct session *s);

/* A [faults] rule answered the end of data with code: the message is
 * dropped and counted, the transaction ends. */
void dialogue_message_refused(struct session *s, int code);

#endif
