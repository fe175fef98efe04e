"""A DataTable updated in place by row key: cells change with `update_cell` (no width
recalculation), rows are added and removed by key, and the cursor stays on the same row
across re-sorts and updates (a kill must hit the row the engineer saw)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from axtui.tui.messages import DetailRequested, TargetChanged


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    right: bool = False
    drop: int = 0  # dropped at narrow widths: higher drops first; 0 never


MIN_FLEX = 12  # the flexible column (a name) is cut in the middle, never below this


class Ranked(Text):
    """A cell that carries its row's sort rank (DataTable.sort passes cells, not keys)."""

    def __init__(self, text: str, rank: tuple, style: str = "") -> None:
        super().__init__(text, style=style, no_wrap=True, overflow="ellipsis")
        self.rank = rank


def same(a: object, b: object) -> bool:
    """Whether a cell needs no update: Text's own == ignores its style and a Ranked's rank."""
    if isinstance(a, Text) and isinstance(b, Text):
        return (a.plain == b.plain and a.style == b.style and a.spans == b.spans
                and getattr(a, "rank", None) == getattr(b, "rank", None))
    return a == b


class KeyedTable(DataTable):
    COLUMNS: Sequence[Column] = ()
    KIND = "row"  # what a row is: deployment, alert, flag
    SORT_COLUMN = ""  # the column whose Ranked cells order the rows
    FLEX = "name"  # the column that takes the width the others leave

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._shown: tuple[Column, ...] = ()
        self._cells: dict[str, dict[str, object]] = {}  # row key -> column key -> cell
        self._order: list[str] = []
        self._fit_width = 0
        self.redraw = None  # re-show the last data (set by show)

    # ---------------------------------------------------------------- columns
    def fit_columns(self, width: int) -> tuple[Column, ...]:
        """The columns that fit `width`: drop the highest `drop` first, then keep cutting."""
        cols = list(self.COLUMNS)
        def need(cs):
            return sum(c.width + 2 for c in cs)
        while need(cols) > width and any(c.drop for c in cols):
            worst = max(c.drop for c in cols)
            cols = [c for c in cols if c.drop != worst]
        return tuple(cols)

    def flex_width(self, width: int, shown: tuple[Column, ...] = ()) -> int:
        """Room left for the FLEX column after the others (at least its own width)."""
        shown = shown or self._shown or tuple(self.COLUMNS)
        return max(MIN_FLEX, width - sum(c.width + 2 for c in shown if c.key != self.FLEX) - 3)

    def cut_width(self, key: str) -> int:
        """How wide the text of column `key` may be, at the table's current width."""
        if key == self.FLEX:
            return self.flex_width(self._fit_width or 80)
        return next((c.width for c in self.COLUMNS if c.key == key), 8)

    def on_resize(self) -> None:
        width = self.size.width
        if width and width != self._fit_width:
            self._fit_width = width
            self._rebuild(self.fit_columns(width))
            if self.redraw is not None:  # names are cut to the new width
                self.redraw()

    def _rebuild(self, shown: tuple[Column, ...]) -> None:
        """New columns (a resize): rebuild, and put the cursor back on the same row key."""
        keep = self.current_key()
        self.clear(columns=True)
        self._shown = shown
        for c in shown:
            self.add_column(Text(c.label, justify="right" if c.right else "left"),
                            key=c.key, width=self._width(c))
        for key in self._order:
            cells = self._cells[key]
            self.add_row(*(cells.get(c.key, "") for c in shown), key=key)
        self._restore(keep)

    def _width(self, c: Column) -> int:
        if c.key == self.FLEX:
            return self.flex_width(self._fit_width or 80, self._shown)
        return c.width

    # ---------------------------------------------------------------- rows
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        # by row only: after the columns are re-fitted the cursor's column may not exist
        row = self.cursor_row
        if not 0 <= row < self.row_count:
            return None
        return self.ordered_rows[row].key.value

    def _restore(self, key: str | None) -> None:
        if key is None or key not in self._cells:
            return
        try:
            self.move_cursor(row=self.get_row_index(key), animate=False, scroll=False)
        except RowDoesNotExist:
            return

    def show_rows(self, rows: list[tuple[str, dict[str, object]]], *, force: bool = False
                  ) -> None:
        """Make the table show `rows` (key, cells by column) in this order, in place;
        `force` rewrites every cell (a theme change restyles cells whose text is the same)."""
        if not self._shown:
            self._shown = self.fit_columns(self.size.width or 80)
            self._rebuild(self._shown)
        keep = self.current_key()
        wanted = dict(rows)
        for key in [k for k in self._cells if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
        for key, cells in rows:
            old = self._cells.get(key)
            if old is not None and force:
                old = {}
            if old is None:
                self.add_row(*(cells.get(c.key, "") for c in self._shown), key=key)
            else:
                for c in self._shown:
                    new = cells.get(c.key, "")
                    if not same(old.get(c.key), new):
                        self.update_cell(key, c.key, new, update_width=False)
            self._cells[key] = cells
        order = [k for k, _ in rows]
        if order != self._order or any(self.get_row_index(k) != i for i, k in enumerate(order)):
            self._order = order
            self.sort(self.SORT_COLUMN, key=lambda cell: cell.rank)
        self._restore(keep)
        if keep != self.current_key():
            self.post_message(TargetChanged(self.KIND, self.current_key()))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(TargetChanged(self.KIND, event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(DetailRequested(self.KIND, event.row_key.value))
