/* Unit tests for the live settings of slowdns and slowrelay
 * (common/livecfg.c over tools/slowdns/dnsctl.c and
 * tools/slowrelay/relayctl.c): set is all or nothing, unset brings the
 * command line's value back, the command line and set share a parser. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_main.h"
#include "livecfg.h"
#include "../../tools/slowdns/dnsctl.h"
#include "../../tools/slowrelay/relayctl.h"

struct fixture {
	struct dns_settings cmdline, live;
	struct livecfg lc;
	char err[512];
};

static void
setup_dns(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	faults_config_init(&f->cmdline.faults);
	f->cmdline.listen = "127.0.0.1:5353";
	f->cmdline.seed = 7;
	ck_assert_int_eq(dnsctl_parse(&f->cmdline, "delay", "300ms", f->err, sizeof f->err), 0);
	ck_assert_int_eq(livecfg_init(&f->lc, dnsctl_defs, dnsctl_ndefs, sizeof f->live,
	    &f->cmdline, &f->live), 0);
}

static void
stats_line(void *arg, struct evbuffer *out)
{
	evbuffer_add_printf(out, "counts %s\n", (const char *)arg);
}

/* Runs one request line; returns its rc, the body in out (if given). */
static int
request(struct fixture *f, const char *line, char *out, size_t outlen)
{
	struct evbuffer *b = evbuffer_new();
	int changed, rc;

	f->err[0] = '\0';
	rc = livecfg_request(&f->lc, line, stats_line, "x", b, f->err, sizeof f->err, &changed);
	ck_assert_int_eq(changed, rc == 0 && (strncmp(line, "set ", 4) == 0 ||
	    strncmp(line, "unset ", 6) == 0));
	if (out != NULL) {
		size_t n = evbuffer_get_length(b) < outlen - 1 ? evbuffer_get_length(b) : outlen - 1;

		evbuffer_remove(b, out, n);
		out[n] = '\0';
	}
	evbuffer_free(b);
	return rc;
}

START_TEST(set_and_unset)
{
	struct fixture f;
	char out[2048];

	setup_dns(&f);
	ck_assert_uint_eq(f.live.faults.delay_us, 300000);
	ck_assert_int_eq(request(&f, "set delay=5s servfail=on fault-rate=0.25", NULL, 0), 0);
	ck_assert_uint_eq(f.live.faults.delay_us, 5000000);
	ck_assert_uint_eq(f.live.faults.flags, FAULT_SERVFAIL);
	ck_assert(f.live.faults.rate == 0.25);
	/* the command line's copy is never touched */
	ck_assert_uint_eq(f.cmdline.faults.delay_us, 300000);
	ck_assert_int_eq(request(&f, "show delay servfail jitter", out, sizeof out), 0);
	ck_assert_str_eq(out, "delay=5.000s # from set\njitter=0 # from command line\n"
	    "servfail=on # from set\n");
	ck_assert_int_eq(request(&f, "unset delay", NULL, 0), 0);
	ck_assert_uint_eq(f.live.faults.delay_us, 300000);
	ck_assert_uint_eq(f.live.faults.flags, FAULT_SERVFAIL);	/* still set */
	ck_assert_int_eq(request(&f, "unset servfail fault-rate", NULL, 0), 0);
	ck_assert_uint_eq(f.live.faults.flags, 0);
	ck_assert(f.live.faults.rate == 1.0);
	ck_assert_int_eq(request(&f, "show servfail", out, sizeof out), 0);
	ck_assert_str_eq(out, "servfail=off # from command line\n");
	livecfg_free(&f.lc);
}
END_TEST

