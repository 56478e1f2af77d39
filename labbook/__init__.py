"""labbook: the GAN lab book's tools for authors and instructors, used through the `labbook` command.

Executing and checking the chapters, building the book, the student handout and class grading (on nbgrader).
The chapters never import it; it imports `labutils`, never the reverse.
"""

__version__ = "0.1.0"
