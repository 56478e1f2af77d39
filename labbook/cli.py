"""The `labbook` command: one entry point for the book's tools (`labbook --help`, `labbook SUBCOMMAND --help`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from labutils.settings import REPO_ROOT


def _chapters_argument(parser: argparse.ArgumentParser) -> None:
    """Add the optional chapter-prefix arguments shared by several subcommands."""
    parser.add_argument(
        "chapters", nargs="*", help="chapter name prefixes, e.g. 01 02 (default: every chapter)"
    )


def _shown(path: Path) -> str:
    """Return path relative to the working directory when it is inside it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def cmd_execute(args: argparse.Namespace) -> int:
    """Sync each chapter's .ipynb from its .py and execute it (the committed outputs: full profile)."""
    from . import chapters, notebooks

    sources = chapters.chapter_sources(args.chapters)
    if not sources:
        print(f"error: no chapter of chapters/_toc.yml matches {args.chapters}", file=sys.stderr)
        return 2
    profile = os.environ.setdefault("LABBOOK_PROFILE", "full")
    for source in sources:
        twin = notebooks.sync(source)
        if args.command == "sync":
            print(f"synced {twin.name}")
            continue
        print(f"executing {twin.name} (profile {profile})...", flush=True)
        seconds = notebooks.execute(twin)
        print(f"  done in {seconds:.1f} s -> {twin.relative_to(REPO_ROOT)}", flush=True)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Say whether every chapter's .py / .ipynb pair is in sync."""
    from . import chapters, notebooks

    sources = chapters.chapter_sources(args.chapters)
    problems = [(s.name, why) for s in sources if (why := notebooks.out_of_sync(s))]
    for name, why in problems:
        print(f"out of sync: {name}: {why}")
    print(f"{len(sources) - len(problems)} of {len(sources)} chapter pairs in sync")
    return 1 if problems else 0


def cmd_book(args: argparse.Namespace) -> int:
    """Build the rendered book offline (warnings are errors)."""
    from . import book

    started = time.perf_counter()
    try:
        html_dir = book.build(clean=args.clean)
    except book.BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"built the book in {time.perf_counter() - started:.0f} s: {html_dir / 'index.html'}")
    print(
        f"read it offline: python -m http.server --directory {html_dir.relative_to(REPO_ROOT)} 8000 --bind 127.0.0.1"
    )
    return 0


def cmd_handout(args: argparse.Namespace) -> int:
    """Build the student handout (nbgrader's release) into a folder and a zip."""
    from . import course, handout

    try:
        built = handout.build(args.out, args.chapters, zip_it=not args.no_zip)
    except (course.CourseError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"handout of {len(built['chapters'])} chapters: {_shown(built['folder'])}"
        + (f" and {_shown(built['zip'])}" if built["zip"] else "")
    )
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    """Re-execute and grade every submission (nbgrader autograde); write grades, feedback and a summary."""
    from . import course, grading

    try:
        results = grading.grade(
            args.submitted,
            args.out,
            profile=args.profile,
            jobs=args.jobs,
            cell_timeout=args.cell_timeout,
            notebook_timeout=args.notebook_timeout,
            prefixes=args.chapters or None,
        )
    except course.CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for r in results:
        print(
            f"{r['student']:>16s} {r['chapter']}: {r['status']}, {r['auto_points']:g} of {r['auto_max']:g} "
            f"autograded points ({r['seconds']:.0f} s)"
        )
    print(
        f"{len(results)} submissions -> {_shown(args.out / 'grades.csv')}, {_shown(args.out / 'summary.md')}, "
        f"{_shown(args.out / 'feedback')}/"
    )
    return 0


