"""The README and the docs link only to files that exist inside the repository.

Every relative Markdown link, ``[text](path)`` or ``![alt](path)``, in README.md,
docs/**/*.md and models/README.md must resolve, from the folder of the page it is in, to an
existing file or folder of this repository: not outside it (no ``../shared/...``), not to a
script that moved. Web links (``http(s)://``, ``mailto:``) and in-page anchors (``#...``) are
not checked; a ``#fragment`` after a path is dropped before the path is checked. Links inside
fenced code blocks are not links and are skipped. Separately, a ``#fragment`` into one of these
pages (or within one) must name one of its headings, as GitHub derives the anchors.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.DOTALL | re.MULTILINE)
# [text](target) or ![alt](target); the text may hold `code` and one level of [brackets];
# the target may be <wrapped> and followed by a "title".
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]+)(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = ("http://", "https://", "mailto:")


def pages() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "models" / "README.md"]
    found += sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in found if p.is_file()]


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link outside fenced code blocks."""
    blanked = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found = []
    for match in LINK.finditer(blanked):
        target = match.group(1).strip("<>")
        found.append((blanked.count("\n", 0, match.start()) + 1, target))
    return found


def broken_links(page: Path) -> list[str]:
    problems = []
    for line, target in links(page.read_text(encoding="utf-8")):
        if target.startswith(EXTERNAL) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not path:
            continue
        resolved = (page.parent / path).resolve()
        where = f"{page.relative_to(ROOT)}:{line}: {target}"
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{where} (outside the repository)")
        elif not resolved.exists():
            problems.append(f"{where} (no such file)")
    return problems


HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to -."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set()
    for match in HEADING.finditer(text):
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:  # repeated headings get -1, -2, ...
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def broken_anchors(page: Path) -> list[str]:
    problems = []
    for line, target in links(page.read_text(encoding="utf-8")):
        if target.startswith(EXTERNAL) or "#" not in target:
            continue
        path, fragment = target.split("#", 1)
        dest = (page.parent / path).resolve() if path else page
        if dest.suffix == ".md" and dest.is_file() and dest.is_relative_to(ROOT):
            if fragment not in anchors(dest):
                problems.append(f"{page.relative_to(ROOT)}:{line}: {target} (no such heading)")
    return problems


def test_the_pages_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in pages()}
    assert {"README.md", "models/README.md", "docs/method.md"} <= names


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve_inside_the_repository(page: Path):
    problems = broken_links(page)
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_anchors_name_headings(page: Path):
    problems = broken_anchors(page)
    assert not problems, "broken anchors:\n" + "\n".join(problems)


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_link_checker_sees_what_it_should(tmp_path: Path):
    text = (
        '[a](docs/x.md) ![b](img.png "title") [`c`](<sp ace.md>) [d](https://e.org) '
        "[e](#top) [f](y.md#part) [[g]](z.md)\n"
        "```bash\n[not](a-link.md)\n```\n"
        "[h](../outside.md)\n"
    )
    assert links(text) == [
        (1, "docs/x.md"),
        (1, "img.png"),
        (1, "sp ace.md"),
        (1, "https://e.org"),
        (1, "#top"),
        (1, "y.md#part"),
        (1, "z.md"),
        (5, "../outside.md"),
    ]


def test_anchors_follow_github(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Results (the authors' splits, full ranking)\n## Classic baselines: iALS and EASE^R\n"
        "## Speed\n## Speed\n```\n# not a heading\n```\n"
    )
    assert anchors(page) == {
        "results-the-authors-splits-full-ranking",
        "classic-baselines-ials-and-easer",
        "speed",
        "speed-1",
    }
