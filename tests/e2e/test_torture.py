"""The durability torture (tests/torture/torture.py) in make check's short
form: 10 SIGKILL cycles under 8 senders with no acknowledged message lost,
and each fault injection (fsync of the file, fsync of new/, rename into
new/ failing with EIO through an LD_PRELOAD shim) answered 451 4.3.0 with
nothing left behind. `make torture` runs the long form (100 cycles). The
last test checks the checker: a lost or a cut message must be seen."""
import os
import re
import subprocess
import sys
import time
import unittest

from harness import ROOT, binary, tmpdir

sys.path.insert(0, os.path.join(ROOT, "tests", "torture"))
import torture  # noqa: E402

DRIVER = os.path.join(ROOT, "tests", "torture", "torture.py")
FIGURES = re.compile(r"(\d+) acknowledged, (\d+) found, (\d+) lost, (\d+) duplicates")


class TortureTest(unittest.TestCase):
    def test_ten_kill_cycles_lose_no_acknowledged_message(self):
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, DRIVER, "--cycles", "10", "--senders", "8",
                            "--no-inject", "--build", os.environ.get("BUILD", "build")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out)
        acked, found, lost, _ = map(int, FIGURES.search(out).groups())
        self.assertGreater(acked, 0, out)
        self.assertEqual((found, lost), (acked, 0), out)
        # the seed and the figures, in the test log: a failure can be replayed
        print("\n" + out.strip() + "\n(%.1f s)" % (time.monotonic() - t0))


class InjectionTest(unittest.TestCase):
    def inject(self, name):
        entry = next(e for e in torture.INJECTIONS if e[0] == name)
        torture.inject(binary("bannerd"), tmpdir(self), *entry, out=lambda line: None)

    def test_failed_fsync_of_the_file_answers_451_and_leaves_nothing(self):
        self.inject("fsync of the file")

    def test_failed_fsync_of_new_answers_451_and_leaves_nothing(self):
        self.inject("fsync of new/")

    def test_failed_rename_into_new_answers_451_and_leaves_nothing(self):
        self.inject("rename into new/")


class CheckerTest(unittest.TestCase):
    """verify() against a Maildir made by hand: it must count a duplicate
    as allowed and a lost, a cut or a foreign file as failures."""

    class Stub:
        def __init__(self, idx, seq, acked, in_doubt):
            self.idx, self.seq, self.acked, self.in_doubt = idx, seq, acked, in_doubt

    def maildir(self):
        md = tmpdir(self)
        for sub in ("tmp", "new", "cur"):
            os.mkdir(os.path.join(md, sub))
        return md

    def put(self, md, name, data):
        with open(os.path.join(md, "new", name), "wb") as f:
            f.write(data)

    def test_lost_cut_and_foreign_files_fail_duplicates_do_not(self):
        md = self.maildir()
        msgs = [torture.message("5", 0, seq) for seq in (1, 2, 3, 4)]
        acked = {mid: (1, 100, "Q%d" % i) for i, (mid, _) in enumerate(msgs)}
        self.put(md, "1.M1P100QQ0.h", msgs[0][1])
        self.put(md, "2.M1P101QQ7.h", msgs[0][1])		# its reply was lost: allowed
        self.put(md, "3.M1P100QQ1.h", msgs[1][1][:-7])		# cut short
        self.put(md, "4.M1P100QQ3.h", msgs[3][1])
        self.put(md, "5.M1P100QQ9.h", b"Subject: not ours\r\n\r\n")
        # msgs[2] is missing: lost
        figures, problems = torture.verify(md, "5", [self.Stub(0, 4, acked, {msgs[0][0]: 1})])
        self.assertEqual((figures["acknowledged"], figures["found"], figures["lost"],
                          figures["duplicates"]), (4, 2, 2, 1))
        text = "\n".join(problems)
        self.assertIn("2 acknowledged message(s) lost", text)
        self.assertIn("a prefix of", text)
        self.assertIn("no id of this run", text)
        self.assertNotIn("more often than sent", text)

    def test_a_copy_no_client_sent_fails(self):
        md = self.maildir()
        mid, msg = torture.message("5", 0, 1)
        self.put(md, "1.M1P100QQ0.h", msg)
        self.put(md, "2.M1P100QQ1.h", msg)	# a second 250? none came, nor a lost reply
        figures, problems = torture.verify(md, "5", [self.Stub(0, 1, {mid: (1, 100, "Q0")}, {})])
        self.assertEqual((figures["lost"], figures["duplicates"]), (0, 1))
        self.assertIn("1 message(s) stored more often than sent", "\n".join(problems))

    def test_wire_form_stuffs_every_leading_dot(self):
        msg = b"A: b\r\n\r\n.\r\n..\r\nx.\r\n.y\r\n"
        self.assertEqual(torture.wire(msg), b"A: b\r\n\r\n..\r\n...\r\nx.\r\n..y\r\n.\r\n")


if __name__ == "__main__":
    unittest.main()