/* One bad value: an error naming it, and nothing of the request applied. */
START_TEST(set_is_atomic)
{
	struct fixture f;
	struct dns_settings before;

	setup_dns(&f);
	ck_assert_int_eq(request(&f, "set jitter=1s", NULL, 0), 0);
	before = f.live;
	ck_assert_int_eq(request(&f, "set delay=2s drop=on fault-rate=1.5", NULL, 0), -1);
	ck_assert_str_eq(f.err, "fault-rate: '1.5': expected a number from 0 to 1");
	ck_assert_mem_eq(&f.live, &before, sizeof before);
	ck_assert_int_eq(request(&f, "set delay=5", NULL, 0), -1);
	ck_assert_ptr_nonnull(strstr(f.err, "delay: \"5\" needs a unit"));
	ck_assert_int_eq(request(&f, "set delay=2h", NULL, 0), -1);
	ck_assert_str_eq(f.err, "delay: '2h': at most 1h");
	ck_assert_int_eq(request(&f, "set drop=yes", NULL, 0), -1);
	ck_assert_str_eq(f.err, "drop: 'yes': expected on or off");
	ck_assert_int_eq(request(&f, "set delay=1s bogus=1", NULL, 0), -1);
	ck_assert_ptr_nonnull(strstr(f.err, "unknown setting 'bogus' (delay, jitter,"));
	ck_assert_int_eq(request(&f, "set delay", NULL, 0), -1);
	ck_assert_str_eq(f.err, "'delay': expected NAME=VALUE");
	ck_assert_int_eq(request(&f, "set =1s", NULL, 0), -1);
	ck_assert_int_eq(request(&f, "set delay=1s listen=127.0.0.1:53", NULL, 0), -1);
	ck_assert_str_eq(f.err, "listen: restart needed (it cannot change while running)");
	ck_assert_int_eq(request(&f, "unset seed", NULL, 0), -1);
	ck_assert_int_eq(request(&f, "unset nothing", NULL, 0), -1);
	ck_assert_int_eq(request(&f, "set", NULL, 0), -1);
	ck_assert_int_eq(request(&f, "unset", NULL, 0), -1);
	ck_assert_int_eq(request(&f, "show nothing", NULL, 0), -1);
	ck_assert_mem_eq(&f.live, &before, sizeof before);
	ck_assert_int_eq(request(&f, "stats now", NULL, 0), -1);
	ck_assert_str_eq(f.err, "stats takes no arguments");
	ck_assert_int_eq(request(&f, "reload", NULL, 0), -1);
	ck_assert_str_eq(f.err, "unknown request 'reload' (show, set, unset, stats)");
	ck_assert_int_eq(request(&f, "   ", NULL, 0), -1);
	ck_assert_mem_eq(&f.live, &before, sizeof before);
	{
		char out[64];

		/* stats is the tool's own line */
		ck_assert_int_eq(request(&f, "stats", out, sizeof out), 0);
		ck_assert_str_eq(out, "counts x\n");
	}
	livecfg_free(&f.lc);
}
END_TEST

/* The limits: one hour of delay is the most, a value of 255 bytes the
 * longest, a rate of exactly 0 or 1 fine. */
START_TEST(limits)
{
	struct fixture f;
	char big[400];

	setup_dns(&f);
	ck_assert_int_eq(request(&f, "set delay=1h jitter=3600s fault-rate=0", NULL, 0), 0);
	ck_assert_uint_eq(f.live.faults.delay_us, DNSCTL_DELAY_MAX_US);
	ck_assert_int_eq(request(&f, "set delay=3600000001us", NULL, 0), -1);
	ck_assert_int_eq(request(&f, "set fault-rate=1", NULL, 0), 0);
	/* a table of LIVECFG_MAX settings is the longest */
	{
		static struct livecfg_def defs[LIVECFG_MAX + 1];
		struct livecfg lc;
		char a[1], b[1];

		for (size_t i = 0; i <= LIVECFG_MAX; i++)
			defs[i] = dnsctl_defs[0];
		ck_assert_int_eq(livecfg_init(&lc, defs, LIVECFG_MAX, sizeof a, a, b), 0);
		ck_assert_int_eq(livecfg_init(&lc, defs, LIVECFG_MAX + 1, sizeof a, a, b), -1);
	}
	memset(big, '1', sizeof big);
	memcpy(big, "set delay=", 10);
	big[10 + 255] = '\0';	/* 255 bytes of value: read, and refused by its parser */
	ck_assert_int_eq(request(&f, big, NULL, 0), -1);
	ck_assert_int_eq(strncmp(f.err, "delay: '1111", 11), 0);
	big[10 + 255] = '1';
	big[10 + 256] = '\0';
	ck_assert_int_eq(request(&f, big, NULL, 0), -1);
	ck_assert_str_eq(f.err, "delay: value longer than 255 bytes");
	livecfg_free(&f.lc);
}
END_TEST

