"""The rendered book: build it offline, and the Sphinx extension that its `chapters/_config.yml` loads.

    labbook book            # chapters/_build/html/index.html, warnings are errors
    labbook book --clean    # the same from scratch

The extension (`sphinx: extra_extensions: [labbook.book]` in `_config.yml`)

* reads every notebook through `read_notebook`, which replaces ipywidgets views by static output: a tqdm
  progress bar becomes its final text line, other widgets a static description of their controls;
* copies MathJax from the installed `sphinx-mathjax-offline` package into `_static/mathjax`, so that pages
  typeset their maths with no network;
* provides the instructor page's directives `labbook-chapter` (one chapter's inventory and rubric) and
  `labbook-other-chapters` (the same for every chapter of the toc without its own section).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
from nbformat import NotebookNode

from labutils.settings import REPO_ROOT

from . import assignment, hidden, inventory
from .chapters import BOOK_DIR, book_config, toc_chapters, toc_files  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

BUILD_DIR = BOOK_DIR / "_build"
HTML_DIR = BUILD_DIR / "html"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


class BookError(RuntimeError):
    """The book cannot be built: a missing tool or file, or a build that failed."""


# ----------------------------------------------------------------------------------------------- configuration
def repository_url(book_dir: Path = BOOK_DIR) -> str:
    """Return the repository URL, configured once in _config.yml (repository: url)."""
    return book_config(book_dir)["repository"]["url"].rstrip("/")


# ----------------------------------------------------------------------------------------------- static widgets
def _strip_tags(text: str) -> str:
    """Return the plain text of a small HTML fragment (as tqdm writes into its widgets)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text)).replace("\u2007", " ")


def _model(state: dict[str, Any], reference: str) -> dict[str, Any] | None:
    """Return the widget model that an 'IPY_MODEL_<id>' reference (or a bare id) points at."""
    return state.get(reference.removeprefix("IPY_MODEL_"))


def progress_text(state: dict[str, Any], model_id: str) -> str | None:
    """Return the final text line of a tqdm progress bar widget, or None if the model is not one."""
    box = _model(state, model_id)
    if not box or box.get("model_name") != "HBoxModel":
        return None
    children = [_model(state, child) or {} for child in box["state"].get("children", [])]
    names = [child.get("model_name") for child in children]
    if (
        len(children) != 3
        or names[1] != "FloatProgressModel"
        or names[0] != "HTMLModel"
        or names[2] != "HTMLModel"
    ):
        return None
    left, bar, right = (child.get("state", {}) for child in children)
    fraction = (bar.get("value") or 0) / bar["max"] if bar.get("max") else 0.0
    filled = max(0, min(10, int(fraction * 10)))
    prefix, suffix = _strip_tags(left.get("value", "")).strip(), _strip_tags(right.get("value", ""))
    return f"{prefix}|{'█' * filled}{' ' * (10 - filled)}|{suffix}"


def _control_text(model: dict[str, Any]) -> str | None:
    """Describe one control widget (slider, dropdown, button...) as 'label = value', or None for containers."""
    name, state = model.get("model_name", ""), model.get("state", {})
    label = state.get("description") or name.removesuffix("Model")
    if name == "ButtonModel":
        return f"[{label}]"
    if "_options_labels" in state and state.get("index") is not None:
        return f"{label} = {state['_options_labels'][state['index']]}"
    if "value" in state and name not in ("HTMLModel", "LabelModel", "HTMLMathModel"):
        value = state["value"]
        return f"{label} = {value:g}" if isinstance(value, float) else f"{label} = {value}"
    return None


def widget_description(state: dict[str, Any], model_id: str) -> str | None:
    """Return the controls inside a widget (recursively), as 'label = value' items, or None if unknown."""
    root = _model(state, model_id)
    if root is None:
        return None
    items: list[str] = []

    def walk(model: dict[str, Any]) -> None:
        """Collect the controls of model and of its children."""
        text = _control_text(model)
        if text:
            items.append(text)
        for child in model.get("state", {}).get("children", []):
            if (child_model := _model(state, child)) is not None:
                walk(child_model)

    walk(root)
    return "; ".join(items) if items else None


