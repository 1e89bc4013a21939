/* libFuzzer harness for PTR-name validation: any bytes as a name, the
 * way a c-ares answer hands bannerd a NUL-terminated string. Beyond the
 * sanitizers it checks both policies against the rules the header
 * states, written here a second time in the plainest form, so that the
 * walker and this oracle must agree on every input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
oracle_char(char c, int underscore)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || (c == '_' && underscore);
}

/* dnsname.h's rules, character by character: no shared code. */
static int
oracle(const char *s, int underscore, int numeric_ok)
{
	size_t n = strlen(s), label = 0;
	int digits_only = 1;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > DNSNAME_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > DNSNAME_LABEL_MAX ||
			    s[i - label] == '-' || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!oracle_char(s[i], underscore))
			return 0;
		if (s[i] < '0' || s[i] > '9')
			digits_only = 0;
		label++;
	}
	return numeric_ok || !digits_only;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1);
	int ptr, host;

	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	ptr = dnsname_valid(name);
	host = dnsname_valid_host(name);
	if ((ptr != 0 && ptr != 1) || (host != 0 && host != 1))
		abort();
	if (ptr != oracle(name, 1, 0) || host != oracle(name, 0, 1))
		abort();
	/* Whatever passes the PTR policy is safe to log as one token. */
	if (ptr && strpbrk(name, " \t\r\n=\"\\") != NULL)
		abort();
	free(name);
	return 0;
}
