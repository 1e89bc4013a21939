"""The README's layout map names every file in the tree, and HACKING.md
every directory: a file added without a word in the map fails here."""
import os
import re
import subprocess
import unittest

from harness import ROOT


def tracked():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        return None
    # the new files of a working tree count too
    extra = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True).stdout
    return [f for f in (out.stdout + extra).splitlines() if f and os.path.exists(os.path.join(ROOT, f))]


def layout_block(path, heading):
    text = open(os.path.join(ROOT, path)).read()
    start = text.index(heading)
    block = text.index("```\n", start)
    return text[block:text.index("```\n", block + 4)]


class LayoutTest(unittest.TestCase):
    def setUp(self):
        self.files = tracked()
        if self.files is None:
            self.skipTest("not a git checkout")

    def test_readme_names_every_file(self):
        words = set(re.findall(r"[A-Za-z0-9_.\-]+", layout_block("README.md", "## Layout\n")))
        missing = []
        for f in self.files:
            if f.startswith("tests/fuzz/seeds/"):
                continue
            name = os.path.basename(f)
            stem = re.sub(r"\.(c|h|py|md|sh|conf|dict)$", "", name)
            if name not in words and stem not in words and not (name.endswith(".dict") and ".dict" in words):
                missing.append(f)
        self.assertEqual(missing, [], "README.md's Layout does not name these files")

    def test_hacking_names_every_directory(self):
        text = open(os.path.join(ROOT, "HACKING.md")).read()
        dirs = {os.path.dirname(f) for f in self.files if "/" in f}
        top = {d for d in dirs if not d.startswith("tests/fuzz/seeds") and d.count("/") <= 1}
        missing = [d for d in sorted(top) if d + "/" not in text and d not in text]
        self.assertEqual(missing, [], "HACKING.md's Layout does not name these directories")


if __name__ == "__main__":
    unittest.main()
