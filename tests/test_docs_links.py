"""The README and docs/ hold together: every relative link points at a file that exists (and, with
a #fragment, at a heading of that file), the README stays short, keeps the one test command CI
runs, and never sends users to the developers' data folder. Reads files only."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 250
DEVELOPER_PAGES = {"layout.md"}  # may name where the tests look for the reference data slices

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def _pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks and HTML comments, with inline
    code spans removed: links and headings live only there."""
    lines, in_fence, in_comment = [], False, False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = line
        if in_comment:
            if "-->" not in text:
                continue
            text, in_comment = text.split("-->", 1)[1], False
        text = re.sub(r"<!--.*?-->", "", text)
        if "<!--" in text:
            text, in_comment = text.split("<!--", 1)[0], True
        lines.append((number, re.sub(r"`[^`]*`", "", text)))
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: link markup reduced to its text, lower case, punctuation
    dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    # headings are read with inline code kept, since `average` and `merge` names a heading
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def _broken_links(path: Path) -> list[str]:
    broken = []
    for number, text in _prose_lines(path):
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, fragment = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)}:{number}: ({target})"
            if not linked.exists():
                broken.append(f"{where} -> {linked.relative_to(ROOT) if linked.is_relative_to(ROOT) else linked} "
                              "does not exist")
            elif fragment and linked.suffix == ".md" and fragment not in _anchors(linked):
                broken.append(f"{where} -> no heading with anchor #{fragment} in {linked.relative_to(ROOT)}")
    return broken


def test_every_relative_link_resolves():
    broken = [problem for page in _pages() for problem in _broken_links(page)]
    assert broken == [], "broken links:\n" + "\n".join(broken)


def test_the_docs_index_links_every_docs_page():
    index = ROOT / "docs" / "README.md"
    linked = {target.partition("#")[0] for _, text in _prose_lines(index) for target in LINK.findall(text)}
    missing = [page.name for page in sorted((ROOT / "docs").glob("*.md")) if page != index and page.name not in linked]
    assert missing == [], f"docs/README.md (the index) does not link: {', '.join(missing)}"


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; keep it <= {MAX_README_LINES} and move detail to docs/"


def test_readme_holds_the_one_test_command_ci_runs():
    # .ci/run: grep -o 'python -m pytest[^`]*' README.md | head -n 1
    commands = [found for line in README.read_text(encoding="utf-8").splitlines()
                for found in re.findall(r"python -m pytest[^`]*", line)]
    assert commands == ["python -m pytest -q"], commands


def test_users_are_not_sent_to_the_developers_data_folder():
    pages = [p for p in _pages() if p.name not in DEVELOPER_PAGES or p.parent != ROOT / "docs"]
    mentions = [f"{p.relative_to(ROOT)}:{n}" for p in pages
                for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if "shared/data" in line]
    assert mentions == [], ("say 'a data folder (adaptx data pull ...)' instead of shared/data: " + ", ".join(mentions))
