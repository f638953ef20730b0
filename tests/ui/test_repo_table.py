"""The repo table re-renders only the rows whose cells changed."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App, ComposeResult

from gitwatch_tui.ui.repo_view import Column, RepoCell
from gitwatch_tui.ui.widgets.repo_table import RepoTable


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.values = {f"repo-{i}": f"v{i}" for i in range(30)}

    def cells_for(self, key: str, columns: Sequence[Column]) -> list[RepoCell]:
        cells = [RepoCell(key if c.key == "repo" else self.values[key]) for c in columns]
        for cell in cells:
            cell.row_key = key
        return cells

    def compose(self) -> ComposeResult:
        yield RepoTable(self.cells_for)  # type: ignore[arg-type]


def rendered(table: RepoTable, key: str) -> str:
    y = table.header_height + table.order.index(key)
    return table.render_line(y).text


async def test_one_changed_row_is_the_only_one_rendered_again() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        await pilot.pause()
        assert "v3" in rendered(table, "repo-3")
        for y in range(table.size.height):  # every line on screen is in the caches
            table.render_line(y)
        rendered_rows: list[object] = []
        original = table._render_line_in_row

        def counting(row_key, *args, **kwargs):  # type: ignore[no-untyped-def]
            rendered_rows.append(row_key.value)
            return original(row_key, *args, **kwargs)

        table._render_line_in_row = counting  # type: ignore[method-assign]
        app.values["repo-3"] = "changed"
        table.sync(list(app.values), {"repo-3", "repo-4"})  # repo-4 did not change
        for y in range(table.size.height):
            table.render_line(y)
        assert rendered_rows == ["repo-3"]
        assert "changed" in rendered(table, "repo-3")
        assert "v5" in rendered(table, "repo-5")
