/* libFuzzer harness for the SMTP command parser: any bytes as one line.
 * Beyond the sanitizers it checks the contract: a reply code always
 * comes with its static reply, a success leaves NUL-terminated fields
 * free of control bytes, and the same line always parses the same way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
field_clean(const char *s, size_t room)
{
	size_t i, n = strnlen(s, room);

	if (n == room)
		return 0;	/* not terminated inside its buffer */
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return 0;
	return 1;
}

static void
check_result(int rc, const struct smtp_command *cmd,
    const struct smtp_reply *err)
{
	if (rc != 0) {
		if (err == NULL || err->code != rc || err->text == NULL)
			abort();
		if (rc != 500 && rc != 501 && rc != 552 && rc != 555)
			abort();
		return;
	}
	if (err != NULL || cmd->verb <= CMD_UNKNOWN ||
	    cmd->verb >= CMD_VERB_COUNT)
		abort();
	if (!field_clean(cmd->arg, sizeof(cmd->arg)) ||
	    !field_clean(cmd->path, sizeof(cmd->path)))
		abort();
	if (cmd->null_path && (cmd->verb != CMD_MAIL || cmd->path[0] != '\0'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_parse_limits lim = { 1000000 };
	struct smtp_command a, b;
	const struct smtp_reply *ea, *eb;
	int ra, rb;

	ra = smtp_parse_command((const char *)data, size, &lim, &a, &ea);
	check_result(ra, &a, ea);
	if (smtp_verb_name(a.verb) == NULL)
		abort();
	rb = smtp_parse_command((const char *)data, size, &lim, &b, &eb);
	if (ra != rb || ea != eb || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	/* The size limit is judged where SIZE stands, so lifting it may
	 * turn a 552 into a success or into a later parameter's error;
	 * every other answer must stay the same. */
	rb = smtp_parse_command((const char *)data, size, NULL, &b, &eb);
	check_result(rb, &b, eb);
	if (ra != 552 && (ra != rb || ea != eb))
		abort();
	return 0;
}
