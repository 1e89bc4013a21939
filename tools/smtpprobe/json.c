#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const char *p, *end, *start;
	char *err;
	size_t errlen;
	bool failed;
};

static void
fail(struct reader *r, const char *what)
{
	if (r->failed)
		return;
	r->failed = true;
	snprintf(r->err, r->errlen, "%s at byte %zu", what, (size_t)(r->p - r->start));
}

static void
skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
literal(struct reader *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

static int
hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* \uXXXX as UTF-8; surrogate pairs are not needed by anything smtpprobe
 * writes and are refused rather than mangled. */
static size_t
put_utf8(char *o, int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | (cp >> 12));
	o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

static char *
read_string(struct reader *r)
{
	const char *q = ++r->p;		/* after the quote */

	while (q < r->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= r->end) {
		fail(r, "unterminated string");
		return NULL;
	}
	char *s = malloc((size_t)(q - r->p) * 3 + 1), *o = s;
	if (s == NULL) {
		fail(r, "out of memory");
		return NULL;
	}
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	while (r->p < q) {
		unsigned char c = (unsigned char)*r->p++;
		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		const char *e = strchr(esc_in, *r->p);
		if (*r->p != '\0' && e != NULL) {
			*o++ = esc_out[e - esc_in];
			r->p++;
			continue;
		}
		int cp = *r->p == 'u' && q - r->p >= 5 ? hex4(r->p + 1) : -1;
		if (cp <= 0 || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		o += put_utf8(o, cp);
		r->p += 5;
	}
	*o = '\0';
	r->p = q + 1;
	return s;
bad:
	free(s);
	fail(r, "bad string");
	return NULL;
}

static bool
read_number(struct reader *r, struct json_value *v)
{
	const char *s = r->p;
	bool integer = true;

	if (r->p < r->end && *r->p == '-')
		r->p++, integer = false;
	while (r->p < r->end && strchr("0123456789.eE+-", *r->p) != NULL && *r->p != '\0') {
		if (*r->p < '0' || *r->p > '9')
			integer = false;
		r->p++;
	}
	size_t n = (size_t)(r->p - s);
	char buf[64], *end;
	if (n == 0 || n >= sizeof buf || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
		return fail(r, "bad number"), false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	v->type = JSON_NUMBER;
	v->number = strtod(buf, &end);
	if (*end != '\0')
		return fail(r, "bad number"), false;
	if (integer && n <= 20) {
		unsigned long long u = strtoull(buf, &end, 10);
		v->is_uint = *end == '\0' && !(n == 20 && strcmp(buf, "18446744073709551615") > 0);
		v->u = u;
	}
	return true;
}

static struct json_value *read_value(struct reader *r, unsigned depth);

static bool
push(struct json_value *v, struct json_value *item, char *key)
{
	struct json_value **items = realloc(v->items, (v->n + 1) * sizeof *items);
	if (items == NULL)
		return false;
	v->items = items;
	if (v->type == JSON_OBJECT) {
		char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
		if (keys == NULL)
			return false;
		v->keys = keys;
		keys[v->n] = key;
	}
	items[v->n++] = item;
	return true;
}

/* Array or object, after its opening bracket. */
static bool
read_members(struct reader *r, struct json_value *v, unsigned depth)
{
	char close = v->type == JSON_OBJECT ? '}' : ']';

	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(r);
		if (v->type == JSON_OBJECT) {
			if (r->p >= r->end || *r->p != '"' || (key = read_string(r)) == NULL)
				return fail(r, "expected a member name"), false;
			skip_ws(r);
			if (r->p >= r->end || *r->p != ':') {
				free(key);
				return fail(r, "expected ':'"), false;
			}
			r->p++;
		}
		struct json_value *item = read_value(r, depth + 1);
		if (item == NULL || !push(v, item, key)) {
			free(key);
			json_free(item);
			return fail(r, "out of memory"), false;
		}
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			return true;
		}
		return fail(r, v->type == JSON_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'"), false;
	}
}

static struct json_value *
read_value(struct reader *r, unsigned depth)
{
	struct json_value *v;
	bool ok;

	if (depth > JSON_DEPTH_MAX)
		return fail(r, "nested too deep"), NULL;
	skip_ws(r);
	if (r->p >= r->end)
		return fail(r, "unexpected end"), NULL;
	if ((v = calloc(1, sizeof *v)) == NULL)
		return fail(r, "out of memory"), NULL;
	switch (*r->p) {
	case '{':
	case '[':
		v->type = *r->p++ == '{' ? JSON_OBJECT : JSON_ARRAY;
		ok = read_members(r, v, depth);
		break;
	case '"':
		v->type = JSON_STRING;
		ok = (v->string = read_string(r)) != NULL;
		break;
	case 't':
	case 'f':
		v->type = JSON_BOOL;
		v->boolean = *r->p == 't';
		ok = literal(r, v->boolean ? "true" : "false");
		break;
	case 'n':
		ok = literal(r, "null");
		break;
	default:
		ok = read_number(r, v);
	}
	if (!ok) {
		fail(r, "bad value");
		json_free(v);
		return NULL;
	}
	return v;
}

struct json_value *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct reader r = { text, text + len, text, err, errlen, false };

	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "a NUL byte: not JSON text");
		return NULL;
	}
	struct json_value *v = read_value(&r, 0);
	if (v == NULL)
		return NULL;
	skip_ws(&r);
	if (r.p != r.end) {
		fail(&r, "trailing data");
		json_free(v);
		return NULL;
	}
	return v;
}

void
json_free(struct json_value *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++) {
		json_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
	free(v);
}

const struct json_value *
json_get(const struct json_value *v, const char *key)
{
	if (v == NULL || v->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return v->items[i];
	return NULL;
}
