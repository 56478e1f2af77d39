"""The project as a whole: paired notebooks in sync, committed full-profile outputs, dependency files, README."""

from __future__ import annotations

import ast
import re
import tomllib

import nbformat
import pytest
import yaml

from labbook import notebooks
from labutils.settings import REPO_ROOT
from labutils.summary import EXPECTED_FILE

CHAPTERS = notebooks.chapter_sources()
CHAPTER_IDS = [p.stem for p in CHAPTERS]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2, "chapters/NN_topic.py sources are missing"


@pytest.mark.parametrize("source", CHAPTERS, ids=CHAPTER_IDS)
def test_pair_in_sync(source):
    """The .ipynb has exactly the cells of its py:percent source (edit the .py, then run the execute command)."""
    assert notebooks.out_of_sync(source) is None, notebooks.out_of_sync(source)


def test_out_of_sync_is_detected(tmp_path):
    source = tmp_path / "01_demo.py"
    source.write_text("# %%\nx = 1\n\n# %% [markdown]\n# Hello\n")
    assert "missing" in notebooks.out_of_sync(source)
    notebooks.sync(source)
    assert notebooks.out_of_sync(source) is None
    source.write_text("# %%\nx = 2\n\n# %% [markdown]\n# Hello\n")
    assert "cell 0 differs" in notebooks.out_of_sync(source)
    source.write_text("# %%\nx = 2\n")
    notebooks.sync(source)
    source.write_text("# %%\nx = 2\n\n# %%\ny = 3\n")
    assert "has 2 cells" in notebooks.out_of_sync(source)


@pytest.mark.parametrize("source", CHAPTERS, ids=CHAPTER_IDS)
def test_committed_outputs_come_from_a_full_profile_run(source):
    """Every code cell ran, without errors, in the full profile, and the run record is there."""
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "some cells were not executed"
    outputs = [o for c in code_cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], (
        "the committed notebook contains an error"
    )
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "profile     : full" in text, "the committed outputs are not from the full profile"
    assert re.search(r"Run record: .*\n  profile full on ", text), "the run record cell is missing"
    assert "wall time" in text and "versions:" in text


@pytest.mark.parametrize("source", CHAPTERS, ids=CHAPTER_IDS)
def test_outputs_were_computed_from_the_current_source(source):
    """`execute` stamps the hash of the cells it ran: an edit synced without re-executing is caught here."""
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    stamp = notebook.metadata.get("labbook", {})
    assert stamp.get("profile") == "full", "run `labbook execute` (full profile)"
    assert stamp.get("executed_source_sha256") == notebooks.source_hash(source), (
        f"{source.name} changed since its outputs were computed: run `labbook execute "
        f"{source.stem[:2]}`"
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=CHAPTER_IDS)
def test_notebooks_stay_lean(source):
    size = source.with_suffix(".ipynb").stat().st_size
    assert size < 2_500_000, (
        f"{source.stem}.ipynb is {size / 1e6:.1f} MB: lower figure dpi or animation frames"
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_structure(source):
    """Each chapter sets up labutils, has a settings cell and ends with one results tail, lu.finish."""
    text = source.read_text()
    assert f'lu.setup("{source.stem}"' in text
    assert "## Settings" in text
    cells = [c for c in re.split(r"^# %%.*$", text, flags=re.M) if c.strip()]
    assert cells[-1].lstrip().startswith("summary = lu.finish(metrics, exercises="), (
        "the last cell must be the results tail: summary = lu.finish(metrics, exercises={...})"
    )
    for repeated in ("lu.save_metrics(", "lu.run_record(", "lu.results_summary(", "expected = {"):
        assert repeated not in text, f"{repeated} is part of lu.finish: do not repeat the tail"
    assert source.stem in tomllib.loads(EXPECTED_FILE.read_text()), (
        f"labutils/expected.toml has no [{source.stem}] table"
    )
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "nn.BCELoss" not in code and "torch.log(torch.sigmoid" not in code, (
        "use BCEWithLogitsLoss / logits"
    )
    assert "nn.Sigmoid()" not in code, "models output logits; the sigmoid belongs in the loss"


def _hidden_displays(cell_source: str) -> list[int]:
    """Lines of calls that return something to display (lu.show_table) but are not the cell's last statement."""
    tree = ast.parse(cell_source)
    return [
        node.lineno
        for node in tree.body[:-1]
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) in ("lu.show_table", "lu.results_summary")
    ]


def test_hidden_display_detector():
    assert _hidden_displays("x = 1\nlu.show_table(rows)\nprint(x)\n") == [2]
    assert _hidden_displays("print(1)\nlu.show_table(rows)\n") == []
    assert _hidden_displays("display(lu.show_table(rows))\nprint(1)\n") == []


