"""Test-session settings: notebooks run in the smoke profile, with checkpoints and results in a fresh folder.

Set here (not in each test) so that the nbval kernels, which inherit this process's environment, see them too.
Variables already set by the caller win, so `LABBOOK_PROFILE=full pytest chapters/` runs the full profile.
"""

import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="labbook-tests-")
os.environ.setdefault("LABBOOK_PROFILE", "smoke")
os.environ.setdefault("LABBOOK_CHECKPOINTS", os.path.join(_scratch, "checkpoints"))
os.environ.setdefault("LABBOOK_RESULTS", os.path.join(_scratch, "results"))
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
