/* The SMTP command parser (see smtp_parse.h). Every byte of the line is
 * judged by position and length, never by NUL termination, and every copy
 * into *cmd is preceded by the length check that makes it fit. Case is
 * folded in ASCII only: a locale's tolower() could map an 8-bit byte onto
 * a letter (Turkish dotless i) and let "MAİL" pass as a verb. */
#include <arpa/inet.h>
#include <string.h>

#include "smtp_parse.h"

/* A slice of the command line; never NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

struct parse_ctx;
typedef int parse_fn(struct parse_ctx *c, struct span arg);

struct verb_entry {
	const char *name;
	parse_fn *parse;
	const struct smtp_reply *syntax;	/* this verb's 501 */
};

struct parse_ctx {
	const struct verb_entry *verb;
	const struct smtp_parse_limits *lim;
	struct smtp_command *cmd;
	const struct smtp_reply **err;
};

/* ESMTP parameter handler; val is NULL when the keyword has no '='. */
typedef int param_fn(struct parse_ctx *c, const struct span *val);

struct param_entry {
	const char *name;
	param_fn *parse;
};

static const struct smtp_reply reply_unknown =
    { 500, "5.5.2 Error: command not recognized" };
static const struct smtp_reply reply_bad_syntax =
    { 500, "5.5.2 Error: bad syntax" };
static const struct smtp_reply reply_ehlo =
    { 501, "5.5.4 Syntax: EHLO hostname" };
static const struct smtp_reply reply_helo =
    { 501, "5.5.4 Syntax: HELO hostname" };
static const struct smtp_reply reply_mail =
    { 501, "5.5.4 Syntax: MAIL FROM:<address>" };
static const struct smtp_reply reply_rcpt =
    { 501, "5.5.4 Syntax: RCPT TO:<address>" };
static const struct smtp_reply reply_sender =
    { 501, "5.1.7 Bad sender address syntax" };
static const struct smtp_reply reply_recipient =
    { 501, "5.1.3 Bad recipient address syntax" };
static const struct smtp_reply reply_size_syntax =
    { 501, "5.5.4 Bad message size syntax" };
static const struct smtp_reply reply_size_twice =
    { 501, "5.5.4 Error: duplicate SIZE parameter" };
static const struct smtp_reply reply_body_twice =
    { 501, "5.5.4 Error: duplicate BODY parameter" };
static const struct smtp_reply reply_size_limit =
    { 552, "5.3.4 Message size exceeds fixed maximum message size" };
static const struct smtp_reply reply_body =
    { 501, "5.5.4 Unsupported BODY parameter" };
static const struct smtp_reply reply_option =
    { 555, "5.5.4 Unsupported option" };
static const struct smtp_reply reply_no_args =
    { 501, "5.5.4 Syntax error: no arguments allowed" };
static const struct smtp_reply reply_vrfy =
    { 501, "5.5.4 Syntax: VRFY address" };
static const struct smtp_reply reply_noop =
    { 501, "5.5.4 Syntax: NOOP [string]" };
static const struct smtp_reply reply_help =
    { 501, "5.5.4 Syntax: HELP [keyword]" };

enum path_flags {
	PATH_NULL_OK = 1,	/* MAIL FROM:<> */
	PATH_POSTMASTER = 2,	/* RCPT TO:<postmaster> */
};

