"""The chat page in a real browser: cited spans highlighted, follow-ups, uploads, escaping, abstention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qa.ui.render import NOT_FOUND
from tests.app.conftest import LiveApp, screenshot

pytestmark = pytest.mark.browser

QUESTION = "How many policemen were killed in Almaty?"


def open_page(page: Any, live_app: LiveApp, *, dark: bool = False) -> None:
    page.goto(live_app.url + ("/?__theme=dark" if dark else "/"))
    page.wait_for_selector("#qa-sources-panel .qa-sources")


def send(page: Any, question: str) -> str:
    """Type a question, wait for its answer and sources, and return the answer's text."""
    turns = page.locator(".qa-turn").count()
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    return wait_for_answer(page, turns)


def wait_for_answer(page: Any, turns_before: int) -> str:
    page.wait_for_function(f"document.querySelectorAll('.qa-turn').length > {turns_before}")
    return str(page.locator('[data-testid="bot"]').last.inner_text())


def latest_marks(page: Any) -> list[str]:
    return list(page.locator(".qa-turn:last-child mark.qa-quote").all_inner_texts())


def upload(page: Any, *files: Path) -> str:
    page.get_by_role("tab", name="Articles").click()
    summary = page.locator("#qa-ingest-summary textarea")
    before = summary.input_value()
    page.locator("#qa-upload input[type=file]").set_input_files([str(f) for f in files])
    page.wait_for_function(
        "before => { const v = document.querySelector('#qa-ingest-summary textarea').value;"
        " return v && v !== before && !v.startsWith('Choose'); }", arg=before,
    )
    return str(summary.input_value())


def test_example_question_cites_and_highlights_the_quoted_span(
    page: Any, live_app: LiveApp, outside_requests: list[str]
) -> None:
    open_page(page, live_app)
    page.get_by_role("button", name=f"Select example 1: {QUESTION}").click()
    answer = wait_for_answer(page, 0)
    assert "Twelve policemen" in answer and "[1]" in answer
    marks = latest_marks(page)
    article = live_app.assistant.article_text("kazakhstan-unrest")
    assert any("Twelve policemen have been killed" in m for m in marks)
    assert all(m in article for m in marks)
    page.wait_for_timeout(300)
    screenshot(page, "chat-light")
    page.locator('[data-testid="bot"] a[href="#src-1-1"]').click()
    card = page.locator("#src-1-1")
    assert card.get_attribute("open") is not None
    assert "qa-flash" in (card.get_attribute("class") or "")
    details = page.locator(".qa-turn:last-child .qa-details")
    details.locator("summary").click()
    assert details.get_by_role("cell", name="total").is_visible()
    screenshot(page, "chat-details")
    assert outside_requests == []


def test_follow_up_uses_the_conversation_and_markers_show_their_own_answer(
    page: Any, live_app: LiveApp
) -> None:
    open_page(page, live_app)
    assert "Twelve" in send(page, QUESTION)
    assert "353" in send(page, "And how many were injured?")
    assert any("353" in m for m in latest_marks(page))
    page.wait_for_timeout(300)
    screenshot(page, "chat-follow-up")
    page.locator('[data-testid="bot"]').first.locator('a[href="#src-1-1"]').click()
    assert page.locator("#qa-turn-1").is_visible() and not page.locator("#qa-turn-2").is_visible()
    screenshot(page, "follow-up-pinned")
    page.locator("#qa-turn-1 .qa-back").click()
    assert page.locator("#qa-turn-2").is_visible() and not page.locator("#qa-turn-1").is_visible()
    page.locator("#qa-new-chat").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"bot\"]').length === 0")
    assert page.locator(".qa-turn").count() == 0


def test_abstains_honestly_without_citations(page: Any, live_app: LiveApp) -> None:
    open_page(page, live_app)
    # The footer offers the API link only: no second "Settings", no dangling separator.
    assert page.locator("footer").inner_text().strip() == "Use via API"
    assert send(page, "What is the capital of Australia?").strip() == NOT_FOUND
    assert latest_marks(page) == []
    assert page.locator(".qa-turn:last-child .qa-card:not(.qa-uncited)").count() == 0
    screenshot(page, "abstain")


