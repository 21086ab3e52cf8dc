"""`qa serve` after a normal (not editable) install: build the wheel, install it, start the page."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app.conftest import _free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

READY = "newsqa ready at "


def _shared_site_packages() -> list[str]:
    """This interpreter's installed packages, to share with the fresh venv (no downloads)."""
    return [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project's wheel installed (its dependencies shared, not reinstalled)."""
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=root, timeout=300)
    (wheel,) = wheels.glob("newsqa-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    # Paths in a .pth are added to sys.path; the .pth files inside them are not run, so the
    # editable install of the source tree stays out of this venv.
    (site / "_shared.pth").write_text("\n".join(_shared_site_packages()) + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, cwd=root, timeout=300)
    return venv


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "QA_DATA_DIR": str(tmp_path / "data")}


def test_the_wheel_holds_the_page_and_imports_from_its_install(installed: Path, tmp_path: Path) -> None:
    code = ("import qa, qa.ui; from qa.ui import create_app; print(qa.__file__); "
            "print(type(create_app()).__name__)")
    out = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=180, check=True).stdout.split()
    assert out[0].startswith(str(installed)) and out[1] == "QAPage"


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def test_qa_serve_starts_from_the_installed_wheel_and_serves_the_page(
    installed: Path, tmp_path: Path
) -> None:
    port = _free_port()
    server = subprocess.Popen([str(installed / "bin" / "qa"), "serve", "--port", str(port)], cwd=tmp_path,
                              env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(server.stdout, output), daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not any(READY in line for line in seen):
            assert server.poll() is None, "qa serve exited:\n" + "".join(seen)
            assert time.monotonic() < deadline, "no ready line:\n" + "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(output.get(timeout=1))
        ready = next(line for line in seen if READY in line)
        assert ready.strip() == f"{READY}http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200 and "<html" in response.read().decode("utf-8")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30) as response:
            assert json.load(response)["title"] == "News QA"
    finally:
        server.terminate()
        server.wait(timeout=60)
    time.sleep(0.5)
    while not output.empty():
        seen.append(output.get())
    text = "".join(seen)
    # Quiet by default: the ready line, no share-link hint and no tracebacks.
    assert "share=True" not in text and "public link" not in text and "Traceback" not in text