START_TEST(show_all)
{
	struct fixture f;
	char out[2048];

	setup_dns(&f);
	ck_assert_int_eq(request(&f, "set quiet=on", NULL, 0), 0);
	ck_assert_int_eq(request(&f, "show", out, sizeof out), 0);
	ck_assert_str_eq(out,
	    "delay=300.0ms # from command line\n"
	    "jitter=0 # from command line\n"
	    "fault-rate=1 # from command line\n"
	    "drop=off # from command line\n"
	    "servfail=off # from command line\n"
	    "nxdomain=off # from command line\n"
	    "refused=off # from command line\n"
	    "truncate=off # from command line\n"
	    "mismatch=off # from command line\n"
	    "quiet=on # from set\n"
	    "listen=127.0.0.1:5353 # from command line, restart needed to change\n"
	    "zone=- # from command line, restart needed to change\n"
	    "seed=7 # from command line, restart needed to change\n");
	livecfg_free(&f.lc);
}
END_TEST

/* The command line goes through the same parsers: the words match. */
START_TEST(command_line_shares_parsers)
{
	struct dns_settings d = { 0 };
	struct relay_settings r = { 0 };
	char err[256];

	ck_assert_int_eq(dnsctl_parse(&d, "servfail", "on", err, sizeof err), 0);
	ck_assert_uint_eq(d.faults.flags, FAULT_SERVFAIL);
	ck_assert_int_eq(dnsctl_parse(&d, "listen", "127.0.0.1:1", err, sizeof err), -1);
	ck_assert_int_eq(relayctl_parse(&r, "banner-delay", "8s", err, sizeof err), 0);
	ck_assert_uint_eq(r.banner_delay_us, 8000000);
	ck_assert_int_eq(relayctl_parse(&r, "inspect", "asa", err, sizeof err), 0);
	ck_assert_int_eq(r.inspect, INSPECT_ASA);
	ck_assert_int_eq(relayctl_parse(&r, "inspect", "cisco", err, sizeof err), -1);
	ck_assert_str_eq(err, "pix, pix44, asa or off, not \"cisco\"");
	ck_assert_int_eq(relayctl_parse(&r, "banner-delay", "8", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "\"8\" needs a unit"));
}
END_TEST

START_TEST(relay_table)
{
	struct relay_settings cmdline = { .banner_delay_us = 500000, .listen = "127.0.0.1:2526",
	    .upstream = "127.0.0.1:25" }, live;
	struct livecfg lc;
	char *argv[3], a0[] = "banner-delay=8s", a1[] = "inspect=pix", a2[] = "upstream=127.0.0.1:1";
	char err[256];
	struct evbuffer *b = evbuffer_new();

	ck_assert_int_eq(livecfg_init(&lc, relayctl_defs, relayctl_ndefs, sizeof live, &cmdline,
	    &live), 0);
	argv[0] = a0;
	argv[1] = a1;
	ck_assert_int_eq(livecfg_set(&lc, 2, argv, err, sizeof err), 0);
	ck_assert_uint_eq(live.banner_delay_us, 8000000);
	ck_assert_int_eq(live.inspect, INSPECT_PIX);
	argv[2] = a2;
	ck_assert_int_eq(livecfg_set(&lc, 3, argv, err, sizeof err), -1);
	ck_assert_str_eq(err, "upstream: restart needed (it cannot change while running)");
	ck_assert_int_eq(livecfg_show(&lc, 0, NULL, b, err, sizeof err), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), strlen(
	    "banner-delay=8.000s # from set\ninspect=pix # from set\nquiet=off # from command line\n"
	    "listen=127.0.0.1:2526 # from command line, restart needed to change\n"
	    "upstream=127.0.0.1:25 # from command line, restart needed to change\n"));
	argv[0] = (char[]){ "banner-delay" };
	ck_assert_int_eq(livecfg_unset(&lc, 1, argv, err, sizeof err), 0);
	ck_assert_uint_eq(live.banner_delay_us, 500000);
	ck_assert_int_eq(live.inspect, INSPECT_PIX);
	evbuffer_free(b);
	livecfg_free(&lc);
}
END_TEST

Suite *
unit_suite(void)
{
	Suite *s = suite_create("livecfg");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, set_and_unset);
	tcase_add_test(tc, set_is_atomic);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, show_all);
	tcase_add_test(tc, command_line_shares_parsers);
	tcase_add_test(tc, relay_table);
	suite_add_tcase(s, tc);
	return s;
}