def test_uploaded_article_is_answered_from_then_deleted(page: Any, live_app: LiveApp, tmp_path: Path) -> None:
    article = tmp_path / "quillby-ferry.txt"
    article.write_text(
        "Quillby harbour gets a new ferry\n\nThe Quillby council approved a budget of 7 million crowns for "
        "a new electric ferry on Tuesday. The ferry will link the harbour with the island of Marrow "
        "from next spring, the mayor said.\n"
    )
    open_page(page, live_app)
    assert upload(page, article).startswith("1 added")
    assert "quillby-ferry" in page.locator("#qa-articles").inner_text()
    page.wait_for_timeout(500)
    screenshot(page, "articles")
    page.get_by_role("tab", name="Chat").click()
    assert "7 million crowns" in send(page, "What budget did the Quillby council approve for the ferry?")
    assert any("7 million crowns" in m for m in latest_marks(page))
    page.get_by_role("tab", name="Articles").click()
    page.locator("#qa-delete-pick input").click()
    page.get_by_role("option", name="quillby-ferry", exact=False).click()
    page.locator("#qa-delete").click()
    page.locator("#qa-delete-yes").click()
    page.wait_for_function(
        "document.querySelector('#qa-ingest-summary textarea').value.startsWith('Deleted')"
    )
    assert "quillby-ferry" not in page.locator("#qa-articles").inner_text()
    assert "quillby-ferry" not in [r.id for r in live_app.assistant.articles()]


def test_article_markup_is_shown_as_text_and_runs_nothing(
    page: Any, live_app: LiveApp, tmp_path: Path
) -> None:
    article = tmp_path / "marrow-bridge.txt"
    article.write_text(
        "Marrow bridge reopens\n\nThe Marrow bridge <b>reopened</b> on Friday after repairs costing "
        "<script>window.__qaPwned = 1</script><img src=x onerror=\"window.__qaPwned = 2\"> "
        "3 million crowns.\n"
    )
    open_page(page, live_app)
    assert upload(page, article).startswith("1 added")
    page.get_by_role("tab", name="Chat").click()
    answer = send(page, "How much did the repairs of the Marrow bridge cost?")
    try:
        assert page.evaluate("window.__qaPwned") is None
        panel = page.locator("#qa-sources-panel")
        assert panel.locator("script, img, b").count() == 0
        assert "<script>window.__qaPwned = 1</script>" in panel.inner_text()
        assert "<b>reopened</b>" in answer
        screenshot(page, "escaped")
    finally:
        live_app.assistant.delete("marrow-bridge")


def test_bad_uploads_are_explained_and_nothing_is_lost(page: Any, live_app: LiveApp, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "photo.txt").write_bytes(bytes(range(256)) * 8)
    open_page(page, live_app)
    summary = upload(page, tmp_path / "empty.txt", tmp_path / "photo.txt")
    assert "2 failed" in summary
    assert "failed: empty.txt: file is empty" in summary and "failed: photo.txt:" in summary
    assert "kazakhstan-unrest" in page.locator("#qa-articles").inner_text()
    big = tmp_path / "huge.txt"
    with big.open("wb") as f:
        f.truncate(11_000_000)
    page.locator("#qa-upload input[type=file]").set_input_files(str(big))
    toast = page.locator(".toast-body", has_text="exceed the maximum allowed size")
    toast.wait_for()
    assert "huge.txt" in toast.inner_text()
    assert "kazakhstan-unrest" in [r.id for r in live_app.assistant.articles()]


def test_dark_mode_keeps_the_highlight_readable(page: Any, live_app: LiveApp) -> None:
    open_page(page, live_app, dark=True)
    assert "Twelve" in send(page, QUESTION)
    colors = page.locator(".qa-turn:last-child mark.qa-quote").first.evaluate(
        "m => [getComputedStyle(m).backgroundColor, getComputedStyle(m).color]"
    )
    assert colors == ["rgb(161, 98, 7)", "rgb(255, 251, 235)"]
    page.wait_for_timeout(300)
    screenshot(page, "chat-dark")


def test_evaluate_tab_shows_headline_metrics_and_failures(page: Any, live_app: LiveApp) -> None:
    open_page(page, live_app)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#qa-eval-run").click()
    results = page.locator("#qa-eval-results")
    results.get_by_text("kazakhstan.jsonl:").wait_for()
    assert results.get_by_role("cell", name="answer_contains_gold").is_visible()
    assert "Failures" in results.inner_text() or "No failures." in results.inner_text()
    page.wait_for_timeout(300)
    screenshot(page, "evaluate")
