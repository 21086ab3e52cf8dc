"""Question sets for evaluation: JSONL, CSV or SQuAD-v1.1 JSON files -> ``Question`` records.

One question per JSONL line (or CSV row, with ``answers``, ``evidence`` and ``history`` separated
by ``|``)::

    {"id": "kz-01", "question": "How many policemen were killed?", "answers": ["Twelve"],
     "evidence": ["Twelve policemen have been killed and 353 injured ..."],
     "article": "kazakhstan-unrest", "history": []}

``answers`` empty means the articles cannot answer the question (the assistant should abstain).
Optional fields: ``kind`` (factoid, paraphrase, why, how, followup, list, unanswerable...),
``split`` (``train`` or ``dev``: fit on one, report on the other; see ``QuestionSet.only_split``),
``article_aliases`` (other articles that hold the same evidence, e.g. exact or updated copies of the
story: they count as the gold article too),
and ``why_unanswerable`` (a note for readers, e.g. what was searched; read and ignored).
A malformed file raises ``QuestionSetError`` naming the line and the field; unknown fields are
ignored and reported in ``QuestionSet.warnings``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from index.models import Article
from qa.errors import QAError

FIELDS = ("id", "question", "answers", "evidence", "article", "history", "kind", "split", "article_aliases")
LIST_FIELDS = ("answers", "evidence", "history", "article_aliases")
# Notes for the people who read the file: accepted without a warning, not kept on the Question.
NOTE_FIELDS = ("why_unanswerable",)
CSV_SEPARATOR = "|"


class QuestionSetError(QAError):
    """A question-set file cannot be read; ``where`` is ``path:line`` (or a JSON path)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class Question:
    """One evaluation question with its gold answers and the verbatim evidence that holds them."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    article: str | None = None
    history: tuple[str, ...] = ()
    kind: str | None = None
    split: str | None = None
    article_aliases: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QuestionSet:
    """The questions of one file, in file order, and what was ignored while reading it."""

    source: str
    questions: tuple[Question, ...]
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)

    def subsample(self, n: int, *, seed: int = 0) -> QuestionSet:
        """``n`` questions chosen by a hash of their ids: the same ``n`` always gives the same set."""
        if n >= len(self.questions):
            return self
        chosen = set(sorted(self.questions, key=lambda q: _rank(q.id, seed))[:n])
        kept = tuple(q for q in self.questions if q in chosen)
        return QuestionSet(self.source, kept, self.warnings)

    def only_split(self, split: str) -> QuestionSet:
        """The questions of one ``split`` ("train" or "dev"); a split no question has is an error."""
        kept = tuple(q for q in self.questions if q.split == split)
        if not kept:
            found = sorted({q.split for q in self.questions if q.split})
            raise QuestionSetError(
                self.source,
                f"no question has split {split!r} (splits in the file: {', '.join(found) or 'none'})",
            )
        return QuestionSet(self.source, kept, self.warnings)


def _rank(question_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{question_id}".encode()).hexdigest()


@dataclass
class _Reader:
    """Builds questions from raw records, checking each field and ids across the file."""

    source: str
    questions: list[Question] = field(default_factory=list)
    unknown: dict[str, list[str]] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    def add(self, record: object, where: str) -> None:
        if not isinstance(record, dict):
            raise QuestionSetError(where, f"expected a JSON object with {', '.join(FIELDS[:4])}")
        for key in record:
            if key not in FIELDS and key not in NOTE_FIELDS:
                self.unknown.setdefault(str(key), []).append(where)
        question = _question(record, where)
        if question.id in self.seen:
            raise QuestionSetError(
                where, f"field 'id': {question.id!r} is already used at {self.seen[question.id]}"
            )
        self.seen[question.id] = where
        self.questions.append(question)

    def result(self) -> QuestionSet:
        if not self.questions:
            raise QuestionSetError(self.source, "no questions found")
        warnings = tuple(
            f"unknown field {name!r} ignored ({len(places)} record(s), first at {places[0]})"
            for name, places in self.unknown.items()
        )
        return QuestionSet(self.source, tuple(self.questions), warnings)


def _text(record: dict[str, Any], name: str, where: str, *, required: bool) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise QuestionSetError(where, f"field {name!r} is missing or empty")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise QuestionSetError(where, f"field {name!r}: expected a string, got {type(value).__name__}")
    return str(value).strip()


def _strings(record: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = record.get(name, [])
    if value is None:
        return ()
    if not isinstance(value, list):
        raise QuestionSetError(
            where, f'field {name!r}: expected a list of strings (e.g. ["Twelve"]), got {type(value).__name__}'
        )
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise QuestionSetError(
                where, f"field {name!r}: item {i} must be a non-empty string, got {item!r}"
            )
    return tuple(value)


def _question(record: dict[str, Any], where: str) -> Question:
    if "answers" not in record:
        raise QuestionSetError(
            where, "field 'answers' is missing (use [] for a question the articles cannot answer)"
        )
    question = Question(
        id=_text(record, "id", where, required=True) or "",
        question=_text(record, "question", where, required=True) or "",
        answers=_strings(record, "answers", where),
        evidence=_strings(record, "evidence", where),
        article=_text(record, "article", where, required=False),
        history=_strings(record, "history", where),
        kind=_text(record, "kind", where, required=False),
        split=_text(record, "split", where, required=False),
        article_aliases=_strings(record, "article_aliases", where),
    )
    if question.evidence and not question.answers:
        raise QuestionSetError(
            where,
            "field 'evidence' is given but 'answers' is empty: an unanswerable question has no evidence",
        )
    return question


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionSetError(str(path), "no such file") from None
    except UnicodeDecodeError as exc:
        raise QuestionSetError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise QuestionSetError(str(path), exc.strerror or str(exc)) from None


def _load_jsonl(path: Path, text: str) -> QuestionSet:
    reader = _Reader(str(path))
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(where, f"malformed JSON: {exc.msg} (column {exc.colno})") from None
        reader.add(record, where)
    return reader.result()


def _load_csv(path: Path, text: str) -> QuestionSet:
    rows = csv.DictReader(io.StringIO(text))
    missing = [name for name in ("id", "question", "answers") if name not in (rows.fieldnames or [])]
    if missing:
        raise QuestionSetError(f"{path}:1", f"the header row lacks column(s): {', '.join(missing)}")
    reader = _Reader(str(path))
    for row in rows:
        where = f"{path}:{rows.line_num}"
        if None in row:
            raise QuestionSetError(where, "more cells than header columns (quote cells that contain commas)")
        short = [name for name in ("id", "question", "answers") if row.get(name) is None]
        if short:
            # A row without its answers cell would load as an unanswerable question.
            raise QuestionSetError(where, f"no {', '.join(short)} cell: the row has fewer cells than "
                                          "the header (leave a cell empty, not out)")
        record: dict[str, Any] = {key: value for key, value in row.items() if key}
        for name in LIST_FIELDS:
            if name in record:
                cells = (record[name] or "").split(CSV_SEPARATOR)
                record[name] = [cell.strip() for cell in cells if cell.strip()]
        reader.add(record, where)
    return reader.result()


def _squad_entries(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuestionSetError(
            f"{path}:{exc.lineno}", f"malformed JSON: {exc.msg} (column {exc.colno})"
        ) from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise QuestionSetError(str(path), "expected a SQuAD file: an object with a 'data' list of articles")
    return entries


def _squad_article(entry: object, where: str) -> tuple[Article, list[tuple[int, dict[str, Any]]]]:
    """The article of one SQuAD entry (paragraphs joined by blank lines) and its questions with offsets."""
    from index.loaders import slugify

    if not isinstance(entry, dict) or not isinstance(entry.get("paragraphs"), list):
        raise QuestionSetError(where, "field 'paragraphs': expected a list")
    title = str(entry.get("title") or "").strip()
    if not title:
        raise QuestionSetError(where, "field 'title' is missing or empty")
    contexts: list[str] = []
    qas: list[tuple[int, dict[str, Any]]] = []
    offset = 0
    for j, paragraph in enumerate(entry["paragraphs"]):
        here = f"{where}.paragraphs[{j}]"
        if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
            raise QuestionSetError(here, "field 'context': expected a string")
        if not isinstance(paragraph.get("qas", []), list):
            raise QuestionSetError(here, "field 'qas': expected a list")
        for k, qa in enumerate(paragraph.get("qas", [])):
            if not isinstance(qa, dict):
                raise QuestionSetError(f"{here}.qas[{k}]", f"expected an object, got {type(qa).__name__}")
        contexts.append(paragraph["context"])
        qas.extend(
            (offset, {**qa, "_where": f"{here}.qas[{k}]"}) for k, qa in enumerate(paragraph.get("qas", []))
        )
        offset += len(paragraph["context"]) + 2
    article = Article(id=slugify(title), title=title.replace("_", " "), text="\n\n".join(contexts))
    return article, qas


def _squad_question(
    qa: dict[str, Any], offset: int, article: Article, sentences: list[tuple[int, int]]
) -> dict[str, Any]:
    """A JSONL-shaped record: gold answers deduplicated, evidence = the sentence of the first one."""
    where = qa["_where"]
    raw = [] if qa.get("is_impossible") else qa.get("answers", [])
    if not isinstance(raw, list) or any(
        not isinstance(a, dict) or not isinstance(a.get("text"), str) for a in raw
    ):
        raise QuestionSetError(where, "field 'answers': expected a list of {text, answer_start} objects")
    answers = list(dict.fromkeys(a["text"].strip() for a in raw if a["text"].strip()))
    evidence: list[str] = []
    if raw and isinstance(raw[0].get("answer_start"), int):
        at = offset + raw[0]["answer_start"]
        evidence = [article.text[s:e] for s, e in sentences if s <= at < e][:1]
    return {
        "id": qa.get("id"),
        "question": qa.get("question"),
        "answers": answers,
        "evidence": evidence,
        "article": article.id,
    }


def _load_squad(path: Path, text: str) -> tuple[QuestionSet, list[Article]]:
    from index.sentences import sentence_spans

    reader = _Reader(str(path))
    articles: list[Article] = []
    for i, entry in enumerate(_squad_entries(path, text)):
        article, qas = _squad_article(entry, f"{path}: data[{i}]")
        articles.append(article)
        sentences = [span for paragraph in sentence_spans(article.text) for span in paragraph]
        for offset, qa in qas:
            reader.add(_squad_question(qa, offset, article, sentences), qa["_where"])
    return reader.result(), articles


def is_squad_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".json"


def load_squad_articles(path: str | Path) -> list[Article]:
    """The articles of a SQuAD JSON file, with the ids its questions refer to (for indexing)."""
    path = Path(path)
    return _load_squad(path, _read_text(path))[1]


def load_questions(path: str | Path) -> QuestionSet:
    """Read a question set: ``.jsonl``, ``.csv``, or a SQuAD-v1.1 ``.json`` file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".json"):
        raise QuestionSetError(
            str(path), "unknown question-set format: use .jsonl, .csv or a SQuAD .json file"
        )
    text = _read_text(path)
    if suffix == ".csv":
        return _load_csv(path, text)
    if suffix == ".json":
        return _load_squad(path, text)[0]
    return _load_jsonl(path, text)
