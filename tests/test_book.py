"""The rendered book: its configuration and bibliography, static widgets, then the real build (offline, warnings as
errors) opened page by page in headless Chromium (Debian's chromium and chromedriver, driven by selenium).

The browser tests serve the built site on 127.0.0.1, tell Chromium that every other host does not exist, and fail
on any request for another host. A screenshot of every page is saved in chapters/_build/screenshots/.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import threading
import time
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

from conftest import allow_loopback_only
from labbook import book, notebooks
from labutils.settings import REPO_ROOT

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PAGES = book.toc_files()
CHAPTERS = book.toc_chapters()
SCREENSHOTS = book.BUILD_DIR / "screenshots"
REQUIRED_PAPERS = [  # (first author, year, words of the title): the papers the whole book builds on
    ("Goodfellow", "2014", "Generative Adversarial Nets"),
    ("Radford", "2016", "Unsupervised Representation Learning with Deep Convolutional"),
    ("Mirza", "2014", "Conditional Generative Adversarial Nets"),
    ("Arjovsky", "2017", "Wasserstein Generative Adversarial Networks"),
    ("Gulrajani", "2017", "Improved Training of {Wasserstein GANs}"),
    ("Isola", "2017", "Image-to-Image Translation with Conditional Adversarial Networks"),
    (
        "Zhu",
        "2017",
        "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
    ),
    ("Hoffman", "2018", "{CyCADA}: Cycle-Consistent Adversarial Domain Adaptation"),
    ("Salimans", "2016", "Improved Techniques for Training {GANs}"),
    ("Karras", "2018", "Progressive Growing of {GANs}"),
    ("Lin", "2018", "{PacGAN}: The Power of Two Samples"),
    ("Mao", "2017", "Least Squares Generative Adversarial Networks"),
    ("Heusel", "2017", "Two Time-Scale Update Rule Converge to a Local {Nash} Equilibrium"),
    ("Ronneberger", "2015", "{U-Net}: Convolutional Networks for Biomedical Image Segmentation"),
]
CITATION = re.compile(
    r"\b([A-Z][A-Za-z\-]+)(?: et al\.| and [A-Z][A-Za-z\-]+)[,\s]*\(?\s*(\d{4})\b"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Replace the suite's no-network guard: these tests talk to the local web server and to chromedriver, so
    connections to the loopback address are allowed, and every other one fails at once."""
    allow_loopback_only(monkeypatch)


def missing_tools() -> list[str]:
    """Return what the build and browser tests need but this machine lacks."""
    missing = []
    for package in ("jupyter-book", "sphinx-mathjax-offline", "selenium"):
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            missing.append(f"the Python package {package} (pip install -e '.[dev,book]')")
    for program, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if not shutil.which(program):
            missing.append(f"{program} (apt-get install {package})")
    return missing


def require_tools() -> None:
    """Skip (fail in CI, where .ci/run installs everything) when the book's tools are missing."""
    missing = missing_tools()
    if missing:
        message = "the book test needs " + ", ".join(missing)
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


# ------------------------------------------------------------------------------------------- configuration
def bib_entries() -> list[dict[str, str]]:
    """Parse references.bib into entries with key, first author's surname, year and title."""
    text = (book.BOOK_DIR / "references.bib").read_text()
    entries = []
    for match in re.finditer(r"@\w+\{([^,]+),(.*?)\n\}", text, re.S):
        fields = dict(re.findall(r"(\w+)\s*=\s*\{(.*)\},?\s*$", match.group(2), re.M))
        surname = fields.get("author", "").split(",")[0].replace("{", "").replace("}", "").strip()
        entries.append(
            {
                "key": match.group(1).strip(),
                "surname": surname,
                "year": fields.get("year", ""),
                "title": fields.get("title", ""),
            }
        )
    return entries


