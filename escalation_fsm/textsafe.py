r"""Text from tickets and logs, made safe for the output it lands in.

Case ids, activity names, actor ids and payload texts come from outside (a log, a customer, a
host's form). Every report and timeline passes them through one of these before writing them:

* :func:`visible` for a terminal: control characters (ANSI escape sequences, new lines, line and
  paragraph separators, bidirectional overrides) are written out as escapes (``\x1b``);
* :func:`markdown` for Markdown, anywhere including a table cell: also no HTML, no table cell
  boundary, no link or code;
* :func:`html_text` for HTML text and attribute values.
"""

from __future__ import annotations

import html
import re

__all__ = ["html_text", "markdown", "visible"]

# C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MARKDOWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;",
                           "\\": "&#92;", "[": "&#91;", "]": "&#93;", "`": "&#96;"})


def visible(text: str) -> str:
    r"""``text`` with every control character written out as its Python escape (``\x1b``)."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def markdown(text: str) -> str:
    """``text`` safe anywhere in Markdown: no HTML, table cell boundary, link, code or new line."""
    return visible(text).translate(_MARKDOWN)


def html_text(text: str) -> str:
    """``text`` escaped for HTML, with its control characters visible."""
    return html.escape(visible(text))