def static_output(output: NotebookNode, state: dict[str, Any]) -> NotebookNode | None:
    """Return a static replacement for a widget-view output (None to drop it); other outputs as they are."""
    data = output.get("data", {})
    if WIDGET_VIEW not in data:
        return output
    model_id = data[WIDGET_VIEW].get("model_id", "")
    text = progress_text(state, model_id)
    if text is not None:
        return nbformat.v4.new_output("stream", name="stderr", text=text + "\n")
    controls = widget_description(state, model_id)
    if controls is not None:
        html_text = (
            '<div class="labbook-static-widget"><p><em>Interactive controls, live when the notebook runs '
            "in Jupyter (here with their default values):</em> "
            + html.escape(controls)
            + "</p></div>"
        )
        return nbformat.v4.new_output(
            "display_data",
            data={"text/html": html_text, "text/plain": f"Interactive controls: {controls}"},
        )
    plain = data.get("text/plain", "")
    if re.match(r"^[A-Za-z]*Box\(|^[A-Z][A-Za-z]+\(", plain) or not plain.strip():
        return nbformat.v4.new_output(
            "display_data",
            data={"text/plain": "(interactive widget: run the notebook in Jupyter to use it)"},
        )
    return nbformat.v4.new_output("display_data", data={"text/plain": plain})


REMOTE_ASSET = re.compile(
    r"""<link\b[^>]*\bhref=["'](?:https?:)?//[^>]*>|<script\b[^>]*\bsrc=["'](?:https?:)?//[^>]*>\s*</script>""",
    re.I,
)


def offline_html(text: str) -> str:
    """Remove the stylesheets and scripts an HTML output would fetch from the network."""
    # e.g. matplotlib's animations link Font Awesome from a CDN; the theme ships its own copy of those icons
    return REMOTE_ASSET.sub("", text)