def test_the_toc_lists_every_chapter_in_order():
    """Adding a chapter is one line in chapters/_toc.yml; a chapter file missing from it is caught here."""
    assert CHAPTERS == [p.stem for p in notebooks.chapter_sources()], (
        "chapters/_toc.yml and chapters/NN_*.py differ: add one line `- file: NN_topic` under Chapters"
    )
    for name in PAGES:
        assert any((book.BOOK_DIR / f"{name}{suffix}").exists() for suffix in (".md", ".ipynb")), (
            f"{name} is missing"
        )


def test_the_repository_url_is_configured_in_one_place():
    url = book.repository_url()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    skip = {"_build", "build", "data", ".git", "__pycache__", ".ipynb_checkpoints"}
    elsewhere = [
        p.relative_to(REPO_ROOT)
        for p in REPO_ROOT.rglob("*")
        if p.is_file()
        and not skip & set(p.relative_to(REPO_ROOT).parts)
        and p.name != "_config.yml"
        and p.suffix in (".py", ".md", ".yml", ".toml", ".ipynb", ".txt", "")
        and url in p.read_text(errors="ignore")
    ]
    assert not elsewhere, (
        f"the repository URL is written in {elsewhere}: read it from chapters/_config.yml instead"
    )
    config = book.book_config()
    assert config["execute"]["execute_notebooks"] == "off" and config["launch_buttons"]["colab_url"]
    assert config["launch_buttons"]["binderhub_url"]


def test_the_bibliography_has_every_paper_of_the_book():
    entries = bib_entries()
    assert len({e["key"] for e in entries}) == len(entries), "duplicate keys in references.bib"
    for surname, year, title in REQUIRED_PAPERS:
        assert any(
            e["surname"] == surname and e["year"] == year and title in e["title"] for e in entries
        ), f"references.bib lacks {surname} {year}: {title}"


def test_every_citation_in_the_chapters_is_in_the_bibliography():
    cited = {
        (m.group(1), m.group(2))
        for source in notebooks.chapter_sources()
        for kind, text in notebooks.cell_sources(source)
        if kind == "markdown"
        for m in CITATION.finditer(text)
    }
    assert ("Goodfellow", "2014") in cited, (
        "the citation pattern no longer matches the chapters' style"
    )
    known = {(e["surname"], e["year"]) for e in bib_entries()}
    assert not cited - known, (
        f"cited in the chapters but missing from chapters/references.bib: {sorted(cited - known)}"
    )


def test_every_paper_of_the_bibliography_is_cited():
    """The bibliography page lists every entry (:all:), so an entry that nothing cites is a stray."""
    pages = [notebooks.cell_sources(s) for s in notebooks.chapter_sources()]
    text = " ".join(t for cells in pages for kind, t in cells if kind == "markdown")
    text += " ".join(p.read_text() for p in (REPO_ROOT / "chapters").glob("*.md"))
    plain = " ".join(re.sub(r"[{}*`]", "", text).lower().split())
    stray = [
        e["key"]
        for e in bib_entries()
        if e["key"] not in text
        and " ".join(re.sub(r"[{}]", "", e["title"]).lower().split()[:4]) not in plain
    ]
    assert not stray, f"references.bib entries that no chapter or page cites: {stray}"


def test_the_ci_installs_the_book_tools_and_chromium():
    env = (REPO_ROOT / "tools" / "env.sh").read_text()
    assert ".[tools,dev,book]" in env and "chromium chromium-driver" in env
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "tools/env.sh --browser" in (REPO_ROOT / "Makefile").read_text()


