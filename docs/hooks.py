"""MkDocs hook (mkdocs.yml `hooks:`): fills each page's generated parts as the site builds (docs/generate.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import generate  # noqa: E402  (docs/generate.py, beside this file)


def on_page_markdown(markdown, page, config, files):
    return generate.fill(markdown, page.file.src_path)
