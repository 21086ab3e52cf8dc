"""Files -> ``Article`` records: .txt, .md, .html, .jsonl, and folders of them.

Decoding falls back from UTF-8 to a detected encoding (charset-normalizer) and says so; HTML goes
through trafilatura (main text, title, date, author; scripts and boilerplate dropped). Every
problem is a ``LoadError`` naming the file (and line), never a crash of the whole batch; so is
any unexpected exception while loading one file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.dates import normalize_date
from index.decoding import decode
from index.errors import LoadError, QAError
from index.markdown import field_text, front_matter, plain_title
from index.models import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
# Fewer characters (blank space aside) extracted from a web page: its navigation ("Home"), not
# an article. Characters, not words: Chinese, Japanese or Thai text has no spaces between words.
MIN_HTML_CHARS = 20

log = logging.getLogger(__name__)


def is_jsonl(path: str | Path) -> bool:
    """Whether ``path`` is read as JSON Lines (one article per line, ids the user's own)."""
    return Path(path).suffix.lower() in JSONL_SUFFIXES


@dataclass
class Loaded:
    """What one file yielded: its articles, the lines that failed, and warnings to show."""

    path: str
    articles: list[Article] = field(default_factory=list)
    failures: list[LoadError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def slugify(value: str) -> str:
    """A stable, readable article id from a file name or title."""
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-._")
    return value or "article"


def expand_paths(paths: list[str | Path]) -> tuple[list[Path], list[LoadError]]:
    """Files named directly, and the supported files inside folders (recursively, sorted)."""
    files: list[Path] = []
    errors: list[LoadError] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            errors.append(LoadError(str(path), "no such file or folder"))
        elif path.is_dir():
            try:
                found = sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            except PermissionError as exc:
                errors.append(LoadError(str(path), f"cannot list folder: {exc.strerror}"))
                continue
            files.extend(p for p in found if p.is_file())
        elif path.suffix.lower() not in SUFFIXES:
            errors.append(
                LoadError(str(path), f"unsupported file type {path.suffix or '(none)'!r}; "
                          f"use one of {', '.join(sorted(SUFFIXES))}")
            )
        else:
            files.append(path)
    return list(dict.fromkeys(files)), errors


def describe_size(size: float) -> str:
    """``1.5 MB``, ``12 kB``, ``900 bytes``: a size a reader can compare with its limit (a
    limit under 0.1 MB read "0.0 MB, over the 0.005 MB limit")."""
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if round(size / scale, 1) >= 1:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{int(size)} bytes"


def over_limit(size: float, limit: float) -> str:
    """``"2 kB, over the 1 kB limit"``; in bytes when the two would read the same."""
    said, most = describe_size(size), describe_size(limit)
    if said == most:  # 10.04 MB against 10 MB
        said, most = f"{int(size):,} bytes", f"{int(limit):,}-byte"
    return f"{said}, over the {most} limit"


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                str(path),
                f"file is {over_limit(size, max_bytes)} "
                "(raise it with QA_MAX_FILE_MB or --max-file-mb)",
            )
        return path.read_bytes()
    except PermissionError as exc:
        raise LoadError(str(path), "permission denied: the file cannot be read") from exc
    except OSError as exc:
        raise LoadError(str(path), f"cannot read file: {exc.strerror or exc}") from exc


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Control characters other than newlines and tabs only confuse splitters and the UI. Those
    # that separate (vertical tab, form feed, the file/group/record/unit separators) become a
    # space, so the words either side do not run together ("approved\fa park"); the rest go.
    text = re.sub(r"[\x0b\x0c\x1c-\x1f]", " ", text)
    return re.sub(r"[\x00-\x08\x0e-\x1b\x7f]", "", text)


_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


def _title_of(text: str, fallback: str, *, markdown: bool = False) -> str:
    """The first Markdown heading (for .md files), else the first line; a first line that is a
    whole paragraph is no title, so the file name stands in for it."""
    heading = _MD_HEADING.search(text) if markdown else None
    if heading:
        return heading.group(1).strip()[:300]
    for line in text.splitlines():
        line = line.strip()
        if line:
            title = re.sub(r"^#+\s*", "", line).strip()
            if title and len(title) <= 120:
                return title
            break
    return re.sub(r"[-_]+", " ", fallback).strip().capitalize() or fallback


_LINE_BREAKS = str.maketrans("", "", "\n\t")


def _check_text(text: str, where: str) -> None:
    if not text.strip():
        raise LoadError(where, "no text found in the file")
    head = text[:10_000]
    if head.translate(_LINE_BREAKS).isprintable():
        return  # the usual case, checked in C rather than a character at a time
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in head)
    if printable < 0.9 * len(head):
        raise LoadError(where, "looks like a binary file (mostly unprintable characters)")


