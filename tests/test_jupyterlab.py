"""JupyterLab as the students meet it (`jupyter lab chapters/`): a real server, headless Chromium, live widgets.

One `jupyter lab` server for the module, on 127.0.0.1 with a token and a free port, its root a temporary copy of
the chapters (both files of every pair, and jupytext.toml), in the smoke profile with checkpoints and results in
tmp and the real datasets (LABBOOK_DATA as the caller set it); one browser (Debian's chromium and chromedriver,
driven by selenium, as in test_book.py). The tests

* open a chapter's .py source the way a student does (file browser, Open With > Jupytext Notebook), run its first
  cells and read the banner;
* check that a long cell shows a progress bar widget (tqdm.auto with a live front end), not raw text;
* edit a markdown cell and save, then read both files of the pair from disk: the same cells, the edit in both;
* for every interactive explorer of the chapters (a code cell that displays ipywidgets controls), run the
  notebook up to it; check that, untouched, it draws the default figure shown below it; move a control (a
  slider, a dropdown, then the button if there is one) and check that it draws a new figure that is not empty;
  a screenshot of each is saved in chapters/_build/screenshots/jupyterlab-NN_topic.png.

Faults this test found in the chapters are listed with their fix (DEFAULTS_DIFFER, BLANK_REDRAW, KNOWN_REMOTE):
there the test is an expected failure until the fix is made, then it passes by itself (remove the entry).

Nothing leaves the machine: JupyterLab serves its assets itself, news, update checks and the extension manager's
index are off, the server's HTTP(S) proxy is a closed local port, Chromium resolves no host but 127.0.0.1, and the
last test fails on any request the page made to another host. The server (and its kernels) is always stopped.
Skipped, with the reason, when chromium, chromedriver, selenium, jupyterlab or jupytext is missing; failed
instead in CI, where `make test` installs them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import jupytext
import nbformat
import pytest

import labutils.settings
from conftest import allow_loopback_only
from labbook import book
from labbook.chapters import chapter_sources
from labutils.settings import REPO_ROOT

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCREENSHOTS = book.BUILD_DIR / "screenshots"
# The datasets as the caller set LABBOOK_DATA (tests/conftest.py points it into tmp_path for each test).
REAL_DATA = labutils.settings.get_data_dir()
# The explorers the chapters promise (chapter 2's 1D explorer, 3's latent explorer, 4's digit picker).
EXPECTED_EXPLORERS = ("02_gan_1d", "03_mnist_dcgan", "04_conditional")
RUN_TIMEOUT_S = 420  # a smoke chapter up to its explorer: 15 s to 3.5 min seen on 2 shared cores
REDRAW_TIMEOUT_S = 90  # an explorer's redraw after a control moved (chapter 2 trains a GAN briefly)


@dataclass(frozen=True)
class Explorer:
    """An interactive explorer: a code cell of `chapter` that displays ipywidgets controls."""

    chapter: str
    markers: tuple[str, ...]  # what only that cell contains: it is found by content, never by index
    button: str | None  # the label of its button ("Train and redraw") if it redraws on a click


def find_explorers() -> list[Explorer]:
    """Return every explorer of the chapters, read from the .py sources: a code cell that displays `widgets.`
    controls (built there or in the code cells just above it, where its button's label is found too)."""
    explorers = []
    for source in chapter_sources():
        code = [c.source for c in jupytext.read(source).cells if c.cell_type == "code"]
        for position, text in enumerate(code):
            if "widgets." not in text or "display(" not in text:
                continue
            first_line = text.strip().splitlines()[0]
            defs = re.findall(r"^def (\w+)\(", text, re.M)
            markers = ("widgets.", "display(", first_line, *(f"def {name}(" for name in defs[:1]))
            nearby = "\n".join(code[max(position - 3, 0) : position + 1])
            button = re.search(r"widgets\.Button\([^)]*description=[\"']([^\"']+)[\"']", nearby)
            explorers.append(Explorer(source.stem, markers, button and button.group(1)))
    return explorers


EXPLORERS = find_explorers()


# --------------------------------------------------------------------------------------- tools and network
@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Replace the suite's no-network guard: these tests talk to the local server and to chromedriver, so
    connections to the loopback address are allowed, and every other one fails at once (as in test_book.py)."""
    allow_loopback_only(monkeypatch)


def missing_tools() -> list[str]:
    """Return what the JupyterLab test needs but this machine lacks."""
    missing = []
    for package in ("jupyterlab", "jupytext", "ipywidgets", "selenium"):
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            missing.append(f"the Python package {package} (pip install -e '.[dev,book]')")
    for program, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if not shutil.which(program):
            missing.append(f"{program} (apt-get install {package})")
    return missing


def require_tools() -> None:
    """Skip (fail in CI, where `make test` installs everything) when a tool is missing."""
    missing = missing_tools()
    if missing:
        message = "the JupyterLab test needs " + ", ".join(missing)
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_the_chapters_have_their_explorers():
    """Chapter 2's 1D explorer, chapter 3's latent explorer and chapter 4's digit picker are found by content."""
    found = [e.chapter for e in EXPLORERS]
    for chapter in EXPECTED_EXPLORERS:
        assert chapter in found, (
            f"{chapter}.py has no interactive explorer any more (a code cell with `widgets.` controls and "
            f"display(...)); found explorers in {found}"
        )


# --------------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def lab_settings(settings_dir: Path) -> None:
    """The user settings of the test's JupyterLab: no news toast, every cell in the DOM, cell timings recorded."""
    write_json(
        settings_dir / "@jupyterlab/apputils-extension/notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    write_json(
        settings_dir / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
        {"windowingMode": "none", "recordTiming": True},
    )


def copy_chapters(root: Path) -> None:
    """Copy the chapters' pairs and jupytext.toml into root; the .py last, so that it is the newer of each pair."""
    root.mkdir(parents=True, exist_ok=True)
    sources = sorted(book.BOOK_DIR.glob("[0-9][0-9]_*.py"))
    for source in sources:
        shutil.copyfile(source.with_suffix(".ipynb"), root / f"{source.stem}.ipynb")
    time.sleep(0.05)
    for source in sources:
        shutil.copyfile(source, root / source.name)
    if (REPO_ROOT / "jupytext.toml").exists():  # without it the pairing test says what goes wrong
        shutil.copyfile(REPO_ROOT / "jupytext.toml", root / "jupytext.toml")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is pid (the server's kernels, each in its own session), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def stop(process: subprocess.Popen, base: str, token: str) -> None:
    """Shut the kernels down, then the server's process group; kill whatever is left."""
    kernels = child_pids(process.pid) if Path("/proc").is_dir() else []
    try:
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST", data=b"")
        request.add_header("Authorization", f"token {token}")
        urllib.request.urlopen(request, timeout=10).close()
        process.wait(timeout=20)
    except Exception:  # noqa: BLE001 (the server may already be gone or hung: kill it below)
        pass
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signum)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
    # A kernel is its own process group (jupyter_client starts it in a new session).
    for pid in kernels:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Server:
    base: str
    token: str
    root: Path
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A `jupyter lab` server on 127.0.0.1 for this module, its root a copy of the chapters; always stopped."""
    require_tools()
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root, token, port = tmp / "chapters", secrets.token_hex(16), free_port()
    copy_chapters(root)
    lab_settings(tmp / "settings")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABBOOK_")}
    env.pop("MPLBACKEND", None)  # the kernel draws inline
    env.update(
        LABBOOK_PROFILE="smoke",
        LABBOOK_DATA=str(REAL_DATA),
        LABBOOK_CHECKPOINTS=str(tmp / "checkpoints"),
        LABBOOK_RESULTS=str(tmp / "results"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),  # not ~/.jupyter (the environment's config stays)
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the kernel's `python`
        HTTP_PROXY="http://127.0.0.1:9",  # a closed port: any HTTP client that would leave the machine fails
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
    )
    for name in ("http_proxy", "https_proxy", "no_proxy"):
        env[name] = env[name.upper()]
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the test reads notebooks' state from it
    ]
    log = tmp / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        started = time.perf_counter()
        while True:
            try:
                request = urllib.request.Request(f"{base}/api/status")
                request.add_header("Authorization", f"token {token}")
                urllib.request.urlopen(request, timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.perf_counter() - started > 90:
                    pytest.fail(
                        f"jupyter lab did not start on {base} (exit code {process.poll()}); its log:\n"
                        + log.read_text(errors="replace")[-3000:],
                        pytrace=False,
                    )
                time.sleep(0.3)
        print(f"\njupyter lab up in {time.perf_counter() - started:.1f} s on {base}, root {root}")
        yield Server(base, token, root, log)
    finally:
        stop(process, base, token)


# --------------------------------------------------------------------------------------- the browser
LAB_JS = r"""
window.lb = {  // `path` picks an open notebook; without it, the one in front (lb.current)
  panels: {},
  done: {},
  current: null,
  p(path) { return path ? this.panels[path] : this.current; },
  use(path) { this.current = this.panels[path]; jupyterapp.shell.activateById(this.current.id); },
  adopt(path) {  // the notebook a click opened
    const w = jupyterapp.shell.currentWidget;
    if (!(w && w.context && w.context.path === path && w.content && w.sessionContext)) return false;
    this.panels[path] = w; this.current = w; return true;
  },
  open(path, factory) {
    window.lbOpened = undefined;
    jupyterapp.commands.execute('docmanager:open', {path: path, factory: factory}).then(
      (w) => { this.panels[path] = w; this.current = w; window.lbOpened = 'ok'; },
      (e) => { window.lbOpened = 'error: ' + e; });
  },
  ready(path) {
    const p = this.p(path);
    return !!(p && p.context.isReady && p.sessionContext.session && p.sessionContext.session.kernel
              && p.sessionContext.kernelDisplayStatus === 'idle');
  },
  cells(path) { return this.p(path).content.widgets; },
  sources() { return this.cells().map((c) => [c.model.type, c.model.sharedModel.getSource()]); },
  find(parts, path) {
    return this.cells(path).findIndex((c) => parts.every((p) => c.model.sharedModel.getSource().includes(p)));
  },
  firstLine(i, path) { return this.cells(path)[i].model.sharedModel.getSource().split('\n')[0]; },
  node(i) { return this.cells()[i].node; },
  run(path, command, i) {  // a notebook command at cell i of that notebook, in front or not
    const panel = this.p(path), nb = panel.content;
    nb.mode = 'command'; nb.deselectAll(); nb.activeCellIndex = i; this.done[path] = undefined;
    jupyterapp.commands.execute(command, {widgetId: panel.id, activate: false}).then(
      (ok) => { this.done[path] = {ok: ok}; }, (e) => { this.done[path] = {ok: false, error: String(e)}; });
  },
  errors(path) {
    const out = [];
    this.cells(path).forEach((c, i) => {
      if (c.model.type !== 'code') return;
      for (let k = 0; k < c.model.outputs.length; k++) {
        const o = c.model.outputs.get(k).toJSON();
        if (o.output_type === 'error') out.push(`cell ${i} (${this.firstLine(i, path)}): ${o.ename}: `
          + `${o.evalue}\n` + (o.traceback || []).slice(-3).join('\n').replace(/\x1b\[[0-9;]*m/g, ''));
      }
    });
    return out;
  },
  busy(path) {  // what is running or queued: for the messages of a timeout
    const out = [];
    this.cells(path).forEach((c, i) => {
      const p = c.node.querySelector('.jp-InputPrompt');
      if (p && p.textContent.includes('*')) out.push(`cell ${i}: ${this.firstLine(i, path)}`);
    });
    return {kernel: this.p(path).sessionContext.kernelDisplayStatus, cells: out.slice(0, 3)};
  },
  slowest(path) {  // recordTiming: the slowest executed cells, [seconds, index]
    const t = [];
    this.cells(path).forEach((c, i) => { const e = c.model.getMetadata && c.model.getMetadata('execution');
      if (e && e['iopub.execute_input'] && e['shell.execute_reply'])
        t.push([(Date.parse(e['shell.execute_reply']) - Date.parse(e['iopub.execute_input'])) / 1000, i]); });
    return t.sort((a, b) => b[0] - a[0]).slice(0, 4);
  },
  outputText(i) { const a = this.node(i).querySelector('.jp-Cell-outputArea'); return a ? a.innerText : ''; },
  images(i) {  // [live: images inside the explorer's output widget, static: the cell's other images]
    const all = Array.from(this.node(i).querySelectorAll('.jp-Cell-outputArea img'));
    const live = all.filter((img) => img.closest('.widget-output'));
    return [live.map((img) => img.src), all.filter((img) => !img.closest('.widget-output')).map((img) => img.src)];
  },
  dialogs() { return Array.from(document.querySelectorAll('.jp-Dialog')).map((d) => d.innerText.slice(0, 300)); },
  close(path) {
    const p = this.panels[path]; delete this.panels[path];
    if (this.current === p) this.current = null;
    if (p) { p.context.model.dirty = false; return p.sessionContext.shutdown().then(() => p.dispose()); }
  },
};
"""


class Lab:
    """The browser on the test's JupyterLab, with the few actions the tests need.

    A notebook can run in the background (`start`) while the tests work on another one in front: the next
    explorer's chapter runs while the current one is tested (the chapters' runs are most of the time)."""

    def __init__(self, driver, server: Server):
        self.driver, self.server = driver, server
        self.opened: set[str] = set()
        self.ran_to: dict[str, int] = {}  # how far each open notebook has run (cell index)
        self.pending: dict[str, tuple[str, int, float]] = {}  # path: (command, index, start time)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, script: str, timeout: float, what, *args, poll: float = 0.25):
        """Return the first truthy value of script; fail with what() (a message) after timeout seconds."""
        end = time.perf_counter() + timeout
        while True:
            value = self.js(script, *args)
            if value:
                return value
            if time.perf_counter() > end:
                pytest.fail(what() if callable(what) else what, pytrace=False)
            time.sleep(poll)

    def wait_ready(self, path: str) -> None:
        """Wait for the notebook's kernel; accept "Select Kernel" if a notebook without kernelspec asks."""
        end = time.perf_counter() + 120
        while not self.js("return lb.ready(arguments[0])", path):
            if any("Select Kernel" in d for d in self.js("return lb.dialogs()")):
                self.js("document.querySelector('.jp-Dialog .jp-mod-accept').click()")
            if time.perf_counter() > end:
                pytest.fail(
                    f"{path} did not open as a notebook with an idle kernel within 120 s; dialogs: "
                    f"{self.js('return lb.dialogs()')}; server log:\n{self.server.log.read_text()[-2000:]}",
                    pytrace=False,
                )
            time.sleep(0.25)

    def open_with(self, path: str, viewer: str = "Jupytext Notebook") -> None:
        """Open path from the file browser's context menu: right click, Open With > viewer."""
        from selenium.webdriver.common.action_chains import ActionChains

        self.js("jupyterapp.commands.execute('filebrowser:activate')")
        item = self.wait(
            "return Array.from(document.querySelectorAll('.jp-DirListing-item')).find((e) =>"
            " e.querySelector('.jp-DirListing-itemText').textContent.trim() === arguments[0]"
            " && e.getBoundingClientRect().width > 0)",
            30,
            f"{path} is not in JupyterLab's file browser",
            path,
        )
        ActionChains(self.driver).context_click(item).perform()
        menu_item = (
            "return Array.from(document.querySelectorAll('.lm-Menu-item')).find((e) =>"
            " e.querySelector('.lm-Menu-itemLabel').textContent.trim() === arguments[0])"
        )
        ActionChains(self.driver).move_to_element(
            self.wait(
                menu_item, 10, "the file browser's context menu has no 'Open With'", "Open With"
            )
        ).perform()
        labels = lambda: self.js(  # noqa: E731
            "return Array.from(document.querySelectorAll('.lm-Menu-itemLabel')).map((e) => e.textContent)"
        )
        self.wait(
            menu_item, 10, lambda: f"Open With has no '{viewer}' for {path}: {labels()}", viewer
        ).click()
        self.wait(
            "return lb.adopt(arguments[0])", 60, f"Open With > {viewer} did not open {path}", path
        )
        self.wait_ready(path)
        self.opened.add(path)

    def open(self, path: str, background: bool = False) -> None:
        """Open path as a notebook (a .py with jupytext's viewer) and bring it to the front, unless it is
        opened in the background (then the notebook in front stays there)."""
        if path in self.opened:
            if not background:
                self.js("lb.use(arguments[0])", path)
            return
        front = self.js("return lb.current && lb.current.context.path")
        factory = "Notebook" if path.endswith(".ipynb") else "Jupytext Notebook"
        self.js("lb.open(arguments[0], arguments[1])", path, factory)
        opened = self.wait("return window.lbOpened", 60, f"JupyterLab did not open {path}")
        assert opened == "ok", f"JupyterLab could not open {path} with {factory}: {opened}"
        self.wait_ready(path)
        self.opened.add(path)
        if background and front in self.opened:
            self.js("lb.use(arguments[0])", front)

    def close(self, path: str) -> None:
        if path in self.opened:
            self.opened.discard(path)
            self.ran_to.pop(path, None)
            self.pending.pop(path, None)
            self.driver.execute_async_script(
                "Promise.resolve(lb.close(arguments[0])).then(() => arguments[1](), () => arguments[1]())",
                path,
            )

    def find(self, path: str, markers: tuple[str, ...], background: bool = False) -> int:
        self.open(path, background)
        index = self.js("return lb.find(arguments[0], arguments[1])", list(markers), path)
        assert index >= 0, f"no cell of {path} contains all of {markers}"
        return index

    def start(self, path: str, command: str, index: int) -> None:
        """Start a notebook command ('notebook:run-all-above', 'notebook:run-cell') at cell index."""
        self.js("lb.run(arguments[0], arguments[1], arguments[2])", path, command, index)
        self.pending[path] = (command, index, time.perf_counter())

    def finish(self, path: str, timeout: float = RUN_TIMEOUT_S) -> float:
        """Wait for the command started on path; fail on a cell's error; return the seconds it took."""
        command, index, started = self.pending.pop(path)
        done = self.wait(
            "return lb.done[arguments[0]] || (lb.errors(arguments[0]).length && {ok: false})",
            max(timeout - (time.perf_counter() - started), 1),
            lambda: (
                f"{path}: {command} at cell {index} still running after {timeout} s: "
                f"{self.js('return lb.busy(arguments[0])', path)}; slowest cells so far "
                f"(s, cell): {self.js('return lb.slowest(arguments[0])', path)}"
            ),
            path,
            poll=0.5,
        )
        errors = self.js("return lb.errors(arguments[0])", path)
        assert not errors and done.get("ok"), (
            f"{path}: {command} at cell {index} failed: {done} {errors}"
        )
        return time.perf_counter() - started

    def run(self, path: str, command: str, index: int, timeout: float = RUN_TIMEOUT_S) -> float:
        self.start(path, command, index)
        return self.finish(path, timeout)

    def run_up_to(self, path: str, index: int, wait: bool = True) -> None:
        """Run every cell above index (once per notebook and index); with wait=False, only start it."""
        if self.ran_to.get(path, -1) >= index:
            return
        if path not in self.pending:
            self.start(path, "notebook:run-all-above", index)
        if wait:
            seconds = self.finish(path)
            self.ran_to[path] = index
            slowest = self.js("return lb.slowest(arguments[0])", path)
            print(
                f"{path}: the cells above {index} ran in {seconds:.0f} s; slowest (s, cell): {slowest}"
            )

    def prepare(self, item: Explorer) -> tuple[str, int]:
        """Open an explorer's chapter in the background and start running it up to the explorer."""
        path = explorer_path(item)
        index = self.find(path, item.markers, background=True)
        self.run_up_to(path, index, wait=False)
        return path, index

    def screenshot(self, name: str, index: int) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.js(  # the controls and the figures, rather than the cell's code
            "const n = lb.node(arguments[0]);"
            "(n.querySelector('.jp-Cell-outputArea') || n).scrollIntoView({block: 'start'})",
            index,
        )
        time.sleep(0.5)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def explorer_path(item: Explorer) -> str:
    """The file an explorer's chapter is opened from: the .py, or for every other explorer the .ipynb."""
    first = item.chapter == EXPLORERS[0].chapter
    return item.chapter + (".py" if first or EXPLORERS.index(item) % 2 == 0 else ".ipynb")


@pytest.fixture(scope="module")
def lab(server):
    """Headless Chromium on the server's JupyterLab (fresh workspace); yield a Lab."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):  # nothing else resolves
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=shutil.which("chromedriver"))
    )
    try:
        driver.set_page_load_timeout(120)
        driver.set_script_timeout(120)
        driver.execute_cdp_cmd(  # keep every request of the page (the last test reads them)
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "performance.setResourceTimingBufferSize(1000000);"},
        )
        driver.get(f"{server.base}/lab?reset&token={server.token}")
        lab = Lab(driver, server)
        lab.wait(
            "return window.jupyterapp && document.querySelector('.jp-DirListing-item')",
            120,
            lambda: (
                "JupyterLab did not start in the browser; its console:\n"
                + "\n".join(e["message"] for e in driver.get_log("browser")[-20:])
            ),
        )
        driver.execute_script(LAB_JS)
        yield lab
    finally:
        driver.quit()


# --------------------------------------------------------------------------------------- the tests
# The chapter of the banner's and the progress bars' tests: the first explorer's, opened from its .py.
FIRST = EXPLORERS[0].chapter if EXPLORERS else EXPECTED_EXPLORERS[0]


def test_a_py_source_opens_as_a_notebook_and_prints_the_banner(lab):
    """A student right-clicks NN_topic.py, Open With > Jupytext Notebook, and runs the first cells."""
    path = f"{FIRST}.py"
    lab.open_with(path)
    cells = lab.js("return lb.sources()")
    on_disk = [[c.cell_type, c.source] for c in jupytext.read(lab.server.root / path).cells]
    assert cells == on_disk, (
        f"{path} opened with other cells than the file has ({len(cells)} vs {len(on_disk)})"
    )
    with_outputs = lab.js(
        "return lb.cells().filter((c) => c.model.type === 'code' && c.model.outputs.length).length"
    )
    assert with_outputs, (
        f"{path} opened without the outputs of its twin {FIRST}.ipynb: jupytext did not pair them"
    )
    setup = lab.find(path, ("lu.setup(",))
    code = [i for i, (kind, _) in enumerate(cells) if kind == "code"]
    settings = next(i for i in code if i > setup)  # the settings cell follows the setup cell
    lab.run_up_to(path, settings + 1)
    banner = lab.js("return lb.outputText(arguments[0])", setup)
    assert f"GAN lab book | chapter {FIRST}" in banner, (
        f"the first code cell of {path} did not print the banner; it shows:\n{banner[:500]}"
    )
    assert re.search(r"profile\s*: smoke", banner), (
        f"the server's kernel is not in the smoke profile:\n{banner}"
    )


def test_a_long_cell_shows_a_progress_bar_widget(lab):
    """tqdm.auto (labutils' training loop) draws a jupyter widget with a live front end, not a line of text."""
    path = f"{FIRST}.py"
    explorer = lab.find(path, EXPLORERS[0].markers)
    lab.run_up_to(path, explorer, wait=False)
    if len(EXPLORERS) > 1:
        lab.prepare(EXPLORERS[1])  # the next explorer's chapter runs meanwhile (in the background)
    lab.run_up_to(path, explorer)
    trained = lab.js(
        "return lb.cells().map((c, i) => i).filter((i) => i < arguments[0] &&"
        " /\\[checkpoint\\] .*training \\d+ steps/.test(lb.outputText(i)))",
        explorer,
    )
    assert trained, (
        f"no cell of {path} above its explorer trained a model (fresh checkpoints were expected)"
    )
    for index in trained:
        facts = lab.js(
            "const area = lb.node(arguments[0]).querySelector('.jp-Cell-outputArea');"
            "return {bars: area.querySelectorAll('.jp-OutputArea-output .widget-hprogress .progress-bar').length,"
            " text: Array.from(area.querySelectorAll('.jp-OutputArea-output.jp-RenderedText'))"
            ".map((e) => e.innerText).filter((t) => /\\d+%\\|/.test(t))}",
            index,
        )
        text = lab.js("return lb.outputText(arguments[0])", index)
        assert facts["bars"], (
            f"cell {index} of {path} trained without a progress bar widget (jupyter-widgets progress element); "
            f"its output:\n{text[:600]}"
        )
        assert not facts["text"], (
            f"cell {index} of {path} prints a text progress bar: {facts['text'][:2]}"
        )


def test_saving_a_markdown_edit_keeps_the_pair_in_sync(lab):
    """Edit the first markdown cell of a .py opened as a notebook, save (Ctrl+S): both files have the edit."""
    from selenium.webdriver.common.keys import Keys

    chapter = chapter_sources()[0].stem
    path, root = f"{chapter}.py", lab.server.root
    before_py = [(c.cell_type, c.source) for c in jupytext.read(root / path).cells]
    twin_before = nbformat.read(root / f"{chapter}.ipynb", as_version=4)
    shared = {source for kind, source in before_py if kind == "code"}  # outputs attach by source
    with_outputs = {c.source for c in twin_before.cells if c.get("outputs") and c.source in shared}
    stamps = {p: p.stat().st_mtime_ns for p in (root / path, root / f"{chapter}.ipynb")}
    mark = f"Edited in JupyterLab by the browser test ({secrets.token_hex(4)})."
    try:
        lab.open(path)
        index = lab.js("return lb.cells().findIndex((c) => c.model.type === 'markdown')")
        assert index >= 0, f"{path} has no markdown cell"
        node = lab.js(
            "const n = lb.node(arguments[0]); n.scrollIntoView({block: 'center'}); return n", index
        )
        node.find_element("css selector", ".jp-MarkdownOutput").click()  # select it (command mode)
        lab.driver.switch_to.active_element.send_keys(Keys.ENTER)  # edit mode
        editor = lab.wait(
            "return document.activeElement.classList.contains('cm-content') && document.activeElement",
            10,
            "Enter on a markdown cell did not open its editor",
        )
        editor.send_keys(Keys.CONTROL, Keys.END, Keys.NULL, Keys.ENTER, Keys.ENTER, mark)
        editor.send_keys(Keys.SHIFT, Keys.ENTER, Keys.NULL)  # render it
        source = lab.js("return lb.cells()[arguments[0]].model.sharedModel.getSource()", index)
        assert source.endswith(mark), f"typing into the markdown cell gave {source[-200:]!r}"
        lab.driver.switch_to.active_element.send_keys(Keys.CONTROL, "s", Keys.NULL)
        lab.wait(
            "return !lb.current.context.model.dirty",
            30,
            lambda: f"Ctrl+S did not save {path}; dialogs: {lab.js('return lb.dialogs()')}",
        )
        deadline = time.perf_counter() + 10
        while (
            any(p.stat().st_mtime_ns == s for p, s in stamps.items())
            and time.perf_counter() < deadline
        ):
            time.sleep(0.2)
        unchanged = [p.name for p, s in stamps.items() if p.stat().st_mtime_ns == s]
        assert not unchanged, (
            f"saving {path} in JupyterLab did not write {unchanged}: the pair is not synced"
        )
        py = [(c.cell_type, c.source) for c in jupytext.read(root / path).cells]
        twin = nbformat.read(root / f"{chapter}.ipynb", as_version=4)
        ipynb = [(c.cell_type, c.source) for c in twin.cells]
        assert py[index][1].endswith(mark), f"the edit is not in {path}: {py[index][1][-200:]!r}"
        assert ipynb[index][1].endswith(mark), (
            f"the edit is not in {chapter}.ipynb: {ipynb[index][1][-200:]!r}"
        )
        differ = [i for i, (a, b) in enumerate(zip(py, ipynb)) if a != b]
        assert len(py) == len(ipynb) and not differ, (
            f"after saving, {path} and {chapter}.ipynb differ: {len(py)} vs {len(ipynb)} cells, "
            f"cells {differ[:5]} differ"
        )
        changed = [i for i, (a, b) in enumerate(zip(before_py, py)) if a != b]
        assert len(py) == len(before_py) and changed == [index], (
            f"saving one markdown edit changed cells {changed[:5]} of {path} ({len(before_py)} -> {len(py)} cells)"
        )
        lost = [
            source.split("\n")[0]
            for source in with_outputs
            if not any(c.source == source and c.get("outputs") for c in twin.cells)
        ]
        assert not lost, f"saving {path} dropped the outputs of {chapter}.ipynb's cells {lost[:3]}"
    finally:
        lab.close(path)


@dataclass
class OpenExplorer:
    """An explorer's notebook, run up to and including the explorer's cell."""

    explorer: Explorer
    path: str
    index: int


@pytest.fixture(scope="module", params=EXPLORERS, ids=[e.chapter for e in EXPLORERS])
def explorer(request, lab):
    """Open the explorer's chapter (from its .py or, every other one, its .ipynb), run it up to the explorer and
    the explorer itself; meanwhile the next explorer's chapter starts running in the background."""
    item: Explorer = request.param
    path, index = lab.prepare(item)
    following = EXPLORERS.index(item) + 1
    try:
        if following < len(EXPLORERS):
            lab.prepare(EXPLORERS[following])
        lab.open(path)
        lab.run_up_to(path, index)
        lab.run(path, "notebook:run-cell", index, timeout=REDRAW_TIMEOUT_S)
        lab.ran_to[path] = index + 1
        lab.wait(
            "return lb.ready() && lb.node(arguments[0]).querySelector('.jp-Cell-outputArea img')",
            REDRAW_TIMEOUT_S,
            f"the explorer's cell of {path} drew no figure",
            index,
        )
        yield OpenExplorer(item, path, index)
    finally:
        lab.close(path)


def pixels(src: str, alpha: bool = False):
    """The RGB (or, with alpha, RGBA) pixels of an image's PNG data URL, as floats in [0, 1]."""
    import matplotlib.image
    import numpy as np

    assert src.startswith("data:image/png;base64,"), f"not an inline PNG: {src[:60]}"
    data = base64.b64decode(src.split(",", 1)[1])
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    if not alpha:
        return image[..., :3]
    return image if image.shape[-1] == 4 else np.dstack([image, np.ones(image.shape[:2])])


def same_picture(a: str, b: str) -> bool:
    """Whether two PNG data URLs show the same picture (their bytes may differ)."""
    first, second = pixels(a), pixels(b)
    return first.shape == second.shape and float(abs(first - second).max()) < 1e-6


def ink(src: str) -> float:
    """The share of an image's pixels that are not (nearly) white: how much a figure shows."""
    return float((pixels(src).mean(axis=-1) < 0.9).mean())


def controls_rendered(lab: Lab, found: OpenExplorer) -> None:
    """Fail with what the cell shows if the explorer's controls did not render as widgets."""
    count = lab.js(
        "return lb.node(arguments[0]).querySelectorAll('.jp-OutputArea-output .jupyter-widgets"
        " .noUi-handle, .jp-OutputArea-output .jupyter-widgets select').length",
        found.index,
    )
    assert count, (
        f"the explorer of {found.path} shows no live controls (sliders or dropdowns); its output:\n"
        + lab.js("return lb.outputText(arguments[0])", found.index)[:600]
    )


def press(lab: Lab, found: OpenExplorer) -> None:
    """Click the explorer's button."""
    button = lab.js(
        "return Array.from(lb.node(arguments[0]).querySelectorAll('button.jupyter-button'))"
        ".find((b) => b.textContent.trim() === arguments[1])",
        found.index,
        found.explorer.button,
    )
    assert button, f"the explorer of {found.path} has no '{found.explorer.button}' button"
    lab.js("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def live_images(lab: Lab, found: OpenExplorer, unlike: list[str], what: str) -> list[str]:
    """Wait until the explorer's output widget shows an image not in `unlike` and the kernel is idle."""
    lab.wait(
        "const [live] = lb.images(arguments[0]); return lb.ready() && live.length"
        " && live.some((src) => !arguments[1].includes(src))",
        REDRAW_TIMEOUT_S,
        lambda: (
            f"the explorer of {found.path} drew no new figure within {REDRAW_TIMEOUT_S} s after {what}; "
            f"its panel shows: {lab.js('return lb.images(arguments[0])[0].length', found.index)} image(s) and "
            + repr(
                lab.js(
                    "const p = lb.node(arguments[0]).querySelector('.widget-output'); return p ? p.innerText : null",
                    found.index,
                )
            )[:600]
            + f"; errors: {lab.js('return lb.errors()')}"
        ),
        found.index,
        unlike,
        poll=0.5,
    )
    return lab.js("return lb.images(arguments[0])[0]", found.index)


# A live explorer's first figure should be the default figure printed below its controls (the one the rendered
# book shows). Where it is known not to be, the test is an expected failure until the fix below is made (then it
# passes by itself; remove the entry).
# Chapter 2's half-drawn figure is fixed: its callback draws a Figure outside pyplot (a pyplot figure
# could be drawn, half-way, by the inline backend's hooks in another thread).
DEFAULTS_DIFFER: dict[str, str] = {}


def keep_difference(lab: Lab, found: OpenExplorer, live: list[str], static: str) -> str:
    """Save the live and the default figure that differ, and describe both (sizes, ink, count)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = SCREENSHOTS / f"jupyterlab-{found.explorer.chapter}-default"
    for name, src in (("live", live[0]), ("static", static)):
        Path(f"{stem}-{name}.png").write_bytes(base64.b64decode(src.split(",", 1)[1]))
    first, default = pixels(live[0]), pixels(static)
    opaque = [float((pixels(src, alpha=True)[..., 3] == 1).mean()) for src in (live[0], static)]
    Path(f"{stem}.txt").write_text(
        f"{len(live)} live image(s); opaque share: live {opaque[0]:.3f}, default {opaque[1]:.3f}\n"
        + "panel: "
        + str(
            lab.js(
                "const p = lb.node(arguments[0]).querySelector('.widget-output');"
                " return p ? p.innerText : null",
                found.index,
            )
        )[:2000]
    )
    return (
        f"{found.path}: {len(live)} live image(s); the first {first.shape}, ink {ink(live[0]):.4f}; "
        f"the default {default.shape}, ink {ink(static):.4f}; saved as {stem}-live/-static.png"
    )


def test_an_explorer_starts_at_the_default_figure(lab, explorer):
    """Untouched, the live explorer draws what the rendered book shows: the figure for the default values."""
    lab.open(explorer.path)
    controls_rendered(lab, explorer)
    live, static = lab.js("return lb.images(arguments[0])", explorer.index)
    assert static, f"the explorer of {explorer.path} printed no default figure below its controls"
    if explorer.explorer.button and not live:
        press(lab, explorer)
        live = live_images(lab, explorer, [], f"a click on '{explorer.explorer.button}'")
    assert live, f"the explorer of {explorer.path} shows no live figure in its panel"
    same = same_picture(live[0], static[-1])
    if not same:  # keep the evidence: both pictures, their opacity, what the panel printed
        print(keep_difference(lab, explorer, live, static[-1]))
    if not same and explorer.explorer.chapter in DEFAULTS_DIFFER:
        pytest.xfail(DEFAULTS_DIFFER[explorer.explorer.chapter])
    assert same, (
        f"the live explorer of {explorer.path} starts with another figure than the default one below it"
    )


# Redraws known to come out (nearly) empty, with the fix to make (an expected failure until then).
BLANK_REDRAW: dict[
    str, str
] = {}  # chapter 3's equal seeds (NaN images) are fixed: slerp_path falls back to a line


def test_an_explorer_redraws_when_a_control_moves(lab, explorer):
    """Move the explorer's first slider (or choose another entry of its dropdown), press its button if it has
    one, and see a new figure; a screenshot is saved in chapters/_build/screenshots/jupyterlab-NN_topic.png."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    lab.open(explorer.path)
    controls_rendered(lab, explorer)
    live, static = lab.js("return lb.images(arguments[0])", explorer.index)
    node = lab.js("return lb.node(arguments[0])", explorer.index)
    dropdowns = node.find_elements("css selector", ".jp-OutputArea-output .jupyter-widgets select")
    if dropdowns and not explorer.explorer.button:
        control = Select(dropdowns[0])
        before = control.first_selected_option.text
        lab.js("arguments[0].scrollIntoView({block: 'center'})", dropdowns[0])
        options = [o.text for o in control.options]
        control.select_by_index((options.index(before) + 1) % len(options))
        moved = f"choosing {control.first_selected_option.text} instead of {before} in its dropdown"
    else:
        handle = node.find_element(
            "css selector", ".jp-OutputArea-output .jupyter-widgets .noUi-handle"
        )
        readout = handle.find_element("xpath", "ancestor::div[contains(@class, 'widget-slider')]")
        before = readout.text
        lab.js("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", handle)
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.send_keys(Keys.ARROW_LEFT if at_max else Keys.ARROW_RIGHT)
        lab.wait(
            "return arguments[0].innerText !== arguments[1]",
            10,
            f"the arrow key did not move the first slider of {explorer.path} ({before!r})",
            readout,
            before,
        )
        moved = f"moving its slider from {before!r} to {readout.text!r}".replace("\n", " ")
        if explorer.explorer.button:
            press(lab, explorer)
            moved += f" and clicking '{explorer.explorer.button}'"
    after = live_images(lab, explorer, live + static, moved)
    shot = lab.screenshot(f"jupyterlab-{explorer.explorer.chapter}", explorer.index)
    new = next(src for src in after if src not in live + static)
    print(f"{explorer.path}: {moved} drew a new figure; screenshot {shot}")
    drawn, default = ink(new), ink(static[-1])
    if drawn < 0.5 * default and explorer.explorer.chapter in BLANK_REDRAW:
        pytest.xfail(BLANK_REDRAW[explorer.explorer.chapter])
    assert drawn >= 0.5 * default, (
        f"after {moved}, the explorer of {explorer.path} drew a nearly empty figure ({drawn:.1%} of its "
        f"pixels drawn, {default:.1%} in the default figure): see {shot}"
    )


# Requests to other hosts known to be made, with the fix to make (an expected failure until then).
KNOWN_REMOTE: dict[
    str, str
] = {}  # the animations' Font Awesome link is gone (labutils.plotting.offline_html)


def test_no_request_left_the_machine(lab):
    """Every request the page made (scripts, styles, fonts, API calls, images) went to the local server."""
    urls = lab.js("return performance.getEntriesByType('resource').map((e) => e.name)")
    foreign = [u for u in urls if not u.startswith((lab.server.base, "data:", "blob:"))]
    unknown = [u for u in foreign if not any(known in u for known in KNOWN_REMOTE)]
    assert urls and not unknown, f"JupyterLab requested other hosts: {sorted(set(unknown))[:5]}"
    log = lab.server.log.read_text(errors="replace")
    assert "Failed to get announcements" not in log and "Failed to check for updates" not in log, (
        "the server tried to fetch news or updates"
    )
    known = [reason for known, reason in KNOWN_REMOTE.items() if any(known in u for u in foreign)]
    if known:
        pytest.xfail("; ".join(known))
