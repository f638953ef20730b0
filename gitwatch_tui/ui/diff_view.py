"""A patch as the screens show it: git's text coloured by Rich's "diff" lexer, with what was
left out said underneath. The stash list, the details' file diffs and the commit log use it."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from gitwatch_tui.core.results import Patch


def diff_syntax(text: str, *, dark: bool, background: str) -> Syntax:
    """`text` coloured as a diff; `background` is the pane's own colour (a theme's background
    would draw boxes behind the text)."""
    return Syntax(
        text,
        "diff",
        theme="ansi_dark" if dark else "ansi_light",
        background_color=background,
        word_wrap=True,
    )


def patch_view(
    patch: Patch, palette: dict[str, str], *, dark: bool, background: str, heading: Text
) -> RenderableType:
    """The heading, then the patch or its summary ("binary, 12 KB"), or git's error."""
    if patch.error is not None:
        return Group(heading, Text(f"Could not read it: {patch.error}", palette["repo-error"]))
    parts: list[RenderableType] = [heading]
    summary = patch.summary
    if summary:
        parts.append(Text(summary, f"bold {palette['repo-behind']}"))
    if patch.text:
        parts.append(diff_syntax(patch.text.rstrip("\n"), dark=dark, background=background))
    elif not summary:
        parts.append(Text("(no changes to show)", palette["repo-muted"]))
    return Group(*parts)