def _front_date(fields: dict[str, Any], where: str, warnings: list[str]) -> str | None:
    raw = field_text(fields.get("date") or fields.get("published"))
    published = normalize_date(raw)
    if raw and published is None:  # said, as for a JSONL line: not dropped without a word
        warnings.append(f"{where}: front matter date {raw!r} is not a date; left out")
    return published


def _load_text(path: Path, data: bytes) -> Loaded:
    text, warnings = decode(data, str(path))
    text = _clean(text)
    markdown = path.suffix.lower() in {".md", ".markdown"}
    fields: dict[str, Any] = {}
    if markdown:
        fields, text, problems = front_matter(text, str(path))
        warnings = [*warnings, *problems]
    _check_text(text, str(path))
    # The resolved path, so naming the file another way does not count as a change.
    where = str(path.resolve())
    title = field_text(fields.get("title")) or _title_of(text, path.stem, markdown=markdown)
    article = Article(
        id=slugify(path.stem), text=text, path=where,
        source=field_text(fields.get("url") or fields.get("link") or fields.get("source")) or where,
        title=plain_title(title) if markdown else title,
        published=_front_date(fields, str(path), warnings),
        author=field_text(fields.get("author") or fields.get("authors")),
    )
    return Loaded(str(path), [article], warnings=warnings)


def _load_html(path: Path, data: bytes) -> Loaded:
    html, warnings = decode(data, str(path))
    where = str(path.resolve())
    article = article_from_html(html, article_id=slugify(path.stem), where=str(path), path=where)
    if not article.source:
        article = Article(**{**article.to_dict(), "source": where})
    return Loaded(str(path), [article], warnings=warnings)


def article_from_html(
    html: str, *, article_id: str, where: str, path: str = "", source: str = "",
    fallback_title: str | None = None,
) -> Article:
    """One HTML page -> an ``Article`` through trafilatura (main text, title, date, author).

    ``source`` wins over the page's own canonical URL (a fetched page is cited by the URL the
    user gave); ``where`` names the page in a ``LoadError`` when it holds no article text.
    """
    import trafilatura

    # Scripts and styles are dropped by trafilatura; <noscript> fallbacks are not.
    doc = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True,
        prune_xpath=["//noscript"],
    )
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise LoadError(where, "no article text found in the HTML")
    if len("".join(text.split())) < MIN_HTML_CHARS:
        raise LoadError(where, f"no article text found in the HTML (only {' '.join(text.split())[:60]!r})")
    # trafilatura separates blocks with one newline; a blank line keeps paragraphs visible.
    text = _clean(re.sub(r"\n+", "\n\n", text.strip()))
    _check_text(text, where)
    title = getattr(doc, "title", None) or fallback_title or _title_of(text, article_id)
    return Article(
        id=article_id,
        title=title.strip(),
        text=text,
        source=source or getattr(doc, "url", None) or "",
        published=normalize_date(getattr(doc, "date", None)),
        author=getattr(doc, "author", None),
        path=path,
    )


def _jsonl_id(raw: str) -> str:
    """The user's id as a slug; when the slug drops letters or digits that have no ASCII form
    ("北京-1" -> "1"), a short hash of the id is added, so that such ids do not collapse into one."""
    slug = slugify(raw)
    lost = any(unicodedata.category(ch)[0] in "LN"
               and not unicodedata.normalize("NFKD", ch).encode("ascii", "ignore") for ch in raw)
    return f"{slug}-{hashlib.sha1(raw.encode()).hexdigest()[:6]}" if lost else slug