def cmd_gpu_check(args: argparse.Namespace) -> int:
    """Run every chapter through nbval and in the full profile on a device, in a time budget; write a summary."""
    from . import gpu_check

    report = gpu_check.check(
        args.out,
        args.time_limit,
        device=args.device,
        prefixes=args.chapters or None,
        smoke_only=args.smoke_only,
        profile=args.profile,
    )
    stages = [
        r
        for row in report["chapters"].values()
        for r in row.values()
        if isinstance(r, dict) and "status" in r
    ]
    failed = [r for r in stages if r["status"] == "fail"]
    print(f"{len(stages)} stages run, {len(failed)} failed -> {_shown(args.out / 'summary.md')}")
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser of `labbook` and its subcommands."""
    main_parser = argparse.ArgumentParser(
        prog="labbook",
        description="The GAN lab book's tools: execute and check the "
        "chapters, build the book, make the student handout, grade a class.",
    )
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "execute",
        help="execute chapters in place (full profile: the committed outputs)",
        description=cmd_execute.__doc__,
    )
    _chapters_argument(p)
    p.set_defaults(run=cmd_execute)
    p = commands.add_parser(
        "sync",
        help="write each chapter's .py cells into its .ipynb, keeping outputs",
        description="Write each chapter's .py cells into its .ipynb, keeping unchanged outputs.",
    )
    _chapters_argument(p)
    p.set_defaults(run=cmd_execute)
    p = commands.add_parser(
        "check", help="check that every .py / .ipynb pair is in sync", description=cmd_check.__doc__
    )
    _chapters_argument(p)
    p.set_defaults(run=cmd_check)
    p = commands.add_parser(
        "book", help="build the rendered book offline", description=cmd_book.__doc__
    )
    p.add_argument(
        "--clean", action="store_true", help="remove chapters/_build first (a full rebuild)"
    )
    p.set_defaults(run=cmd_book)
    p = commands.add_parser(
        "handout",
        help="build the student handout (folder and zip) with nbgrader",
        description=cmd_handout.__doc__,
    )
    _chapters_argument(p)
    p.add_argument(
        "--out", type=Path, required=True, help="the handout folder (replaced); DIR.zip beside it"
    )
    p.add_argument("--no-zip", action="store_true", help="write the folder only")
    p.set_defaults(run=cmd_handout)
    p = commands.add_parser(
        "grade",
        help="re-execute and grade submissions (nbgrader layout)",
        description=cmd_grade.__doc__,
    )
    p.add_argument("submitted", type=Path, help="folder of <student_id>/<chapter>/<chapter>.ipynb")
    p.add_argument(
        "--out", type=Path, required=True, help="where grades.csv, summary.md and feedback/ go"
    )
    p.add_argument(
        "--profile",
        choices=["smoke", "full"],
        default="smoke",
        help="profile of the re-execution (default smoke; full re-measures the metrics)",
    )
    p.add_argument(
        "--jobs", type=int, default=None, help="submissions graded at once (default: the CPU cores)"
    )
    p.add_argument(
        "--cell-timeout", type=int, default=300, help="seconds a cell may run (default 300)"
    )
    p.add_argument(
        "--notebook-timeout",
        type=int,
        default=1800,
        help="seconds a submission may take (default 1800)",
    )
    p.add_argument(
        "--chapters", nargs="*", default=[], help="grade only chapters starting with these prefixes"
    )
    p.set_defaults(run=cmd_grade)
    p = commands.add_parser(
        "gpu-check",
        help="the prepared GPU check: nbval and the full profile on a device",
        description=cmd_gpu_check.__doc__,
    )
    p.add_argument("--out", type=Path, required=True, help="where summary.md and summary.json go")
    p.add_argument(
        "--time-limit", type=float, default=540, help="seconds for the whole check (default 540)"
    )
    p.add_argument("--device", default="cuda", help="the torch device (default cuda)")
    p.add_argument(
        "--chapters", nargs="*", default=[], help="only chapters starting with these prefixes"
    )
    p.add_argument(
        "--smoke-only", action="store_true", help="stage 1 only (nbval in the smoke profile)"
    )
    p.add_argument(
        "--profile",
        choices=["full", "smoke"],
        default="full",
        help="profile of the from-scratch and from-checkpoint runs (default full)",
    )
    p.set_defaults(run=cmd_gpu_check)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    """Run the `labbook` command."""
    args = parser().parse_args(argv)
    return args.run(args)
