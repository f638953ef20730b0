"""The dashboard's rows by repo name, with the header's figures kept as the rows change.

At 10,000 repos an update carries a few dozen changed rows; counting the header's totals and
the picked repos again from every row took most of each update's time on the event loop.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, MutableMapping, ValuesView

from gitwatch_tui.ui.repo_view import GroupTotals, RepoRow, RunningTotals, Totals


class RepoRows(MutableMapping[str, RepoRow]):
    """A dict of rows that keeps their `Totals`, each group's, and the names of the picked
    ones up to date with every row put or removed, so reading them costs nothing."""

    def __init__(self) -> None:
        self._rows: dict[str, RepoRow] = {}
        self._totals = RunningTotals()
        self._groups: dict[str, RunningTotals] = {}
        self._picked: set[str] = set()

    @property
    def totals(self) -> Totals:
        """The same figures as `Totals.of(self.values())`."""
        return self._totals.totals

    def group_totals(self) -> dict[str, GroupTotals]:
        """Every group's header figures with no filter on: the same as `group_totals(rows)`,
        in O(groups)."""
        return {
            group: GroupTotals(len(running), running.totals)
            for group, running in self._groups.items()
        }

    @property
    def picked(self) -> set[str]:
        """The names of the rows picked for a bulk action (a copy)."""
        return set(self._picked)

    def __setitem__(self, name: str, row: RepoRow) -> None:
        old = self._rows.get(name)
        self._rows[name] = row
        self._totals.put(name, row)
        if old is not None and old.group != row.group:
            self._leave_group(old.group, name)
        if row.group is not None:
            self._groups.setdefault(row.group, RunningTotals()).put(name, row)
        if row.selected:
            self._picked.add(name)
        else:
            self._picked.discard(name)

    def add_new(self, rows: Mapping[str, RepoRow]) -> None:
        """Put rows of repos not here yet (a row already here is put as `self[name] = row`
        puts it), each counted in one pass: the snapshot's 10,000 come at once."""
        old = {name: row for name, row in rows.items() if name in self._rows}
        new = {name: row for name, row in rows.items() if name not in self._rows}
        self._rows.update(new)
        self._totals.add_new(new)
        by_group: dict[str, dict[str, RepoRow]] = {}
        for name, row in new.items():
            if row.group is not None:
                by_group.setdefault(row.group, {})[name] = row
            if row.selected:
                self._picked.add(name)
        for group, members in by_group.items():
            self._groups.setdefault(group, RunningTotals()).add_new(members)
        for name, row in old.items():
            self[name] = row

    def __delitem__(self, name: str) -> None:
        row = self._rows.pop(name)
        self._totals.drop(name)
        self._leave_group(row.group, name)
        self._picked.discard(name)

    def _leave_group(self, group: str | None, name: str) -> None:
        if group is None or group not in self._groups:
            return
        running = self._groups[group]
        running.drop(name)
        if not len(running):  # no member left: no header row either
            del self._groups[group]

    # Reading goes straight to the dict: the dashboard reads far more often than it writes.

    def __getitem__(self, name: str) -> RepoRow:
        return self._rows[name]

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def keys(self) -> KeysView[str]:
        return self._rows.keys()

    def values(self) -> ValuesView[RepoRow]:
        return self._rows.values()

    def items(self) -> ItemsView[str, RepoRow]:
        return self._rows.items()
