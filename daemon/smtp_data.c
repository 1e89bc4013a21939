#include "smtp_data.h"

void
smtp_data_init(struct smtp_data *d)
{
	d->state = DATA_LINE_START;
	d->bytes_out = 0;
	d->bare_lf = 0;
	d->bare_cr = 0;
}

/* One byte inside a line (state MID or CR). */
static void
feed_mid(struct smtp_data *d, char c, char *out, size_t *n)
{
	if (d->state == DATA_CR) {
		if (c == '\n') {
			out[(*n)++] = '\r';
			out[(*n)++] = '\n';
			d->state = DATA_LINE_START;
			return;
		}
		out[(*n)++] = '\r';	/* the CR before was bare */
		d->bare_cr++;
		d->state = DATA_MID;
	}
	if (c == '\r') {
		d->state = DATA_CR;
		return;
	}
	if (c == '\n')
		d->bare_lf++;	/* kept as data: never a line end */
	out[(*n)++] = c;
	d->state = DATA_MID;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len, char *out,
    size_t *out_len)
{
	size_t i, n = 0;

	for (i = 0; i < len && d->state != DATA_DONE; i++) {
		char c = in[i];

		switch (d->state) {
		case DATA_LINE_START:
			if (c == '.')
				d->state = DATA_DOT;
			else
				feed_mid(d, c, out, &n);
			break;
		case DATA_DOT:
			/* RFC 5321 4.5.2: a leading dot on a longer line is
			 * removed; only ".\r\n" is the end of data. */
			if (c == '\r')
				d->state = DATA_DOT_CR;
			else {
				d->state = DATA_MID;
				feed_mid(d, c, out, &n);
			}
			break;
		case DATA_DOT_CR:
			if (c == '\n') {
				d->state = DATA_DONE;
				break;
			}
			d->state = DATA_CR;	/* ".\r" then not LF: a bare CR */
			feed_mid(d, c, out, &n);
			break;
		case DATA_MID:
		case DATA_CR:
			feed_mid(d, c, out, &n);
			break;
		case DATA_DONE:
			break;
		}
	}
	d->bytes_out += n;
	*out_len = n;
	return i;
}
