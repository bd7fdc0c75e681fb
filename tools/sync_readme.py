"""Copy the front of the generated findings (reports/findings.md, written by `summarize`: the headline,
the setup and the family of tests, the verdicts, everything above its first `## ` heading) into
README.md's results section, between its two markers, so that the README shows exactly what the
committed results say.

    python tools/sync_readme.py           # rewrite the section (make repro runs this after dvc repro)
    python tools/sync_readme.py --check   # exit 1 if the README's section differs from reports/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- results:begin (generated from reports/findings.md by tools/sync_readme.py; do not edit) -->"
END = "<!-- results:end -->"


def findings_body(findings: str) -> str:
    """reports/findings.md without its title line, up to its first '## ' heading."""
    lines = findings.splitlines(keepends=True)
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    front = next((i for i, line in enumerate(body) if line.startswith("## ")), len(body))
    return "".join(body[:front]).strip("\n") + "\n"


def section(readme: str) -> tuple[int, int]:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        sys.exit(f"README.md has no results section between {BEGIN!r} and {END!r}")
    return start + len(BEGIN), end


def synced(readme: str, findings: str) -> str:
    start, end = section(readme)
    return readme[:start] + "\n" + findings_body(findings) + readme[end:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args()
    readme_path, findings_path = ROOT / "README.md", ROOT / "reports" / "findings.md"
    readme, findings = readme_path.read_text(), findings_path.read_text()
    want = synced(readme, findings)
    if args.check:
        if want != readme:
            print("README.md's results differ from reports/findings.md: run `python tools/sync_readme.py`")
            return 1
        return 0
    if want != readme:
        readme_path.write_text(want)
        print("README.md: results section updated from reports/findings.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
