"""Where in a TOML mapping a problem is: the line of a key path, for error messages."""

from __future__ import annotations

import re

__all__ = ["locate"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def locate(text: str, loc: tuple[str | int, ...], message: str) -> str:
    """``line N (key.path): message``: the line of the deepest part of ``loc`` found in ``text``.

    pydantic reports where in the *data* a problem is; this walks the TOML text to the line that
    defines it (a ``[section]`` or ``[[array]]`` header, then ``key =`` inside it), so a user sees
    the line to fix. Tables written inline are located at their key.
    """
    path = ".".join(str(part) for part in loc) or "(top level)"
    lines = text.splitlines()
    line = _find(lines, loc)
    where = f"line {line} " if line else ""
    return f"{where}({path}): {message}"


def _find(lines: list[str], loc: tuple[str | int, ...]) -> int | None:
    if not loc:
        return None
    section, rest = str(loc[0]), loc[1:]
    start, end, found = 0, len(lines), None
    headers = [(i, m.group(1), m.group(2)) for i, line in enumerate(lines)
               if (m := _HEADER.match(line))]
    if rest and any(name == f"{section}.{rest[0]}" for _, _, name in headers):
        section, rest = f"{section}.{rest[0]}", rest[1:]  # a sub-table: [values.level]
    matching = [i for i, _, name in headers if name == section]
    if matching:
        index = rest[0] if rest and isinstance(rest[0], int) else 0
        if index < len(matching):
            start = matching[index]
            found = start + 1
            if rest and isinstance(rest[0], int):
                rest = rest[1:]
            end = next((i for i, _, _ in headers if i > start), len(lines))
            start += 1
        keys = [str(part) for part in rest if not isinstance(part, int)]
    else:
        # A top-level key (or a table that is missing altogether): search before any header.
        end = headers[0][0] if headers else len(lines)
        keys = [section]
    for key in keys[:1]:
        pattern = re.compile(rf'^\s*("{re.escape(key)}"|\'{re.escape(key)}\'|{re.escape(key)})\s*=')
        for i in range(start, end):
            if pattern.match(lines[i]):
                return i + 1
    return found