static int
fail(struct parse_ctx *c, const struct smtp_reply *r)
{
	*c->err = r;
	return r->code;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 5322 atext; the explicit c != 0 keeps strchr off the terminator. */
static int
is_atext(char c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static struct span
span_at(const char *p, size_t n)
{
	struct span s = { p, n };

	return s;
}

static int
span_has_prefix_ci(struct span s, const char *lit)
{
	size_t i, n = strlen(lit);

	if (s.n < n)
		return 0;
	for (i = 0; i < n; i++)
		if (ascii_lower(s.p[i]) != ascii_lower(lit[i]))
			return 0;
	return 1;
}

static int
span_eq_ci(struct span s, const char *lit)
{
	return s.n == strlen(lit) && span_has_prefix_ci(s, lit);
}

static int
span_skip_prefix_ci(struct span *s, const char *lit)
{
	size_t n = strlen(lit);

	if (!span_has_prefix_ci(*s, lit))
		return 0;
	s->p += n;
	s->n -= n;
	return 1;
}

static struct span
span_trim(struct span s)
{
	while (s.n > 0 && is_blank(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_blank(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* Splits off the leading run of non-blank bytes; *s keeps the rest,
 * starting at the blank (or empty). */
static struct span
span_take_word(struct span *s)
{
	size_t i = 0;
	struct span word;

	while (i < s->n && !is_blank(s->p[i]))
		i++;
	word = span_at(s->p, i);
	s->p += i;
	s->n -= i;
	return word;
}

/* Callers check s.n against dst's size first. */
static void
span_copy(struct span s, char *dst)
{
	memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
}

/* Control bytes, NUL included, would let a C-string consumer downstream
 * (logs, spool headers) see a different line than we judged. TAB is the
 * one control byte RFC 5321 tolerates between tokens. */
static int
line_is_clean(struct span s)
{
	size_t i;

	for (i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
label_valid(struct span s)
{
	size_t i;

	if (s.n == 0 || s.n > 63)	/* RFC 1035 2.3.4 */
		return 0;
	if (!is_alnum(s.p[0]) || !is_alnum(s.p[s.n - 1]))
		return 0;
	for (i = 1; i < s.n; i++)
		if (!is_alnum(s.p[i]) && s.p[i] != '-')
			return 0;
	return 1;
}

/* LDH labels joined by single dots; a trailing dot leaves an empty
 * label and fails, as RFC 5321 domains are never absolute. */
static int
labels_valid(struct span s)
{
	size_t i = 0, start;

	for (;;) {
		start = i;
		while (i < s.n && s.p[i] != '.')
			i++;
		if (!label_valid(span_at(s.p + start, i - start)))
			return 0;
		if (i == s.n)
			return 1;
		i++;
	}
}

/* "[1.2.3.4]" or "[IPv6:...]". General literals ("[tag:...]") have no
 * use in a lab and are refused rather than half-checked. */
static int
literal_valid(struct span s)
{
	struct span in;
	unsigned char addr[16];
	char buf[64];
	int af = AF_INET;

	if (s.n < 3 || s.p[0] != '[' || s.p[s.n - 1] != ']')
		return 0;
	in = span_at(s.p + 1, s.n - 2);
	if (span_skip_prefix_ci(&in, "IPv6:"))
		af = AF_INET6;
	if (in.n == 0 || in.n >= sizeof(buf))
		return 0;
	span_copy(in, buf);
	return inet_pton(af, buf, addr) == 1;
}

static int
domain_valid(struct span s)
{
	if (s.n == 0 || s.n > SMTP_DOMAIN_MAX)
		return 0;
	if (s.p[0] == '[')
		return literal_valid(s);
	return labels_valid(s);
}

/* Length of a dot-atom local part at the start of s, 0 if malformed.
 * Shell metacharacters outside atext (';', ' ', '(', '<') end it, so
 * "<;sleep 66;>" never looks like an address (CVE-2020-7247). */
static size_t
dot_atom_len(struct span s)
{
	size_t i;

	for (i = 0; i < s.n && (is_atext(s.p[i]) || s.p[i] == '.'); i++)
		if (s.p[i] == '.' && (i == 0 || s.p[i - 1] == '.'))
			return 0;
	if (i == 0 || s.p[i - 1] == '.')
		return 0;
	return i;
}

/* Length of a quoted-string local part, quotes included (RFC 5321
 * qtextSMTP / quoted-pairSMTP: printable ASCII only), 0 if malformed. */
static size_t
quoted_len(struct span s)
{
	size_t i;

	for (i = 1; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (++i >= s.n)
				return 0;
			c = (unsigned char)s.p[i];
		}
		if (c < 0x20 || c > 0x7e)
			return 0;
	}
	return 0;
}

static int
mailbox_valid(struct span s)
{
	size_t local;

	if (s.n == 0)
		return 0;
	local = s.p[0] == '"' ? quoted_len(s) : dot_atom_len(s);
	if (local == 0 || local > SMTP_LOCAL_MAX || local >= s.n ||
	    s.p[local] != '@')
		return 0;
	return domain_valid(span_at(s.p + local + 1, s.n - local - 1));
}

/* A source route "@a,@b:" is obsolete but must still be accepted (RFC
 * 5321 4.1.2, appendix C); the domains are checked, then dropped. */
static int
route_skip(struct span *s)
{
	size_t i = 0, start;

	for (;;) {
		if (i >= s->n || s->p[i] != '@')
			return 0;
		start = ++i;
		while (i < s->n && s->p[i] != ',' && s->p[i] != ':')
			i++;
		if (i >= s->n || !domain_valid(span_at(s->p + start,
		    i - start)))
			return 0;
		if (s->p[i++] == ':')
			break;
	}
	s->p += i;
	s->n -= i;
	return 1;
}

/* Splits "<path>rest" at the '>' that closes the path: one inside a
 * quoted local part does not. Bytes glued to the '>' ("<a@b>x") fail. */
static int
path_split(struct span s, struct span *path, struct span *rest)
{
	size_t i;
	int quoted = 0;

	if (s.n == 0 || s.p[0] != '<')
		return 0;
	for (i = 1; i < s.n; i++) {
		if (quoted && s.p[i] == '\\')
			i++;
		else if (s.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && s.p[i] == '>')
			break;
	}
	if (i >= s.n)
		return 0;
	*path = span_at(s.p + 1, i - 1);
	*rest = span_at(s.p + i + 1, s.n - i - 1);
	return rest->n == 0 || is_blank(rest->p[0]);
}

static int
path_parse(struct span path, unsigned flags, struct smtp_command *cmd)
{
	if (path.n > SMTP_PATH_MAX)
		return 0;
	if (path.n == 0) {
		cmd->null_path = (flags & PATH_NULL_OK) != 0;
		return cmd->null_path;
	}
	if (path.p[0] == '@' && !route_skip(&path))
		return 0;
	if (!mailbox_valid(path) &&
	    !((flags & PATH_POSTMASTER) && span_eq_ci(path, "postmaster")))
		return 0;
	span_copy(path, cmd->path);
	return 1;
}

static int
span_to_u64(struct span s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.n == 0)
		return 0;
	for (i = 0; i < s.n; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

/* RFC 1870: SIZE is the client's estimate; refusing it now saves the
 * client sending a message we would refuse after the end of data. A
 * second SIZE= is a syntax error (RFC 5321 4.1.2 gives each keyword
 * once): the last one winning would let "SIZE=1 SIZE=10G" choose which
 * check applies. */
static int
param_size(struct parse_ctx *c, const struct span *val)
{
	uint64_t v;

	if (c->cmd->has_size)
		return fail(c, &reply_size_twice);
	if (val == NULL || !span_to_u64(*val, &v))
		return fail(c, &reply_size_syntax);
	if (c->lim != NULL && c->lim->max_message_size != 0 &&
	    v > c->lim->max_message_size)
		return fail(c, &reply_size_limit);
	c->cmd->has_size = 1;
	c->cmd->size = v;
	return 0;
}

static const struct {
	const char *name;
	enum smtp_body body;
} body_types[] = {
	{ "7BIT", BODY_7BIT },
	{ "8BITMIME", BODY_8BITMIME },
};

static int
param_body(struct parse_ctx *c, const struct span *val)
{
	size_t i;

	if (c->cmd->body != BODY_UNSPECIFIED)
		return fail(c, &reply_body_twice);
	for (i = 0; val != NULL && i < sizeof(body_types) /
	    sizeof(body_types[0]); i++) {
		if (span_eq_ci(*val, body_types[i].name)) {
			c->cmd->body = body_types[i].body;
			return 0;
		}
	}
	return fail(c, &reply_body);
}

static const struct param_entry mail_params[] = {
	{ "SIZE", param_size },
	{ "BODY", param_body },
	{ NULL, NULL },
};

/* We advertise no RCPT extension (DSN's NOTIFY/ORCPT), so all are 555. */
static const struct param_entry rcpt_params[] = {
	{ NULL, NULL },
};

/* RFC 5321 esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"). An
 * empty keyword is how "=", "\"=" and "=\"" shapes arrive here. */
static int
keyword_valid(struct span k)
{
	size_t i;

	if (k.n == 0 || !is_alnum(k.p[0]))
		return 0;
	for (i = 1; i < k.n; i++)
		if (!is_alnum(k.p[i]) && k.p[i] != '-')
			return 0;
	return 1;
}

static int
param_parse(struct parse_ctx *c, struct span word,
    const struct param_entry *table)
{
	const char *eq = memchr(word.p, '=', word.n);
	struct span key = word, val;
	const struct param_entry *pe;

	if (eq != NULL) {
		key.n = (size_t)(eq - word.p);
		val = span_at(eq + 1, word.n - key.n - 1);
	}
	if (!keyword_valid(key))
		return fail(c, &reply_option);
	for (pe = table; pe->name != NULL; pe++)
		if (span_eq_ci(key, pe->name))
			return pe->parse(c, eq != NULL ? &val : NULL);
	return fail(c, &reply_option);
}

/* Parameters are judged left to right; the first bad one answers. */
static int
params_parse(struct parse_ctx *c, struct span rest,
    const struct param_entry *table)
{
	int rc;

	for (;;) {
		rest = span_trim(rest);
		if (rest.n == 0)
			return 0;
		rc = param_parse(c, span_take_word(&rest), table);
		if (rc != 0)
			return rc;
	}
}

/* EHLO/HELO: RFC 5321 4.1.4 forbids refusing a client only because its
 * name does not verify, and real clients send '_' and worse, so any
 * printable ASCII word passes; only an address literal is checked,
 * because its brackets promise an address. */
static int
parse_hello(struct parse_ctx *c, struct span arg)
{
	size_t i;

	if (arg.n == 0 || arg.n > SMTP_DOMAIN_MAX)
		return fail(c, c->verb->syntax);
	for (i = 0; i < arg.n; i++)
		if (arg.p[i] <= ' ' || arg.p[i] > '~')
			return fail(c, c->verb->syntax);
	if (arg.p[0] == '[' && !literal_valid(arg))
		return fail(c, c->verb->syntax);
	span_copy(arg, c->cmd->arg);
	return 0;
}

static int
parse_mail(struct parse_ctx *c, struct span arg)
{
	struct span path, rest;

	if (!span_skip_prefix_ci(&arg, "FROM:"))
		return fail(c, &reply_mail);
	if (!path_split(span_trim(arg), &path, &rest) ||
	    !path_parse(path, PATH_NULL_OK, c->cmd))
		return fail(c, &reply_sender);
	return params_parse(c, rest, mail_params);
}

static int
parse_rcpt(struct parse_ctx *c, struct span arg)
{
	struct span path, rest;

	if (!span_skip_prefix_ci(&arg, "TO:"))
		return fail(c, &reply_rcpt);
	if (!path_split(span_trim(arg), &path, &rest) ||
	    !path_parse(path, PATH_POSTMASTER, c->cmd))
		return fail(c, &reply_recipient);
	return params_parse(c, rest, rcpt_params);
}

static int
parse_no_arg(struct parse_ctx *c, struct span arg)
{
	return arg.n == 0 ? 0 : fail(c, c->verb->syntax);
}

/* NOOP and HELP arguments are free text: 8-bit bytes pass, because
 * nothing acts on them and rejecting a NOOP helps no one. */
static int
parse_opt_arg(struct parse_ctx *c, struct span arg)
{
	if (arg.n >= sizeof(c->cmd->arg))
		return fail(c, c->verb->syntax);
	span_copy(arg, c->cmd->arg);
	return 0;
}

static int
parse_vrfy(struct parse_ctx *c, struct span arg)
{
	if (arg.n == 0)
		return fail(c, c->verb->syntax);
	return parse_opt_arg(c, arg);
}

static const struct verb_entry verbs[CMD_VERB_COUNT] = {
	[CMD_UNKNOWN] = { "UNKNOWN", NULL, &reply_unknown },
	[CMD_EHLO] = { "EHLO", parse_hello, &reply_ehlo },
	[CMD_HELO] = { "HELO", parse_hello, &reply_helo },
	[CMD_MAIL] = { "MAIL", parse_mail, &reply_sender },
	[CMD_RCPT] = { "RCPT", parse_rcpt, &reply_recipient },
	[CMD_DATA] = { "DATA", parse_no_arg, &reply_no_args },
	[CMD_RSET] = { "RSET", parse_no_arg, &reply_no_args },
	[CMD_NOOP] = { "NOOP", parse_opt_arg, &reply_noop },
	[CMD_QUIT] = { "QUIT", parse_no_arg, &reply_no_args },
	[CMD_VRFY] = { "VRFY", parse_vrfy, &reply_vrfy },
	[CMD_HELP] = { "HELP", parse_opt_arg, &reply_help },
};

static const struct verb_entry *
verb_lookup(struct span word)
{
	size_t i;

	for (i = CMD_UNKNOWN + 1; i < CMD_VERB_COUNT; i++)
		if (span_eq_ci(word, verbs[i].name))
			return &verbs[i];
	return NULL;
}

int
smtp_parse_command(const char *line, size_t len,
    const struct smtp_parse_limits *lim, struct smtp_command *cmd,
    const struct smtp_reply **err)
{
	struct parse_ctx c = { NULL, lim, cmd, err };
	struct span s = span_at(line, len);

	memset(cmd, 0, sizeof(*cmd));
	*err = NULL;
	if (len == 0 || !line_is_clean(s))
		return fail(&c, &reply_bad_syntax);
	/* The verb must open the line: a leading blank leaves it empty. */
	c.verb = verb_lookup(span_take_word(&s));
	if (c.verb == NULL)
		return fail(&c, &reply_unknown);
	cmd->verb = (enum smtp_verb)(c.verb - verbs);
	return c.verb->parse(&c, span_trim(s));
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= CMD_VERB_COUNT)
		return "UNKNOWN";
	return verbs[verb].name;
}
