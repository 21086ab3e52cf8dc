"""After a normal (non-editable) ``pip install .``, each documented way of starting the page works:
``python app.py``, ``gradio app.py`` and ``qa serve``.

The wheel is built from this checkout and installed without dependencies into a fresh venv that
sees the already-installed dependencies (a ``.pth`` file), so nothing is downloaded. Each command
runs from a folder outside the checkout, where only the installed package can be imported.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with the wheel of this checkout installed; yields its bin folder."""
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".qa-data", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"),
                    str(source)], check=True, capture_output=True, timeout=600)
    wheel = next((work / "dist").glob("newsqa-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "_shared_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    yield venv / "bin"


def _serves(command: list[str], cwd: Path, port: int, env: dict[str, str]) -> str:
    """Start ``command``, wait until the page answers on ``port``, stop it; the page's HTML."""
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            # Waiting for start-up is not a timing assertion; the bound only stops a hung start.
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"{' '.join(command)} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                        return response.read().decode("utf-8", "replace")
                except OSError:
                    time.sleep(0.5)
            pytest.fail(f"{' '.join(command)} never answered:\n{log.read_text()[-3000:]}")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("how", ["python app.py", "gradio app.py", "qa serve"])
def test_the_page_starts_from_a_normal_install(how: str, installed: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")
    port = _free_port()
    env = {**os.environ, "QA_DATA_DIR": str(tmp_path / "data"), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "PATH": f"{installed}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    command = {
        "python app.py": [str(installed / "python"), "app.py"],
        # The `gradio` script's own entry point: the venv sees gradio through a .pth file, which
        # brings its modules but not its scripts.
        "gradio app.py": [str(installed / "python"), "-c",
                          "import sys; from gradio.cli import cli; sys.argv = ['gradio', 'app.py']; cli()"],
        "qa serve": [str(installed / "qa"), "serve", "--port", str(port)],
    }[how]
    if not Path(command[0]).exists():
        pytest.fail(f"{command[0]} is missing from the venv")
    page = _serves(command, tmp_path, port, env)
    assert "News QA" in page or "gradio" in page.lower()
    imported = subprocess.run(
        [str(installed / "python"), "-c", "import qa, qa.ui; print(qa.ui.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert str(ROOT) not in imported and "site-packages" in imported