@pytest.mark.parametrize("source", CHAPTERS, ids=CHAPTER_IDS)
def test_tables_are_displayed(source):
    """A table returned in the middle of a cell is silently dropped: it must end the cell or go through display()."""
    cells = re.split(r"^# %%.*$", source.read_text(), flags=re.M)
    hidden = [(index, line) for index, cell in enumerate(cells) for line in _hidden_displays(cell)]
    assert not hidden, (
        f"{source.name}: lu.show_table(...) not displayed in cells (cell, line) {hidden}; wrap it in display()"
    )


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    """Map normalised package names to their version specifiers."""
    result = {}
    for requirement in requirements:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
        name = {"pytorch": "torch"}.get(match.group(1).lower(), match.group(1).lower()).replace(
            "_", "-"
        )
        result[name] = match.group(2).replace(" ", "")
    return result


def test_environment_yml_matches_pyproject():
    """environment.yml installs the dependencies and every extra (dev, book) with the same ranges, by conda or pip."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(extras) == {"tools", "dev", "book"}, (
        f"new extra {set(extras) - {'tools', 'dev', 'book'}}: add it to environment.yml"
    )
    wanted = _requirement_names(
        project["dependencies"] + extras["tools"] + extras["dev"] + extras["book"]
    )
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [d for d in environment["dependencies"] if isinstance(d, dict)][0]["pip"]
    have = {
        k: v
        for k, v in _requirement_names(conda + [d for d in pip if d != "-e ."]).items()
        if k not in ("python", "pip")
    }
    assert have == wanted, (
        f"environment.yml differs from pyproject.toml: {set(have.items()) ^ set(wanted.items())}"
    )
    assert "-e ." in pip, "environment.yml must install labutils itself (pip: -e .)"


def test_torch_is_a_range_that_admits_the_tested_pair():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = _requirement_names(project["dependencies"])
    from packaging.specifiers import SpecifierSet

    assert "==" not in specs["torch"] and "==" not in specs["torchvision"]
    assert "2.14.1" in SpecifierSet(specs["torch"]) and "0.29.1" in SpecifierSet(
        specs["torchvision"]
    )


def test_readme_covers_every_chapter_and_setting():
    readme = (REPO_ROOT / "README.md").read_text()
    for chapter in CHAPTER_IDS:
        assert chapter in readme, f"README does not mention {chapter}"
    for variable in (
        "LABBOOK_PROFILE",
        "LABBOOK_DEVICE",
        "LABBOOK_DATA",
        "LABBOOK_CHECKPOINTS",
        "LABBOOK_RESULTS",
        "LABBOOK_RETRAIN",
    ):
        assert variable in readme, f"README does not document {variable}"
    assert "labbook execute" in readme and "pytest" in readme


def test_ci_runs_the_readme_test_command():
    """CI runs what a newcomer runs: `make test`, whose last step is the README's test command."""
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "../shared/data" in ci and "LABBOOK_DATA" in ci
    makefile = (REPO_ROOT / "Makefile").read_text()
    test_target = makefile.split("\ntest:", 1)[1]
    assert "python -m pytest" in test_target and "ruff check" in test_target
    assert "../shared/data" in (REPO_ROOT / "tools" / "env.sh").read_text()


def _imported_modules(path) -> set[str]:
    """The top-level names of every module a Python file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imports_point_one_way_labbook_to_labutils():
    """The chapters import labutils; labutils never imports the tools (labbook) nor the tools' dependencies."""
    for path in sorted((REPO_ROOT / "labutils").rglob("*.py")):
        forbidden = _imported_modules(path) & {
            "labbook",
            "nbformat",
            "nbclient",
            "nbgrader",
            "yaml",
        }
        assert not forbidden, f"{path.relative_to(REPO_ROOT)} imports {sorted(forbidden)}"
    import subprocess
    import sys

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, labutils; print(sorted({m.split('.')[0] for m in "
            "sys.modules} & {'labbook', 'nbformat', 'nbclient', 'nbgrader'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]", f"importing labutils loads {loaded}"
    for chapter in CHAPTERS:
        assert "labbook" not in _imported_modules(chapter), f"{chapter.name} imports the tools"


def test_no_old_module_commands_are_left():
    """The tools run through the `labbook` command; no `python -m labutils.X` is documented anywhere."""
    files = [
        REPO_ROOT / "README.md",
        REPO_ROOT / ".ci" / "run",
        *(REPO_ROOT / "chapters").glob("*.md"),
        REPO_ROOT / "chapters" / "_config.yml",
        *(REPO_ROOT / "labbook").rglob("*.py"),
    ]
    for path in files:
        assert "python -m labutils" not in path.read_text(), (
            f"{path.relative_to(REPO_ROOT)} names an old command"
        )


@pytest.mark.parametrize("command", ["execute", "sync", "check", "book", "handout", "grade"])
def test_every_labbook_subcommand_has_help(command, capsys):
    from labbook import cli

    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0 and f"labbook {command}" in capsys.readouterr().out