# ------------------------------------------------------------------------------------------- static widgets
def progress_bar_notebook() -> nbformat.NotebookNode:
    """A notebook with one tqdm progress bar and one slider, as an executed notebook stores them."""
    state = {
        "box": {
            "model_name": "HBoxModel",
            "state": {"children": ["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]},
        },
        "left": {"model_name": "HTMLModel", "state": {"value": "main:\u2007100%"}},
        "bar": {"model_name": "FloatProgressModel", "state": {"value": 3000.0, "max": 3000.0}},
        "right": {
            "model_name": "HTMLModel",
            "state": {"value": "\u20073000/3000\u2007[00:23&lt;00:00,\u2007104.15it/s]"},
        },
        "slider": {
            "model_name": "FloatSliderModel",
            "state": {"description": "lr", "value": 0.005},
        },
    }
    view = "application/vnd.jupyter.widget-view+json"
    cell = nbformat.v4.new_code_cell(
        "train()",
        outputs=[
            nbformat.v4.new_output(
                "display_data", data={view: {"model_id": "box"}, "text/plain": "main:   0%|"}
            ),
            nbformat.v4.new_output(
                "display_data",
                data={view: {"model_id": "slider"}, "text/plain": "FloatSlider(...)"},
            ),
            nbformat.v4.new_output(
                "display_data",
                data={view: {"model_id": "gone"}, "text/plain": "VBox(children=...)"},
            ),
        ],
    )
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["widgets"] = {book.WIDGET_STATE: {"state": state}}
    return notebook


def test_widgets_become_static_output():
    notebook = book.static_notebook(progress_bar_notebook())
    bar, slider, unknown = notebook.cells[0].outputs
    assert (
        bar.output_type == "stream"
        and bar.text == "main: 100%|██████████| 3000/3000 [00:23<00:00, 104.15it/s]\n"
    )
    assert "lr = 0.005" in slider.data["text/html"] and book.WIDGET_VIEW not in slider.data
    assert "run the notebook in Jupyter" in unknown.data["text/plain"]
    assert "widgets" not in notebook.metadata


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapters_render_without_widget_views_or_remote_assets(chapter):
    text = (book.BOOK_DIR / f"{chapter}.ipynb").read_text()
    notebook = book.read_notebook(text)
    dumped = nbformat.writes(notebook)
    assert book.WIDGET_VIEW not in dumped and "widgets" not in notebook.metadata
    assert not book.REMOTE_ASSET.search(dumped), (
        "an output still loads a stylesheet or script from the network"
    )
    if book.WIDGET_VIEW in text:
        assert "Interactive controls" in dumped or "|" in dumped


def test_remote_stylesheets_and_scripts_are_removed_from_html_outputs():
    html = (
        '<link rel="stylesheet"\n href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">'
        '<script src="//cdn.example.org/x.js"></script><img src="data:image/png;base64,AAAA"><div>kept</div>'
    )
    assert book.offline_html(html) == '<img src="data:image/png;base64,AAAA"><div>kept</div>'


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_instructor_page_describes_each_chapter(chapter):
    """The generated section lists the chapter's exercises, answers, figures, metric ranges and grading rubric."""
    notebook = nbformat.read(book.BOOK_DIR / f"{chapter}.ipynb", as_version=4)
    info = book.inventory.inventory(notebook)
    text = book.chapter_markdown(chapter)
    scheme = book.assignment.chapter_points(chapter)
    for exercise in info["exercises"]:
        points = scheme["exercises"][exercise["number"]]
        assert f"| {exercise['label']} passes its checker (autograded) | {points} |" in text
    for check in book.hidden.registry()[chapter]:
        assert (
            f"hidden check `{check.name}` (autograded): {check.bug}".replace("|", "\\|")
            + f" | {check.points} |"
            in text
        )
    for answer in info["answers"]:
        assert f"Answer: {answer['label']} (read by hand" in text
        assert f"| {scheme['questions'][answer['label']]} |" in text
    for row in info["summary"]["metrics"]:
        assert f"| `{row['name']}` | [{row['expected'][0]:.4g}, {row['expected'][1]:.4g}] |" in text
    total = sum(points for _, points in book.rubric_points(info))
    assert (
        f"**Rubric** ({total} points)" in text
        and f"**Figures**: {sum(f['count'] for f in info['figures'])} in" in text
    )


# ------------------------------------------------------------------------------------------- the build
@pytest.fixture(scope="module")
def site() -> Path:
    """Build the book from scratch (offline, warnings as errors) once for this module; return the HTML folder."""
    require_tools()
    started = time.perf_counter()
    try:
        html_dir = book.build(clean=True)
    except book.BookError as err:
        pytest.fail(str(err), pytrace=False)
    print(f"\nbook built in {time.perf_counter() - started:.0f} s")
    return html_dir


def test_the_build_has_every_page_and_a_local_mathjax(site):
    for name in PAGES:
        assert (site / f"{name}.html").exists(), f"{name}.html was not built"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert not list(REPO_ROOT.glob("chapters/_static/**/tex-chtml.js")), (
        "MathJax must not be committed"
    )
    for page in site.glob("*.html"):
        remote = re.findall(
            r"<(?:script|link)\b[^>]*(?:src|href)=\"(?:https?:)?//[^\"]+\"[^>]*>", page.read_text()
        )
        remote = [
            tag for tag in remote if "<link" not in tag or "stylesheet" in tag or "preload" in tag
        ]
        assert not remote, f"{page.name} loads assets from the network: {remote[:2]}"


class QuietHandler(SimpleHTTPRequestHandler):
    """Serve the site without logging every request."""

    def log_message(self, *args) -> None:
        """Stay silent."""


@pytest.fixture(scope="module")
def browser(site):
    """Serve the site on 127.0.0.1 and drive headless Chromium; yield (driver, base URL)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):  # nothing else resolves
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=shutil.which("chromedriver"))
    )
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        driver.quit()
        server.shutdown()


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
if (!document.querySelector('script[src*="mathjax"]')) { done('no maths on this page'); return; }
const started = Date.now();
(function wait() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'), (e) => done('MathJax failed: ' + e));
  } else if (Date.now() - started > 30000) { done('MathJax never started'); }
  else { setTimeout(wait, 50); }
})();"""

PAGE_FACTS = """
const maths = Array.from(document.querySelectorAll('.math'));
return {
  maths: maths.length,
  typeset: maths.filter((e) => e.querySelector('mjx-container')).length,
  mathErrors: document.querySelectorAll('mjx-merror').length,
  images: document.querySelectorAll('article img').length,
  links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href),
  widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  text: document.body.innerText,
  height: Math.ceil(document.documentElement.scrollHeight),
};"""

LOAD_IMAGES = """
const done = arguments[arguments.length - 1];
Promise.all(Array.from(document.images).map((img) => { img.loading = 'eager';
  return img.decode().then(() => null, () => img.currentSrc.slice(0, 120) || '(no src)'); }))
  .then((failed) => done(failed.filter((x) => x)));"""


def save_screenshots(driver, name: str, height: int, tile: int = 8000) -> list[Path]:
    """Save the whole page as PNG tiles of at most `tile` pixels high: NAME.png, NAME-2.png, ..."""
    paths = []
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": min(height, tile), "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        for index, top in enumerate(range(0, height, tile)):
            driver.execute_script(f"window.scrollTo(0, {top});")
            time.sleep(0.3)
            data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"]
            path = SCREENSHOTS / (f"{name}.png" if index == 0 else f"{name}-{index + 1}.png")
            path.write_bytes(base64.b64decode(data))
            paths.append(path)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return paths


@pytest.fixture(scope="module")
def visit(browser):
    """visit(page) -> what the browser saw on that page (cached): maths, images, links, requests, console, shots."""
    driver, base = browser
    seen: dict[str, dict] = {}

    def load(name: str) -> dict:
        if name not in seen:
            driver.get_log("performance")  # forget earlier pages' events
            driver.get_log("browser")
            driver.get(f"{base}/{name}.html")
            mathjax = driver.execute_async_script(WAIT_FOR_MATHJAX)
            broken_images = driver.execute_async_script(LOAD_IMAGES)
            facts = driver.execute_script(PAGE_FACTS)
            events = [
                json.loads(entry["message"])["message"] for entry in driver.get_log("performance")
            ]
            requests = [
                e["params"]["request"]["url"]
                for e in events
                if e["method"] == "Network.requestWillBeSent"
            ]
            console = [
                entry["message"]
                for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE"
            ]
            shots = save_screenshots(driver, name, facts["height"])
            seen[name] = {
                **facts,
                "mathjax": mathjax,
                "broken_images": broken_images,
                "requests": requests,
                "console": console,
                "screenshots": shots,
                "base": base,
            }
        return seen[name]

    return load


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_with_maths_and_figures(page, visit):
    facts = visit(page)
    outside = [
        url
        for url in facts["requests"]
        if urllib.parse.urlsplit(url).scheme in ("http", "https", "ws", "wss")
        and not url.startswith(facts["base"] + "/")
    ]
    assert not outside, f"{page}: requests leave the machine: {outside[:3]}"
    assert not facts["console"], f"{page}: errors in the browser console: {facts['console'][:3]}"
    if facts["maths"]:
        assert facts["mathjax"] == "typeset", f"{page}: {facts['mathjax']}"
        assert facts["typeset"] == facts["maths"] and facts["mathErrors"] == 0, (
            f"{page}: {facts['maths'] - facts['typeset']} formulas not typeset, {facts['mathErrors']} MathJax errors"
        )
    assert not facts["broken_images"], (
        f"{page}: images that do not load: {facts['broken_images'][:3]}"
    )
    assert facts["screenshots"] and all(p.stat().st_size > 10_000 for p in facts["screenshots"])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_pages_show_outputs_statically_with_launch_buttons(chapter, visit):
    facts = visit(chapter)
    assert facts["maths"] > 0 and facts["images"] > 0, (
        f"{chapter}: no maths or no figures on the page"
    )
    assert (
        facts["widgetViews"] == 0
        and "model_id" not in facts["text"]
        and "widget-view" not in facts["text"]
    )
    assert "Results summary" in facts["text"] and "Run record" in facts["text"]
    config, url = book.book_config(), book.repository_url()
    repo_path = urllib.parse.urlsplit(url).path.strip("/")
    branch, folder = config["repository"]["branch"], config["repository"]["path_to_book"]
    colab = f"{config['launch_buttons']['colab_url']}/github/{repo_path}/blob/{branch}/{folder}/{chapter}.ipynb"
    binder = f"{config['launch_buttons']['binderhub_url']}/v2/gh/{repo_path}/{branch}?urlpath="
    assert colab in facts["links"], f"{chapter}: no Colab button pointing at {colab}"
    assert any(
        link.startswith(binder) and link.endswith(f"{folder}/{chapter}.ipynb")
        for link in facts["links"]
    )
    assert f"{facts['base']}/_sources/{chapter}.ipynb" in facts["links"], (
        "no download button for the notebook"
    )
    assert url in facts["links"], "no repository button"
    assert f"{chapter}.ipynb" in visit("instructor")["text"], (
        f"the instructor page has no section for {chapter}"
    )


def test_internal_links_resolve(visit):
    """Every same-site link of every page leads to a page that exists and, with a #fragment, to that anchor."""
    targets = {}
    for page in PAGES:
        facts = visit(page)
        for link in facts["links"]:
            if link.startswith(facts["base"] + "/"):
                targets.setdefault(link, page)
    assert len(targets) > len(PAGES), "too few internal links found"
    pages: dict[str, str] = {}
    broken = []
    for link, page in sorted(targets.items()):
        address, _, fragment = link.partition("#")
        if address not in pages:
            try:
                with urllib.request.urlopen(address, timeout=10) as response:
                    pages[address] = (
                        response.read().decode(errors="ignore") if address.endswith(".html") else ""
                    )
            except OSError as err:
                broken.append(f"{page}: {link} ({err})")
                continue
        if (
            fragment
            and address.endswith(".html")
            and f'id="{urllib.parse.unquote(fragment)}"' not in pages[address]
        ):
            broken.append(f"{page}: {link} (no element with id {fragment!r})")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:10])