def _jsonl_article(record: object, where: str, path: Path) -> Article:
    if not isinstance(record, dict):
        raise LoadError(where, "expected a JSON object with id and text (title optional)")
    for key, value in record.items():
        try:
            if isinstance(value, str):
                value.encode("utf-8")
        except UnicodeEncodeError as exc:
            # JSON's "\ud800" escape decodes to half a surrogate pair, which no store can write.
            raise LoadError(where, f"field {key!r} is not valid Unicode (a lone surrogate at character "
                                   f"{exc.start})") from None
    missing = [key for key in ("id", "text") if key not in record or record[key] is None]
    if missing:
        raise LoadError(where, f"missing field(s): {', '.join(missing)}")
    if empty := [key for key in ("id", "text") if not str(record[key]).strip()]:
        raise LoadError(where, f"empty field(s): {', '.join(empty)}")
    # An id may be a number (a database key); a text or title that is not a string is a mistake
    # in the file ("text": 12345 was indexed as the article "12345").
    wrong = [key for key in ("text", "title")
             if record.get(key) is not None and not isinstance(record[key], str)]
    if wrong:
        raise LoadError(where, f"field(s) {', '.join(repr(k) for k in wrong)} must be text, "
                               f"got {', '.join(type(record[k]).__name__ for k in wrong)}")
    text = _clean(str(record["text"]))
    _check_text(text, where)
    published = normalize_date(record.get("published"))
    if record.get("published") and published is None:
        raise LoadError(where, f"published {record['published']!r} is not a date")
    return Article(
        id=_jsonl_id(str(record["id"])),
        title=str(record.get("title") or _title_of(text, str(record["id"]))).strip(),
        text=text,
        source=str(record.get("url") or record.get("source") or path.resolve()),
        published=published,
        author=str(record["author"]) if record.get("author") else None,
        path=str(path.resolve()),
    )


def _load_jsonl(path: Path, data: bytes) -> Loaded:
    content, warnings = decode(data, str(path))
    loaded = Loaded(str(path), warnings=warnings)
    lines: dict[str, int] = {}
    changed: list[str] = []  # ids stored other than given ("a/b" as "a-b"), said once per file
    # Line ends only: str.splitlines also breaks at U+2028, U+0085 and the like, which JSON
    # writers leave raw inside strings (json.dumps(..., ensure_ascii=False)); a raw CR cannot be.
    for number, line in enumerate(re.split(r"\r\n|\r|\n", content), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
            article = _jsonl_article(record, where, path)
            if str(record["id"]) != article.id:
                changed.append(f"{str(record['id'])!r} as {article.id!r} (line {number})")
            if article.id in lines:
                raise LoadError(where, f"id {article.id!r} is already used on line {lines[article.id]}")
            lines[article.id] = number
            loaded.articles.append(article)
        except json.JSONDecodeError as exc:
            loaded.failures.append(LoadError(where, f"malformed JSON: {exc.msg} (column {exc.colno})"))
        except LoadError as exc:
            loaded.failures.append(exc)
    if not loaded.articles and not loaded.failures:
        raise LoadError(str(path), "file is empty")
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        loaded.warnings.append(
            f"{path}: {len(changed)} article id(s) hold characters an id keeps out (ids are ASCII letters, "
            f"digits, '.', '_' and '-', not at either end), stored as: {', '.join(changed[:3])}{more}")
    return loaded


def load_file(path: Path, *, max_bytes: int) -> Loaded:
    """Read one file into articles; raises ``LoadError`` when nothing can be read from it."""
    data = _read_bytes(path, max_bytes)
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return _load_html(path, data)
    if suffix in JSONL_SUFFIXES:
        return _load_jsonl(path, data)
    return _load_text(path, data)


def unexpected(where: str, exc: Exception) -> LoadError:
    """Any other exception while reading or chunking one file, as that file's failure.

    A library missing a part (lxml without lxml_html_clean), a decoder or a recursion limit
    should cost one file, not the batch: the reason fits one line, the traceback goes to the
    debug log.
    """
    log.debug("%s failed", where, exc_info=exc)
    detail = (str(exc).strip().splitlines() or [""])[0]
    return LoadError(where, f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


def iter_loaded(files: list[Path], *, max_bytes: int) -> Iterator[Loaded]:
    """Load files one by one; a file that fails yields a ``Loaded`` holding its error."""
    for path in files:
        try:
            loaded = load_file(path, max_bytes=max_bytes)
        except LoadError as exc:
            loaded = Loaded(str(path), failures=[exc])
        except QAError:
            raise
        except Exception as exc:
            loaded = Loaded(str(path), failures=[unexpected(str(path), exc)])
        yield loaded
