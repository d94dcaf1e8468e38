"""The docs' printed results come from runs: the Python API page's notebook session (docs/python-api.md) is run as
a doctest and must print what the page says (timings aside: `...`)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SESSION_PAGE = os.path.join(ROOT, "docs", "python-api.md")

RUN_SESSION = """
import doctest, sys
text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"A notebook session.*?```python\\n(.*?)```", text, re.S).group(1)
test = doctest.DocTestParser().get_doctest(block, {}, "docs notebook session", sys.argv[1], 0)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
runner.run(test)
sys.exit(1 if runner.failures else 0)
"""


def test_the_notebook_session_prints_what_the_python_api_page_shows(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", "import re\n" + RUN_SESSION, SESSION_PAGE],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:]
    assert re.search(r"INFO trainer.export: Exported model version", done.stderr)
