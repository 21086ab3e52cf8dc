"""Files -> articles: titles, metadata, stable ids, and a clear error for every kind of bad file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from index.dates import date_to_timestamp, normalize_date
from index.decoding import decode
from index.errors import LoadError
from index.loaders import Loaded, expand_paths, iter_loaded, load_file

MB = 1_000_000

ARTICLE_HTML = """<!doctype html>
<html><head>
<title>Harbour reopens | The Daily Example</title>
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2023-03-04T10:00:00Z">
<script>var tracker = "SCRIPT-IN-HEAD"; document.title = "SCRIPT-TITLE";</script>
<style>.ad { content: "STYLE-LEAK"; }</style>
</head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a></nav>
<article>
<h1>Harbour reopens after the storm</h1>
<p>The city harbour reopened on Saturday, three weeks after the storm closed it to all ships and
left the eastern quays under water.</p>
<script>document.write("SCRIPT-IN-BODY");</script>
<p>Port officials said repairs to the breakwater would continue through the spring, and that
ferries to the islands would run on a reduced timetable until then.</p>
<noscript>Please enable JavaScript NOSCRIPT-LEAK</noscript>
</article>
<footer>Copyright The Daily Example</footer>
</body></html>
"""


def _load(path: Path, *, max_bytes: int = 10 * MB) -> Loaded:
    return load_file(path, max_bytes=max_bytes)


def _one_error(path: Path, *, max_bytes: int = 10 * MB) -> LoadError:
    (loaded,) = list(iter_loaded([path], max_bytes=max_bytes))
    assert not loaded.articles
    (error,) = loaded.failures
    assert error.path == str(path)
    return error


# -- what loads ----------------------------------------------------------------------------------


def test_txt_title_is_the_first_non_blank_line_and_id_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "Storm Hits Coast!.txt"
    path.write_text("\n\n  Storm hits the coast  \n\nThe storm arrived at dawn.\n", encoding="utf-8")
    (article,) = _load(path).articles
    assert article.title == "Storm hits the coast"
    assert article.id == "Storm-Hits-Coast"
    assert article.text.startswith("\n\n  Storm hits")
    assert article.path == str(path.resolve())


def test_txt_whose_first_line_is_a_paragraph_is_titled_by_its_file_name(tmp_path: Path) -> None:
    path = tmp_path / "gas-revolt_kazakhstan.txt"
    path.write_text("The balance of the revolt is dramatic. " * 5 + "\n\nMore.\n", encoding="utf-8")
    assert _load(path).articles[0].title == "Gas revolt kazakhstan"


def test_md_title_is_the_first_heading_even_below_other_lines(tmp_path: Path) -> None:
    path = tmp_path / "harbour.md"
    path.write_text("_Published Monday_\n\n## Harbour reopens ##\n\nBody text here.\n", encoding="utf-8")
    (article,) = _load(path).articles
    assert article.title == "Harbour reopens"


def test_md_without_heading_uses_first_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("Just a first line\nand more.\n", encoding="utf-8")
    assert _load(path).articles[0].title == "Just a first line"


def test_ids_and_hashes_do_not_depend_on_how_the_path_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "news" / "story.txt"
    path.parent.mkdir()
    path.write_text("Title\n\nBody.\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    relative = _load(Path("news/story.txt")).articles[0]
    absolute = _load(path).articles[0]
    assert relative == absolute
    assert relative.hash == absolute.hash


def test_html_gives_title_date_author_and_main_text_without_scripts(tmp_path: Path) -> None:
    path = tmp_path / "harbour.html"
    path.write_text(ARTICLE_HTML, encoding="utf-8")
    (article,) = _load(path).articles
    assert article.title == "Harbour reopens after the storm"
    assert article.published == "2023-03-04"
    assert article.author == "Jane Doe"
    assert "The city harbour reopened on Saturday" in article.text
    assert "reduced timetable" in article.text
    for leak in ("SCRIPT", "STYLE-LEAK", "NOSCRIPT-LEAK", "document.write", "Copyright", "Home |"):
        assert leak not in article.text


def test_html_with_no_article_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><head><script>var a = 'only a script';</script></head><body></body></html>")
    error = _one_error(path)
    assert "no article text" in error.reason


def test_html_with_only_navigation_is_refused_not_indexed_as_an_article(tmp_path: Path) -> None:
    path = tmp_path / "navonly.html"
    path.write_text('<html><body><nav><a href="/">Home</a></nav></body></html>')
    assert _one_error(path).reason == "no article text found in the HTML (only 'Home')"


def test_jsonl_maps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    records = [
        {"id": "a-1", "title": "Alpha", "text": "Alpha text.", "url": "https://example.org/a",
         "source": "Example Wire", "published": "2024-01-05T10:00:00+02:00", "author": "Ann"},
        {"id": "b 2", "text": "Beta body line.\nSecond line.", "source": "Example Wire"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    alpha, beta = _load(path).articles
    assert (alpha.id, alpha.title, alpha.text) == ("a-1", "Alpha", "Alpha text.")
    assert alpha.source == "https://example.org/a"
    assert alpha.published == "2024-01-05T10:00:00"
    assert alpha.author == "Ann"
    assert alpha.path == str(path.resolve())
    assert (beta.id, beta.title, beta.source, beta.published, beta.author) == (
        "b-2", "Beta body line.", "Example Wire", None, None,
    )


def test_jsonl_ids_stored_other_than_given_are_named_in_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    ids = ["ok-1", 7, "a/b", "c d", "e:f", "g?h"]
    path.write_text("\n".join(json.dumps({"id": i, "text": f"Text {n}."}) for n, i in enumerate(ids)) + "\n")
    loaded = _load(path)
    assert [a.id for a in loaded.articles] == ["ok-1", "7", "a-b", "c-d", "e-f", "g-h"]
    (warning,) = loaded.warnings
    assert warning.startswith(f"{path}: 4 article id(s) hold characters an id keeps out (ids are ASCII")
    assert "'a/b' as 'a-b' (line 3), 'c d' as 'c-d' (line 4), 'e:f' as 'e-f' (line 5) and 1 more" in warning


def test_folders_are_walked_recursively_in_a_stable_order(tmp_path: Path) -> None:
    for name in ["b.txt", "a.md", "sub/c.html", "sub/deeper/d.jsonl", "sub/notes.pdf", ".hidden/e.txt",
                 "sub/.cache/f.txt", "README"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    files, errors = expand_paths([tmp_path, tmp_path / "b.txt"])
    assert errors == []
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "a.md", "b.txt", "sub/c.html", "sub/deeper/d.jsonl",
    ]


def test_missing_path_and_unsupported_type_are_named(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4")
    files, errors = expand_paths([tmp_path / "nope", tmp_path / "report.pdf"])
    assert files == []
    assert [e.path for e in errors] == [str(tmp_path / "nope"), str(tmp_path / "report.pdf")]
    assert "no such file or folder" in errors[0].reason
    assert "unsupported file type '.pdf'" in errors[1].reason and ".jsonl" in errors[1].reason


@pytest.mark.parametrize(
    ("raw", "iso", "ts"),
    [
        ("2024-01-05", "2024-01-05", 1704412800),
        ("5 January 2024 10:30", "2024-01-05T10:30:00", 1704450600),
        # The story's own local time, offset dropped: its date is the one its readers saw.
        ("2024-01-05T10:00:00+02:00", "2024-01-05T10:00:00", 1704448800),
        ("2024-03-06T00:30:00+02:00", "2024-03-06T00:30:00", 1709685000),
        ("March 2024", "2024-03-01", 1709251200),
        ("not a date", None, None),
        (None, None, None),
    ],
)
def test_published_dates_normalize_to_iso_and_utc_timestamps(
    raw: str | None, iso: str | None, ts: int | None
) -> None:
    assert normalize_date(raw) == iso
    assert date_to_timestamp(iso) == ts


def test_timestamps_respect_an_explicit_offset() -> None:
    assert date_to_timestamp("2024-01-05T10:00:00+02:00") == date_to_timestamp("2024-01-05T08:00:00")


# -- what is refused, and how it is said ---------------------------------------------------------


def test_empty_and_whitespace_only_files_are_refused(tmp_path: Path) -> None:
    blank = "file holds only blank space, no text"  # "file is empty" for 6 bytes read oddly
    for name, data, said in [("empty.txt", b"", "file is empty"), ("blank.md", b"  \n\n\t\n", blank),
                             ("empty.jsonl", b"\n\n", blank)]:
        path = tmp_path / name
        path.write_bytes(data)
        assert _one_error(path).reason == said


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    assert "binary file" in _one_error(path).reason


def test_binary_file_without_nul_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes((i * 167 + 13) % 255 + 1 for i in range(4000)))
    assert "binary file" in _one_error(path).reason


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café society\n\nThe café opened; “naïve” critics in Zürich approved.\n", "cp1252"),
        ("Le président a déclaré à Paris que l'économie française était forte.\n", "latin-1"),
    ],
)
def test_legacy_encoded_text_is_decoded_with_a_warning_naming_the_encoding(
    tmp_path: Path, text: str, encoding: str
) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(encoding))
    loaded = _load(path)
    assert loaded.articles[0].text == text
    (warning,) = loaded.warnings
    assert str(path) in warning
    assert "not valid UTF-8; decoded as cp1252" in warning


def test_central_european_text_keeps_its_own_encoding(tmp_path: Path) -> None:
    text = "Zażółć gęślą jaźń. Wczoraj w Łodzi odbyło się spotkanie przedstawicieli rządu.\n"
    path = tmp_path / "pl.txt"
    path.write_bytes(text.encode("cp1250"))
    loaded = _load(path)
    assert loaded.articles[0].text == text
    assert "decoded as cp1250" in loaded.warnings[0]


def test_invalid_utf8_runs_are_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "damaged.txt"
    good = "Café in Zürich — résumé. ".encode()
    path.write_bytes(good + b"\xc3 broken \xe2\x80 here. " + "Naïve end.".encode())
    loaded = _load(path)
    text = loaded.articles[0].text
    assert text.startswith("Café in Zürich — résumé. ")
    assert text.count("\ufffd") == 2 and text.endswith("Naïve end.")
    (warning,) = loaded.warnings
    assert warning == (
        f"{path}: 2 invalid UTF-8 byte run(s) (first at byte {len(good)}) replaced with U+FFFD"
    )


def test_invalid_byte_offset_counts_the_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "Café ok ".encode() + b"\xff here")
    loaded = _load(path)
    assert loaded.articles[0].text == "Café ok \ufffd here"
    assert "(first at byte 12)" in loaded.warnings[0]


def test_file_over_the_size_limit_names_the_limit_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("word " * 300_000)
    reason = _one_error(path, max_bytes=1 * MB).reason
    assert reason == "file is 1.5 MB, over the 1 MB limit (raise it with QA_MAX_FILE_MB or --max-file-mb)"


@pytest.mark.parametrize(("size", "limit", "said"), [
    (2_000, 1_000, "file is 2 kB, over the 1 kB limit"),
    (1_234, 10, "file is 1.2 kB, over the 10 bytes limit"),
    (2_500_000, 2_000_000, "file is 2.5 MB, over the 2 MB limit"),
    (10_040_000, 10_000_000, "file is 10,040,000 bytes, over the 10,000,000-byte limit"),  # both "10 MB"
    (999_990, 500_000, "file is 1 MB, over the 500 kB limit"),  # not "1000 kB"
])
def test_a_size_message_reads_in_a_unit_that_shows_the_difference(
        tmp_path: Path, size: int, limit: int, said: str) -> None:
    path = tmp_path / "big.txt"
    path.write_text("w" * size)
    assert _one_error(path, max_bytes=limit).reason.startswith(said)


def test_malformed_jsonl_lines_name_file_and_line_and_keep_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"id": "ok-1", "text": "First good article."}),
        '{"id": "broken", "text": ',
        "",
        "[1, 2]",
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "bad-date", "text": "Some text.", "published": "someday"}),
        json.dumps({"id": "ok-1", "text": "Same id again."}),
        '{"id": "half-pair", "text": "A lone surrogate \\ud800 here; a whole pair \\ud83d\\ude00 is fine."}',
        json.dumps({"id": "ok-2", "text": "Second good article \U0001F600."}),
        json.dumps({"id": "number-text", "text": 12345, "title": ["a", "list"]}),
        json.dumps({"id": 7, "text": "A numeric id is fine."}),
        json.dumps({"id": "blank", "text": "  "}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = _load(path)
    assert [a.id for a in loaded.articles] == ["ok-1", "ok-2", "7"]
    assert [(e.path, e.reason) for e in loaded.failures] == [
        (f"{path}:2", "malformed JSON: Expecting value (column 26)"),
        (f"{path}:4", "expected a JSON object with id and text (title optional)"),
        (f"{path}:5", "missing field(s): text"),
        (f"{path}:6", "published 'someday' is not a date"),
        (f"{path}:7", "id 'ok-1' is already used on line 1"),
        (f"{path}:8", "field 'text' is not valid Unicode (a lone surrogate at character 17)"),
        (f"{path}:10", "field(s) 'text', 'title' must be text, got int, list"),
        (f"{path}:12", "empty field(s): text"),  # it said "missing"
    ]


def test_unreadable_file_is_named_without_stopping_the_batch(
    tmp_path: Path, refuse_reading: Callable[[str], None]
) -> None:
    # Tests run as root, where chmod 000 does not stop reads: simulate the OS refusing instead.
    good, locked = tmp_path / "good.txt", tmp_path / "locked.txt"
    good.write_text("Good\n\nReadable.")
    locked.write_text("Locked\n\nUnreadable.")
    refuse_reading("locked.txt")
    good_loaded, locked_loaded = iter_loaded([good, locked], max_bytes=MB)
    assert [a.id for a in good_loaded.articles] == ["good"]
    assert [(e.path, e.reason) for e in locked_loaded.failures] == [
        (str(locked), "permission denied: the file cannot be read")
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod-000 files; the simulated test covers it")
def test_chmod_000_file_in_a_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good\n\nReadable.")
    locked = tmp_path / "locked.txt"
    locked.write_text("Locked")
    locked.chmod(0)
    try:
        files, _ = expand_paths([tmp_path])
        loaded = {item.path: item for item in iter_loaded(files, max_bytes=MB)}
    finally:
        locked.chmod(0o644)
    assert loaded[str(locked)].failures[0].reason == "permission denied: the file cannot be read"
    assert loaded[str(tmp_path / "good.txt")].articles


def test_separating_control_characters_become_spaces_and_the_rest_go(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_bytes(b"Form\x0cfeed story\n\nThe council approved\x0ca new park\x0bnear the\x1fharbour."
                     b" It will open in\x01 May\x07.")
    (article,) = _load(path).articles
    assert article.title == "Form feed story"
    assert "The council approved a new park near the harbour. It will open in May." in article.text


def test_markdown_front_matter_gives_title_date_and_author_and_is_not_article_text(tmp_path: Path) -> None:
    path = tmp_path / "holt.md"
    path.write_text("---\ntitle: Holt mine reopens\ndate: 2024-02-10\nauthor: [Kim Ashby, Lee Park]\n"
                    "url: https://example.org/holt\n---\n\n# **Holt mine** reopens after _two_ years\n\n"
                    "The Holt mine reopened on Monday with 300 workers.\n")
    loaded = _load(path)
    (article,) = loaded.articles
    assert (article.title, article.published, article.author, article.source) == (
        "Holt mine reopens", "2024-02-10", "Kim Ashby, Lee Park", "https://example.org/holt")
    assert article.text.startswith("# **Holt mine**") and "title:" not in article.text
    assert loaded.warnings == []


def test_a_markdown_title_loses_its_inline_markup_and_bad_front_matter_is_text(tmp_path: Path) -> None:
    path = tmp_path / "holt.md"
    path.write_text("# **Holt mine** reopens after _two_ years\n\nThe mine reopened on Monday.\n")
    assert _load(path).articles[0].title == "Holt mine reopens after two years"
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\n\nThe mine reopened on Monday.\n")
    loaded = _load(broken)
    assert loaded.articles[0].text.startswith("---\ntitle: [unclosed")
    (warning,) = loaded.warnings
    assert warning.startswith(f"{broken}: front matter is not valid YAML")
    plain = tmp_path / "notes.txt"  # front matter is a Markdown habit: a .txt file is read as written
    plain.write_text("---\ntitle: x\n---\nThe mine reopened.\n")
    assert _load(plain).articles[0].text.startswith("---")


@pytest.mark.parametrize("text", [
    "---\n\nRiots broke out: twelve police were killed.\n\n---\n\nMore text follows here.\n",  # rules
    "---\nNote: twelve police were killed in the riots.\n---\n\nMore text follows here.\n",  # no field
    "---\nHeadline\n---\n\nMore text follows here.\n",  # a setext heading under a rule
])
def test_a_markdown_file_opening_with_a_rule_keeps_all_its_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "story.md"
    path.write_text(text)
    loaded = _load(path)
    assert loaded.articles[0].text.strip() == text.strip() and loaded.warnings == []


def test_a_front_matter_date_that_is_no_date_is_said_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    path.write_text("---\ntitle: Holt mine\ndate: someday soon\n---\nThe mine reopened on Monday.\n")
    loaded = _load(path)
    assert loaded.articles[0].published is None
    assert loaded.warnings == [f"{path}: front matter date 'someday soon' is not a date; left out"]


def test_a_short_article_in_a_language_without_spaces_is_not_taken_for_navigation(tmp_path: Path) -> None:
    path = tmp_path / "beijing.html"
    path.write_text("<html><body><article><h1>北京新公园</h1><p>北京将于周一开放一座新的城市公园，"
                    "市政府表示公园占地十公顷。</p></article></body></html>", encoding="utf-8")
    (article,) = _load(path).articles
    assert "北京将于周一开放" in article.text


@pytest.mark.parametrize(("text", "codec"), [
    ("Grève à Montréal: les éboueurs réclament 5 % de hausse\n\nLes éboueurs de Montréal ont déclenché "
     "une grève lundi matin, a annoncé le syndicat.\n« Nous n'avons pas le choix », a déclaré le président "
     "du syndicat, François Lefèvre.\nLa ville a proposé une hausse de 2 %, jugée insuffisante. "
     "Environ 1 200 employés sont concernés.\nLes ordures s'accumulent déjà dans les rues du "
     "Plateau-Mont-Royal et de Rosemont-La Petite-Patrie.\n", "latin-1"),
    ("Café owner José Núñez said the new menu would open on Monday. The café has served the town "
     "since 1998.", "latin-1"),
    ("El presidente español anunció el miércoles una reducción del 3 % en la tarifa eléctrica, según "
     "informó el ministerio. “Es una buena noticia”, dijo.", "cp1252"),
    ("Köln: Die Stadt erhöht die Gebühren für Müllabfuhr um 4 %, sagte Bürgermeisterin Jürgens am "
     "Dienstag. „Wir haben keine Wahl“, sagte sie.", "cp1252"),
    ("Władze w Łodzi ogłosiły, że zamknięcie szkół potrwa do piątku. Prezydent miasta powiedział, że "
     "decyzja była trudna, ale konieczna ze względu na bezpieczeństwo dzieci.", "cp1250"),
    ("Vláda v pondělí schválila nový zákon o účetnictví. Ministr financí řekl, že změny přinesou "
     "úspory.", "cp1250"),
    ("Vyriausybė pirmadienį patvirtino naują įstatymą. Finansų ministras sakė, kad pokyčiai sutaupys "
     "pinigų šalies žmonėms.", "cp1257"),
    ("Правительство в понедельник утвердило новый закон о бюджете. Министр финансов сказал, что "
     "изменения помогут экономике.", "cp1251"),
])
def test_short_news_in_a_legacy_encoding_is_read_as_written(text: str, codec: str) -> None:
    """Short texts make the detector's guesses near ties: French Latin-1 was read as cp1257
    ("Grčve"), English as the DOS code page cp775 ("Cafķ"), Polish as cp1252 ("W³adze")."""
    read, warnings = decode(text.encode(codec), "news.txt")
    assert read == text
    assert len(warnings) == 1 and warnings[0].startswith("news.txt: not valid UTF-8; decoded as ")