def static_notebook(notebook: NotebookNode) -> NotebookNode:
    """Make a notebook render with no network and no kernel: static widgets, no widget state, no remote assets."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [
            new for output in cell.outputs if (new := static_output(output, state)) is not None
        ]
        for output in cell.outputs:
            data = output.get("data", {})
            if "text/html" in data:
                data["text/html"] = offline_html("".join(data["text/html"]))
    notebook.metadata.pop("widgets", None)
    return notebook


def read_notebook(text: str) -> NotebookNode:
    """myst-nb reader for .ipynb files (nb_custom_formats): the notebook made static and offline."""
    return static_notebook(nbformat.reads(text, as_version=4))


# ----------------------------------------------------------------------------------------------- MathJax
def mathjax_dir() -> Path:
    """Return the folder of MathJax 3 shipped by the sphinx-mathjax-offline package (a book dependency)."""
    try:
        distribution = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError:
        raise BookError(
            'MathJax is missing: install the book\'s dependencies with `pip install -e ".[book]"` '
            "(the sphinx-mathjax-offline package ships MathJax for offline pages)."
        ) from None
    folder = Path(distribution.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / "tex-chtml.js").exists():
        raise BookError(f"MathJax not found in {folder}: reinstall sphinx-mathjax-offline.")
    return folder


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """Sphinx build-finished hook: copy MathJax into the site's _static folder."""
    if exception is None and app.builder.format == "html":
        shutil.copytree(mathjax_dir(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def _configure(app: Sphinx, config: Config) -> None:
    """Sphinx config-inited hook: insist on the local MathJax, and offer {{ repository_url }} to the pages."""
    if re.match(r"^(https?:)?//", config.mathjax_path or ""):
        raise BookError(
            f"mathjax_path is {config.mathjax_path!r}: the book serves MathJax locally "
            "(mathjax_path: mathjax/tex-chtml.js in chapters/_config.yml)."
        )
    mathjax_dir()
    substitutions = dict(config.myst_substitutions or {})
    substitutions.setdefault("repository_url", config.html_theme_options.get("repository_url", ""))
    config.myst_substitutions = substitutions


# ----------------------------------------------------------------------------------------------- instructor page
def _chapter_notebook(chapter: str, book_dir: Path = BOOK_DIR) -> NotebookNode:
    """Read a chapter's committed notebook (its full-profile outputs)."""
    path = book_dir / f"{chapter}.ipynb"
    if not path.exists():
        raise BookError(
            f"the instructor page names chapter {chapter!r}, but {path} does not exist."
        )
    return nbformat.read(path, as_version=4)


def rubric_points(info: dict[str, Any]) -> list[tuple[str, int]]:
    """Return a chapter's rubric as (criterion, points): the points of labbook/points.yml and the hidden checks."""
    scheme = assignment.chapter_points(info["chapter"])
    checks = hidden.registry().get(info["chapter"], [])
    rows = []
    for e in info["exercises"]:
        number = e["number"]
        rows.append(
            (f"{e['label']} passes its checker (autograded)", scheme["exercises"].get(number, 0))
        )
        rows += [
            (
                f"{e['label']}, hidden check `{c.name}` (autograded): {c.bug}".replace("|", "\\|"),
                c.points,
            )
            for c in checks
            if c.exercise == number
        ]
    rows += [
        (
            f"Answer: {a['label']} (read by hand: correct and argued from the chapter's results)",
            scheme["questions"].get(a["label"], 0),
        )
        for a in info["answers"]
    ]
    return rows


def chapter_markdown(chapter: str, book_dir: Path = BOOK_DIR) -> str:
    """Return the Markdown of a chapter's inventory (exercises, answers, figures, numbers) and rubric table."""
    info = inventory.inventory(_chapter_notebook(chapter, book_dir))
    lines = [
        f"**What a complete report contains** (from the committed notebook `{chapter}.ipynb`):",
        "",
    ]
    exercises = (
        ", ".join(
            f"{e['label']} ({', '.join(f'`{c}`' for c in e['checkers']) or 'no checker'})"
            for e in info["exercises"]
        )
        or "none"
    )
    lines.append(
        f"* **Exercises with checkers**: {exercises}; each prints `[pass]`, and grading re-runs it."
    )
    if info["open_exercises"]:
        lines.append(
            "* **Open exercises**: "
            + ", ".join(f"Exercise {n}" for n in info["open_exercises"])
            + "; graded by reading the student's code and measurements."
        )
    lines.append(
        "* **Answers** (cells tagged `solution` here, `answer` in the student edition): "
        + (", ".join(a["label"] for a in info["answers"]) or "none")
        + "."
    )
    sections = sorted(
        {f["section"] for f in info["figures"]},
        key=lambda s: [f["section"] for f in info["figures"]].index(s),
    )
    lines.append(
        f"* **Figures**: {sum(f['count'] for f in info['figures'])} in {len(info['figures'])} cells, in: "
        + "; ".join(sections)
        + "."
    )
    if info["summary"]:
        lines += [
            "* **Numbers**: the results summary at the end of the chapter, with these full-profile ranges:",
            "",
            "  | metric | expected range | committed value |",
            "  |---|---|---|",
        ]
        for row in info["summary"]["metrics"]:
            value = "missing" if row["value"] is None else f"{row['value']:.4g}"
            lines.append(
                f"  | `{row['name']}` | [{row['expected'][0]:.4g}, {row['expected'][1]:.4g}] | {value} |"
            )
    else:
        lines.append("* **Numbers**: this chapter has no results summary yet (`lu.finish`).")
    rubric = rubric_points(info)
    lines += [
        "",
        f"**Rubric** ({sum(p for _, p in rubric)} points):",
        "",
        "| criterion | points |",
        "|---|---|",
    ]
    lines += [f"| {criterion} | {points} |" for criterion, points in rubric]
    return "\n".join(lines) + "\n"


def _directives() -> tuple[type, type]:
    """Create the instructor page's directives (imported lazily: Sphinx is only needed to build the book)."""
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class ChapterDirective(SphinxDirective):
        """```{labbook-chapter} 01_minimax``` : the chapter's inventory and suggested rubric."""

        required_arguments = 1

        def run(self) -> list:
            """Parse the generated Markdown of the chapter named by the argument."""
            chapter = self.arguments[0]
            book_dir = Path(self.env.srcdir)
            self.env.note_dependency(str(book_dir / f"{chapter}.ipynb"))
            container = nodes.container()
            self.state.nested_parse(
                StringList(chapter_markdown(chapter, book_dir).splitlines()),
                self.content_offset,
                container,
            )
            return container.children

    class OtherChaptersDirective(SphinxDirective):
        """```{labbook-other-chapters}``` : the same for every toc chapter that has no labbook-chapter section."""

        def run(self) -> list:
            """Find the chapters the page does not cover yet and emit their inventories."""
            book_dir = Path(self.env.srcdir)
            page = Path(self.state.document.current_source).read_text()
            covered = set(re.findall(r"```\{labbook-chapter\}\s+(\S+)", page))
            missing = [c for c in toc_chapters(book_dir) if c not in covered]
            text = []
            for chapter in missing:
                self.env.note_dependency(str(book_dir / f"{chapter}.ipynb"))
                title = inventory.chapter_title(_chapter_notebook(chapter, book_dir)) or chapter
                text += [
                    f"**{title}** (generated: no marking notes written for this chapter yet)",
                    "",
                    chapter_markdown(chapter, book_dir),
                    "",
                ]
            if not missing:
                text = ["Every chapter of the table of contents has its own section above."]
            container = nodes.container()
            self.state.nested_parse(
                StringList("\n".join(text).splitlines()), self.content_offset, container
            )
            return container.children

    return ChapterDirective, OtherChaptersDirective


def _unique_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Sphinx html-page-context hook: drop repeated scripts, which browsers report as redeclared constants."""
    # sphinx-thebe's configuration is added twice, once through Jupyter Book and once through sphinx-book-theme
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (
            str(
                getattr(script, "filename", script) or ""
            ),  # an inline script's filename is None or ''
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    """Sphinx entry point of the extension."""
    chapter_directive, other_directive = _directives()
    app.add_directive("labbook-chapter", chapter_directive)
    app.add_directive("labbook-other-chapters", other_directive)
    app.connect("config-inited", _configure)
    app.connect("build-finished", _copy_mathjax)
    app.connect(
        "html-page-context", _unique_scripts, priority=999
    )  # after the handlers that add scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}


# ----------------------------------------------------------------------------------------------- build command
def jupyter_book_command() -> list[str]:
    """Return the command that runs this environment's Jupyter Book 1, or raise BookError if it is missing."""
    try:
        version = metadata.version("jupyter-book")
    except metadata.PackageNotFoundError:
        raise BookError(
            'jupyter-book is not installed: `pip install -e ".[book]"` installs the book\'s tools.'
        ) from None
    if not version.startswith("1."):
        raise BookError(
            f"the book needs Jupyter Book 1 (Sphinx); this environment has jupyter-book {version}. "
            '`pip install -e ".[book]"` installs the right one.'
        )
    return [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build(clean: bool = False, book_dir: Path = BOOK_DIR, quiet: bool = True) -> Path:
    """Build the HTML book offline with warnings as errors; return the folder of index.html."""
    command = jupyter_book_command()
    mathjax_dir()
    if clean:
        shutil.rmtree(book_dir / "_build", ignore_errors=True)
    args = [
        *command,
        "build",
        str(book_dir),
        "--builder",
        "html",
        "--warningiserror",
        "--keep-going",
    ]
    if quiet:
        args.append("--quiet")
    result = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        log = (
            re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).strip().splitlines()
        )  # no colour codes
        warnings = [line for line in log if "WARNING" in line or "ERROR" in line]
        raise BookError("the book build failed:\n" + "\n".join((warnings or log)[-40:]))
    return book_dir / "_build" / "html"
