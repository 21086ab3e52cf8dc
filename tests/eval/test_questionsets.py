"""The bundled sample question set is sound, and question-set files are read or refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.eval.questionsets import QuestionSetError, load_questions, load_squad_articles
from tests.conftest import SAMPLE_ARTICLE, SAMPLE_QUESTIONS

# -- the sample set ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_set():  # type: ignore[no-untyped-def]
    return load_questions(SAMPLE_QUESTIONS)


def test_sample_set_reads_without_warnings_and_has_the_promised_mix(sample_set) -> None:  # type: ignore[no-untyped-def]
    questions = list(sample_set)
    assert sample_set.warnings == ()
    assert len(questions) >= 40
    assert sum(1 for q in questions if q.history) >= 6
    assert sum(1 for q in questions if not q.answerable) >= 8
    assert {q.article for q in questions} == {SAMPLE_ARTICLE.stem}


def test_sample_evidence_and_answers_are_verbatim_in_the_article(sample_set) -> None:  # type: ignore[no-untyped-def]
    article = SAMPLE_ARTICLE.read_text(encoding="utf-8")
    for q in sample_set:
        for quote in q.evidence:
            assert quote in article, f"{q.id}: evidence not verbatim: {quote!r}"
        for answer in q.answers:
            assert answer in article, f"{q.id}: answer not in the article: {answer!r}"
        if q.answerable:
            assert q.evidence, f"{q.id}: an answerable question needs evidence"
            assert any(a in e for a in q.answers for e in q.evidence), (
                f"{q.id}: no answer inside its evidence"
            )
        else:
            assert q.evidence == (), f"{q.id}: unanswerable but has evidence"


def test_sample_ids_are_unique() -> None:
    ids = [json.loads(line)["id"] for line in SAMPLE_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == len(set(ids))


# -- formats -------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_splits_lists_on_pipes_and_empty_answers_mean_unanswerable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "q.csv",
        (
            "id,question,answers,evidence,article,history\n"
            'a,How many?,Twelve|12,"Twelve died, it said.",kz,\n'
            "b,And injured?,353,,kz,How many? | Where?\n"
            "c,Who won the cup?,,,,\n"
        ),
    )
    a, b, c = load_questions(path)
    assert a.answers == ("Twelve", "12") and a.evidence == ("Twelve died, it said.",)
    assert b.history == ("How many?", "Where?") and b.evidence == ()
    assert not c.answerable and c.article is None


def test_unknown_fields_are_ignored_with_one_warning_naming_the_first_line(tmp_path: Path) -> None:
    lines = [{"id": str(i), "question": "Q?", "answers": ["x"], "answer": "typo"} for i in range(3)]
    path = _write(tmp_path, "q.jsonl", "\n".join(json.dumps(r) for r in lines))
    loaded = load_questions(path)
    assert len(loaded) == 3
    assert loaded.warnings == (f"unknown field 'answer' ignored (3 record(s), first at {path}:1)",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "b", "question": "Q?", "answers": "Twelve"}', "field 'answers': expected a list of strings"),
        ('{"id": "b", "question": "Q?"}', "field 'answers' is missing (use [] for"),
        ('{"id": "b", "question": "", "answers": []}', "field 'question' is missing or empty"),
        ('{"id": "a", "question": "Q?", "answers": []}', "field 'id': 'a' is already used at"),
        (
            '{"id": "b", "question": "Q?", "answers": [], "evidence": ["x"]}',
            "an unanswerable question has no evidence",
        ),
        (
            '{"id": "b", "question": "Q?", "answers": ["x", 3]}',
            "field 'answers': item 1 must be a non-empty string",
        ),
        ('{"id": "b", "question": "Q?", "answers": [] ', "malformed JSON"),
        ('["b", "Q?"]', "expected a JSON object"),
    ],
)
def test_malformed_record_error_names_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    good = '{"id": "a", "question": "Q?", "answers": ["x"]}'
    path = _write(tmp_path, "q.jsonl", f"{good}\n\n{line}\n")
    with pytest.raises(QuestionSetError) as caught:
        load_questions(path)
    assert caught.value.where == f"{path}:3"
    assert message in caught.value.reason


def test_csv_without_required_columns_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", "id,query,answers\n1,Q?,x\n")
    with pytest.raises(QuestionSetError, match="lacks column"):
        load_questions(path)


def test_a_csv_row_without_its_answers_cell_is_refused_not_read_as_unanswerable(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", "id,question,answers,split\n1,Q1?,x\n2,Q2?\n")
    with pytest.raises(QuestionSetError, match="no answers cell") as caught:
        load_questions(path)
    assert caught.value.where.endswith("q.csv:3")  # line 2 lacks only the optional split: fine


def test_a_squad_question_that_is_no_object_is_refused_with_its_place(tmp_path: Path) -> None:
    squad = {"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "C.", "qas": [7]}]}]}
    path = _write(tmp_path, "dev.json", json.dumps(squad))
    with pytest.raises(QuestionSetError, match=r"paragraphs\[0\]\.qas\[0\].*expected an object, got int"):
        load_questions(path)


def test_squad_json_is_read_directly_with_evidence_sentence_and_articles(tmp_path: Path) -> None:
    context_1 = "Intro sentence here. Denver won the game 24–10. Another one."
    context_2 = "Second paragraph. Nothing to see."
    squad = {
        "version": "1.1",
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [
                    {
                        "context": context_1,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Who won?",
                                "answers": [
                                    {"text": "Denver", "answer_start": 21},
                                    {"text": "Denver", "answer_start": 21},
                                    {"text": "Denver won", "answer_start": 21},
                                ],
                            }
                        ],
                    },
                    {
                        "context": context_2,
                        "qas": [
                            {
                                "id": "q2",
                                "question": "What is there?",
                                "answers": [{"text": "Nothing", "answer_start": 18}],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = _write(tmp_path, "dev.json", json.dumps(squad, ensure_ascii=False))
    q1, q2 = load_questions(path)
    (article,) = load_squad_articles(path)
    assert q1.answers == ("Denver", "Denver won")
    assert q1.evidence == ("Denver won the game 24–10.",)
    assert q2.evidence == ("Nothing to see.",)
    assert q1.article == q2.article == article.id == "Super_Bowl_50"
    assert article.text == f"{context_1}\n\n{context_2}"


def test_subsample_is_deterministic_and_keeps_file_order(sample_set) -> None:  # type: ignore[no-untyped-def]
    first, again = sample_set.subsample(10), sample_set.subsample(10)
    assert [q.id for q in first] == [q.id for q in again]
    order = [q.id for q in sample_set]
    assert [order.index(q.id) for q in first] == sorted(order.index(q.id) for q in first)
    assert len(first) == 10 and sample_set.subsample(10, seed=1).questions != first.questions


# -- kinds, splits, aliases and notes --------------------------------------------------------------


def test_kind_split_and_aliases_are_kept_and_a_note_is_read_without_a_warning(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "question": "How many?", "answers": ["12"], "evidence": ["12 died."], "article": "x",
         "kind": "factoid", "split": "dev", "article_aliases": ["x-copy"]},
        {"id": "b", "question": "Who won the cup?", "answers": [], "article": "x", "kind": "unanswerable",
         "split": "train", "why_unanswerable": "searched 'cup' in every article"},
        {"id": "c", "question": "Why?", "answers": ["rain"], "colour": "red"},
    ]
    path = _write(tmp_path, "q.jsonl", "\n".join(json.dumps(r) for r in lines))
    loaded = load_questions(path)
    a, b, c = loaded
    assert (a.kind, a.split, a.article_aliases) == ("factoid", "dev", ("x-copy",))
    assert (b.kind, b.split, b.article_aliases) == ("unanswerable", "train", ())
    assert (c.kind, c.split) == (None, None)
    assert "why_unanswerable" not in a.to_dict()
    assert loaded.warnings == (f"unknown field 'colour' ignored (1 record(s), first at {path}:3)",)


def test_only_split_keeps_one_split_in_file_order_and_refuses_a_split_nobody_has(tmp_path: Path) -> None:
    lines = [{"id": str(i), "question": "Q?", "answers": ["x"], "split": "dev" if i % 2 else "train"}
             for i in range(5)]
    path = _write(tmp_path, "q.jsonl", "\n".join(json.dumps(r) for r in lines))
    loaded = load_questions(path)
    assert [q.id for q in loaded.only_split("dev")] == ["1", "3"]
    assert [q.id for q in loaded.only_split("train")] == ["0", "2", "4"]
    refused = r"no question has split 'test' \(splits in the file: dev, train\)"
    with pytest.raises(QuestionSetError, match=refused):
        loaded.only_split("test")


def test_a_bad_split_or_alias_field_is_refused_with_its_line(tmp_path: Path) -> None:
    record = '{"id": "a", "question": "Q?", "answers": ["x"], "article_aliases": "y"}'
    path = _write(tmp_path, "q.jsonl", record)
    with pytest.raises(QuestionSetError, match="field 'article_aliases': expected a list of strings"):
        load_questions(path)
    path = _write(tmp_path, "r.jsonl", '{"id": "a", "question": "Q?", "answers": ["x"], "split": ["dev"]}')
    with pytest.raises(QuestionSetError, match="field 'split': expected a string"):
        load_questions(path)


# -- the readers' set on the sample article ---------------------------------------------------------

READERS = SAMPLE_QUESTIONS.with_name("kazakhstan-readers.jsonl")


def test_readers_set_is_sound_and_has_the_promised_mix() -> None:
    loaded = load_questions(READERS)
    questions = list(loaded)
    article = SAMPLE_ARTICLE.read_text(encoding="utf-8")
    assert loaded.warnings == ()
    assert len(questions) >= 40 and {q.article for q in questions} == {SAMPLE_ARTICLE.stem}
    assert sum(not q.answerable for q in questions) >= 10
    assert {q.kind for q in questions} >= {"paraphrase", "why", "how", "followup", "list", "unanswerable"}
    assert all(q.history for q in questions if q.kind == "followup")
    dev, train = len(loaded.only_split("dev")), len(loaded.only_split("train"))
    assert dev + train == len(questions) and abs(dev - train) <= len(questions) // 5
    for q in questions:
        assert all(e in article for e in q.evidence), q.id
        assert all(a in article for a in q.answers), q.id
        assert q.answerable == bool(q.evidence) == (q.kind != "unanswerable"), q.id
        if q.answerable:
            assert any(a in e for a in q.answers for e in q.evidence), q.id
