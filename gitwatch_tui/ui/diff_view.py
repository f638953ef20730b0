"""A patch as the screens show it: git's text with its added, removed, hunk and header lines
coloured from the theme, and what was left out said above it. The stash list, the details'
file diffs and the commit log use it (the last two in a `PatchLines`).

The lines are coloured here rather than by Rich's Syntax "diff" lexer: for 2,000 lines the
lexer took 1.15 s of the UI's loop to draw, plain styled text 0.04 s (measured at 70 columns).
"""

from __future__ import annotations

from rich.text import Text

from gitwatch_tui.core.results import Patch

# How a header line of a patch (or of `git show`) starts: these are drawn bold.
_HEADERS = (
    *("diff ", "index ", "--- ", "+++ ", "new file", "deleted file", "similarity", "rename "),
    *("old mode", "new mode", "commit ", "Author:", "AuthorDate:", "Commit:", "CommitDate:"),
    *("Merge:", "Date:"),
)


def diff_text(text: str, palette: dict[str, str]) -> Text:
    """`text` (a patch, maybe with a commit's header and stat) coloured line by line."""
    coloured = Text()
    for line in text.splitlines(keepends=True):
        coloured.append(line, _line_style(line, palette))
    coloured.rstrip()
    return coloured


def _line_style(line: str, palette: dict[str, str]) -> str:
    if line.rstrip("\n") == "---":  # between a commit's message and its stat
        return palette["repo-muted"]
    if line.startswith(_HEADERS):
        return "bold"
    if line.startswith("@@"):
        return palette["repo-staged"]
    if line.startswith("+"):
        return palette["repo-clean"]
    if line.startswith("-"):
        return palette["repo-error"]
    return ""


def patch_view(patch: Patch, palette: dict[str, str], *, heading: Text | None = None) -> Text:
    """The heading, then the patch or its summary ("binary, 12 KB"), or git's error."""
    parts = [heading] if heading is not None else []
    summary = patch.summary
    if patch.error is not None:
        parts.append(Text(f"Could not read it: {patch.error}", palette["repo-error"]))
    elif summary:
        parts.append(Text(summary, f"bold {palette['repo-behind']}"))
    if patch.error is None and patch.text:
        parts.append(diff_text(patch.text, palette))
    elif patch.error is None and not summary:
        parts.append(Text("(no changes to show)", palette["repo-muted"]))
    return Text("\n").join(parts)
