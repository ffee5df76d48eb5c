"""Sphinx configuration of the escalation_fsm docs (MyST Markdown, Furo, Mermaid, Graphviz).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (what CI runs).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.errors import ConfigError

import escalation_fsm

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS))

from regenerate import stale  # noqa: E402 (the docs tooling, next to this file)

# The committed diagrams and tables must be the ones the code renders now: refuse to publish
# stale ones (the test suite checks the same thing).
_STALE = stale(DOCS)
if _STALE:
    raise ConfigError(
        f"stale generated docs files {_STALE}: run `python docs/regenerate.py`"
    )

project = "escalation_fsm"
author = "escalation_fsm developers"
copyright = "escalation_fsm developers"  # noqa: A001 (the name Sphinx reads)
release = escalation_fsm.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinxcontrib.mermaid",
    "local_mermaid",
    "reexported_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# _generated/*.md are pieces included by the pages, not pages of their own.
exclude_patterns = ["_build", "_generated", "_ext"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# A ```mermaid fence in Markdown becomes the Mermaid directive, like on GitHub.
myst_fence_as_directive = ["mermaid"]

html_theme = "furo"
html_title = f"escalation_fsm {release}"
html_static_path: list[str] = []

# Mermaid comes from _static/ (see _ext/local_mermaid.py), never from a CDN.
local_mermaid_version = "11.12.1"
local_mermaid_integrity = (
    "sha512-UlIZrRariB11TY1RtTgUWp65tphtBv4CSq7vyS2ZZ2TgoMjs2nloq+wFqxiwcxlhHUvs7DPGgMjs2aeQxz5h9g=="
)
mermaid_d3_zoom = False  # zooming would load d3 from a CDN

graphviz_output_format = "svg"

# The docstrings are reStructuredText without Google-style sections; napoleon is not used because
# it reads an attribute docstring's first "words: more" as a type ("Type: words").
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Pydantic puts these on every model class itself (not inherited), so autodoc would list them on
# each one; they say nothing about this library. Inherited members (BaseModel's model_dump, ...)
# are left out anyway: "inherited-members" is not set.
PYDANTIC_NOISE = ("model_config", "model_fields", "model_computed_fields", "model_post_init",
                  "model_extra", "model_fields_set")
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "exclude-members": ", ".join(PYDANTIC_NOISE),
}
