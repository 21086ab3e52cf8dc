"""Markdown files: their front matter (the one module importing PyYAML) and plain titles."""

from __future__ import annotations

import re
from typing import Any

# A Markdown file's front matter: a YAML block between "---" lines at its very start, whose first
# line is a field (as Pandoc: a blank line after the opening "---" makes it a horizontal rule).
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n([A-Za-z_][\w-]*[ \t]*:.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)",
                           re.DOTALL)
# A block is front matter only when it names one of these: "---\nNote: the riots...\n---" at the
# top of a story is a rule, a paragraph and a rule, and its text must stay.
FIELDS = frozenset({"title", "date", "published", "author", "authors", "url", "link", "source",
                    "tags", "categories", "description", "summary", "slug", "layout", "draft", "lang"})
# Inline Markdown in a heading used as the title: links and images (their text kept), then
# emphasis and code; "_" only outside words, as in CommonMark ("snake_case_name" stays).
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"(\*\*|\*|`)(?=\S)(.+?)(?<=\S)\1|(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\3(?!\w)")


def front_matter(text: str, where: str) -> tuple[dict[str, Any], str, list[str]]:
    """The front matter's fields and the text after it; no fields and the text as written when the
    file has none (a rule, a paragraph, no known field), with a warning when it is broken YAML."""
    import yaml

    found = _FRONT_MATTER.match(text)
    if not found:
        return {}, text, []
    try:
        fields = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" (line {line + 2})" if line is not None else ""
        return {}, text, [f"{where}: front matter is not valid YAML{at}; read as text"]
    fields = {str(k).lower(): v for k, v in fields.items()} if isinstance(fields, dict) else {}
    if not FIELDS & fields.keys():
        return {}, text, []  # no front matter: text as written
    return fields, text[found.end():].lstrip("\n"), []


def field_text(value: object) -> str | None:
    """A front-matter field as one line of text (a list of authors joined), or None."""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value if v not in (None, ""))
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    return text or None


def plain_title(title: str) -> str:
    """A Markdown heading as plain text: "**Holt mine** reopens after _two_ years" reads
    "Holt mine reopens after two years"; a link or image keeps its text."""
    title = _MD_LINK.sub(lambda m: m.group(1), title)
    return _MD_MARKS.sub(lambda m: m.group(2) if m.group(1) else m.group(4), title)
