/* libFuzzer harness for the PROXY protocol parser: any bytes as the start
 * of a connection. Beyond the sanitizers it checks what proxy_parse.h
 * promises: an accepted header lies within the bytes given (v1 within
 * 107, v2 within the bound), ends in CRLF for v1, carries addresses unless
 * it says to keep the real endpoints, and a verdict does not change when
 * more bytes follow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header h, h2;
	enum proxy_result r = proxy_parse(data, size, PROXY_ACCEPT_ANY, 536, &h);

	switch (r) {
	case PROXY_OK:
		if (h.len == 0 || h.len > size || (h.version != 1 && h.version != 2))
			abort();
		if (h.version == 1 && (h.len > PROXY_V1_MAX || data[h.len - 2] != '\r' || data[h.len - 1] != '\n'))
			abort();
		if (h.version == 2 && h.len > 536)
			abort();
		if (!h.local && h.src.ss_family != h.dst.ss_family)
			abort();
		/* the header alone gives the same answer */
		if (proxy_parse(data, h.len, PROXY_ACCEPT_ANY, 536, &h2) != PROXY_OK || h2.len != h.len)
			abort();
		break;
	case PROXY_BAD:
		if (h.why == NULL)
			abort();
		break;
	case PROXY_MORE:
		if (size >= 536)
			abort();
		break;
	default:
		abort();
	}
	return 0;
}
