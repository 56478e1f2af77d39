"""Benchmark (not a test): grade a generated class of one chapter with `labbook grade`, smoke profile.

    python benchmarks/grade_class.py                 # 30 submissions of 01_minimax, one job per core
    python benchmarks/grade_class.py --students 60 --chapter 02_gan_1d --jobs 2

The class: half hand in the instructor's solutions (every cell runs, every hidden check too), half the untouched
handout. Prints the wall time, per submission and in total.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import nbformat

from labbook import course, grading, handout


def main() -> None:
    """Build the handout, generate the class, grade it, print the timings."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--chapter", default="01_minimax")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labbook-bench-") as tmp:
        tmp = Path(tmp)
        built = handout.build(tmp / "handout", [args.chapter], zip_it=False)
        released = nbformat.read(
            built["folder"] / "chapters" / f"{args.chapter}.ipynb", as_version=4
        )
        source = course.write_source(tmp / "course", Path("chapters") / f"{args.chapter}.ipynb")
        solved = nbformat.read(source, as_version=4)
        for index in range(args.students):
            notebook = nbformat.from_dict(json.loads(json.dumps([solved, released][index % 2])))
            path = (
                tmp / "submitted" / f"student{index:03d}" / args.chapter / f"{args.chapter}.ipynb"
            )
            path.parent.mkdir(parents=True)
            nbformat.write(notebook, path)
        started = time.perf_counter()
        results = grading.grade(tmp / "submitted", tmp / "out", jobs=args.jobs)
        seconds = time.perf_counter() - started
    per = sorted(r["seconds"] for r in results)
    print(
        f"{len(results)} submissions of {args.chapter} graded in {seconds:.0f} s "
        f"({seconds / len(results):.1f} s each on average; one submission takes {per[len(per) // 2]:.0f} s, median)"
    )
    print(
        "statuses:",
        {s: sum(r["status"] == s for r in results) for s in {r["status"] for r in results}},
    )


if __name__ == "__main__":
    main()
