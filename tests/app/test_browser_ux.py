"""The page as people expect it, in real Chromium: failures say why, Settings pick an LLM,
the chat survives a reload, delete asks first, a phone reaches the sources. Screenshots for docs/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from qa.ui.prefs import prefs_path
from tests.app.conftest import LiveApp
from tests.app.test_browser import QUESTION, open_page, send, upload
from tests.conftest import ROOT
from tests.llm.fake_servers import OpenAIServer, Reply

pytestmark = pytest.mark.browser

DOCS = ROOT / "docs"
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


def docs_shot(page: Any, name: str) -> None:
    """A screenshot kept in docs/ (the README shows these)."""
    page.wait_for_timeout(400)
    page.screenshot(path=str(DOCS / f"{name}.png"))


def cite_twelve(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    n = next((int(m.group(1)) for m in _PASSAGE.finditer(prompt) if "Twelve policemen" in m.group(2)), 1)
    return f"According to the report, twelve policemen were killed in Almaty [{n}]."


def test_a_failed_upload_says_why_next_to_the_upload(page: Any, live_app: LiveApp, tmp_path: Path) -> None:
    (tmp_path / "blank.txt").write_bytes(b"   \n")
    open_page(page, live_app)
    summary = upload(page, tmp_path / "blank.txt")
    assert "1 failed" in summary and "blank.txt" in summary and "only blank space" in summary
    # The limit is said where files are chosen, and is the one ingest applies.
    assert "up to 10 MB each" in page.locator("#qa-upload").inner_text()
    assert page.get_by_text("Error", exact=True).count() == 0


def test_pick_and_test_an_llm_then_ask_it(page: Any, live_app: LiveApp) -> None:
    with OpenAIServer(Reply(respond=cite_twelve), models=("tiny-chat", "test-model")) as server:
        open_page(page, live_app)
        page.get_by_role("tab", name="Settings").click()
        page.get_by_label("OpenAI-compatible server").check()
        page.locator("#qa-base-url textarea, #qa-base-url input").first.fill(server.base_url)
        page.locator("#qa-test-connection").click()
        status = page.locator("#qa-settings-status")
        status.get_by_text("Connected to openai").wait_for()
        assert "2 model(s): test-model, tiny-chat" in status.inner_text()
        assert page.locator("#qa-model input").input_value() == "test-model"
        docs_shot(page, "settings")
        page.get_by_role("tab", name="Chat").click()
        answer = send(page, QUESTION)
        assert "twelve policemen were killed in Almaty" in answer
        assert server.paths[-1] == "/v1/chat/completions"
        backend = page.locator(".qa-turn:last-child .qa-details")
        backend.locator("summary").click()
        assert f"openai:test-model@{server.base_url}" in backend.inner_text()


def test_saved_settings_come_back_on_the_next_visit(page: Any, live_app: LiveApp) -> None:
    saved = prefs_path(live_app.assistant.settings)
    try:
        open_page(page, live_app)
        page.get_by_role("tab", name="Settings").click()
        page.get_by_label("Ollama").check()
        page.locator("#qa-base-url textarea, #qa-base-url input").first.fill("http://127.0.0.1:9")
        page.locator("#qa-save-settings").click()
        page.locator("#qa-settings-status").get_by_text("Saved to").wait_for()
        assert '"backend": "ollama"' in saved.read_text()
        page.reload()
        page.get_by_role("tab", name="Settings").click()
        page.wait_for_function(
            "document.querySelector('#qa-base-url textarea, #qa-base-url input').value === 'http://127.0.0.1:9'"
        )
        assert page.get_by_label("Ollama").is_checked()
    finally:
        saved.unlink(missing_ok=True)


def test_the_chat_and_its_sources_survive_a_reload(page: Any, live_app: LiveApp) -> None:
    open_page(page, live_app)
    assert "Twelve" in send(page, QUESTION)
    page.reload()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"bot\"]').length === 1")
    assert "Twelve" in page.locator('[data-testid="bot"]').last.inner_text()
    assert page.locator(".qa-turn mark.qa-quote").count() >= 1
    # The next question continues the same conversation (turn 2, follow-up understood).
    assert "353" in send(page, "And how many were injured?")
    assert page.locator("#qa-turn-2").count() == 1
    page.locator("#qa-new-chat").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"bot\"]').length === 0")
    # The browser-side copy is written after the page updates; give it a moment to land.
    page.wait_for_timeout(1500)
    page.reload()
    page.wait_for_selector("#qa-sources-panel .qa-sources")
    page.wait_for_timeout(1500)
    assert page.locator('[data-testid="bot"]').count() == 0


def test_delete_asks_first_and_cancel_keeps_the_article(page: Any, live_app: LiveApp) -> None:
    open_page(page, live_app)
    page.get_by_role("tab", name="Articles").click()
    page.locator("#qa-delete-pick input").click()
    page.get_by_role("option", name="kazakhstan-unrest", exact=False).click()
    page.locator("#qa-delete").click()
    summary = page.locator("#qa-ingest-summary textarea")
    page.wait_for_function(
        "document.querySelector('#qa-ingest-summary textarea').value.startsWith('Delete kazakhstan-unrest')"
    )
    assert page.locator("#qa-delete-yes").is_visible()
    assert "kazakhstan-unrest" in [r.id for r in live_app.assistant.articles()]
    page.locator("#qa-delete-cancel").click()
    page.wait_for_function(
        "document.querySelector('#qa-ingest-summary textarea').value === 'Nothing was deleted.'"
    )
    assert not page.locator("#qa-delete-yes").is_visible()
    assert summary.input_value() == "Nothing was deleted."
    assert "kazakhstan-unrest" in [r.id for r in live_app.assistant.articles()]


def test_a_phone_reaches_the_sources_without_scrolling_past_the_chat(
    browser: Any, live_app: LiveApp
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone.set_default_timeout(60_000)
    try:
        phone.goto(live_app.url + "/")
        phone.wait_for_selector("#qa-sources-panel .qa-sources", state="attached")
        phone.locator("#qa-question").wait_for(state="visible")
        assert not phone.locator("#qa-sources-col").is_visible()
        assert "Twelve" in send(phone, QUESTION)
        docs_shot(phone, "chat-phone")
        phone.locator('[data-testid="bot"] a[href="#src-1-1"]').first.click()
        card = phone.locator("#src-1-1")
        card.wait_for(state="visible")
        assert not phone.locator("#qa-question").is_visible()
        box = card.bounding_box()
        assert box is not None and box["y"] < 844  # on screen, not below the whole chat
        docs_shot(phone, "chat-phone-sources")
        phone.locator(".qa-phone-switch button[data-qa-view='chat']").click()
        phone.locator("#qa-question").wait_for(state="visible")
    finally:
        context.close()


def test_screenshots_for_the_readme(page: Any, live_app: LiveApp) -> None:
    open_page(page, live_app)
    assert "Twelve" in send(page, QUESTION)
    docs_shot(page, "chat")
    page.goto(live_app.url + "/?__theme=dark")
    page.wait_for_function("document.querySelectorAll('.qa-turn').length > 0")
    docs_shot(page, "chat-dark")
