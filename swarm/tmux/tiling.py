"""tmux layout strings for a window of agent panes, with an optional fixed-width sidebar.

tmux's own layouts (`main-vertical`, `tiled`, ...) cover the whole window, so a sidebar
of fixed width beside them cannot be had from `select-layout NAME`. We compute the same
arrangements ourselves and apply them as one custom layout string; tmux assigns the
cells to the window's panes in pane order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LAYOUT_NAMES = ("main-vertical", "main-horizontal", "tiled", "even-horizontal", "even-vertical")


@dataclass
class Cell:
    """A rectangle of the window: a pane (no children) or a split of cells."""

    width: int
    height: int
    x: int
    y: int
    children: list[Cell] = field(default_factory=list)
    left_right: bool = True  # how children are split: `{}` left-right, `[]` top-bottom

    def render(self, counter: list[int]) -> str:
        head = f"{self.width}x{self.height},{self.x},{self.y}"
        if not self.children:
            counter[0] += 1
            return f"{head},{counter[0] - 1}"
        inner = ",".join(child.render(counter) for child in self.children)
        return f"{head}{{{inner}}}" if self.left_right else f"{head}[{inner}]"

    def leaves(self) -> int:
        return 1 if not self.children else sum(c.leaves() for c in self.children)


class LayoutTooSmall(ValueError):
    """The window has no room for that many panes in that arrangement."""


def _spans(total: int, parts: int) -> list[int]:
    """Split `total` cells into `parts` sizes with a one-cell border between them."""
    room = total - (parts - 1)
    if parts < 1 or room < parts:
        raise LayoutTooSmall(f"{parts} panes do not fit in {total} cells")
    base, extra = divmod(room, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _split(cell: Cell, sizes: list[int], left_right: bool) -> list[Cell]:
    cells: list[Cell] = []
    offset = cell.x if left_right else cell.y
    for size in sizes:
        if left_right:
            cells.append(Cell(size, cell.height, offset, cell.y))
        else:
            cells.append(Cell(cell.width, size, cell.x, offset))
        offset += size + 1
    return cells


def _even(cell: Cell, count: int, left_right: bool) -> Cell:
    if count == 1:
        return cell
    total = cell.width if left_right else cell.height
    cell.children = _split(cell, _spans(total, count), left_right)
    cell.left_right = left_right
    return cell


def _main_size(total: int, spec: str | None) -> int:
    if spec is None:
        size = total * 6 // 10
    elif spec.endswith("%"):
        size = total * int(spec[:-1]) // 100
    else:
        size = int(spec)
    return max(1, min(size, total - 2))


def _main(cell: Cell, count: int, vertical: bool, main_size: str | None) -> Cell:
    """main-vertical: the first pane on the left, the others stacked on the right."""
    if count == 1:
        return cell
    total = cell.width if vertical else cell.height
    main = _main_size(total, main_size)
    first, rest = _split(cell, [main, total - main - 1], left_right=vertical)
    cell.children = [first, _even(rest, count - 1, left_right=not vertical)]
    cell.left_right = vertical
    return cell


def _tiled(cell: Cell, count: int) -> Cell:
    """tmux's tiled: grow rows and columns in turn until the grid holds every pane."""
    rows = columns = 1
    while rows * columns < count:
        rows += 1
        if rows * columns < count:
            columns += 1
    if rows == 1:
        return _even(cell, count, left_right=True)
    row_cells = _split(cell, _spans(cell.height, rows), left_right=False)
    remaining = count
    for row in row_cells:
        in_row = min(columns, remaining)
        _even(row, in_row, left_right=True)
        remaining -= in_row
    cell.children = [row for row in row_cells if row.width > 0]
    cell.left_right = False
    return cell


def arrange(layout: str, width: int, height: int, count: int, main_size: str | None = None) -> Cell:
    """The cell tree of `count` panes arranged by a tmux layout name."""
    cell = Cell(width, height, 0, 0)
    if count < 1:
        raise LayoutTooSmall("no panes")
    if layout == "main-vertical":
        return _main(cell, count, vertical=True, main_size=main_size)
    if layout == "main-horizontal":
        return _main(cell, count, vertical=False, main_size=main_size)
    if layout == "even-horizontal":
        return _even(cell, count, left_right=True)
    if layout == "even-vertical":
        return _even(cell, count, left_right=False)
    if layout == "tiled":
        return _tiled(cell, count)
    raise ValueError(f"unknown layout {layout!r}")


def _shift(cell: Cell, dx: int) -> None:
    cell.x += dx
    for child in cell.children:
        _shift(child, dx)


def with_sidebar(agents: Cell, sidebar_width: int, side: str, width: int, height: int) -> Cell:
    """Put a full-height sidebar of fixed width beside an arranged agent area."""
    root = Cell(width, height, 0, 0, left_right=True)
    bar = Cell(sidebar_width, height, 0, 0)
    if side == "left":
        _shift(agents, sidebar_width + 1)
        bar.x = 0
        root.children = [bar, agents]
    else:
        bar.x = agents.width + 1
        root.children = [agents, bar]
    return root


def checksum(body: str) -> str:
    """tmux's layout checksum (layout_checksum in layout-custom.c)."""
    csum = 0
    for char in body.encode():
        csum = (csum >> 1) + ((csum & 1) << 15)
        csum = (csum + char) & 0xFFFF
    return f"{csum:04x}"


def layout_string(root: Cell) -> str:
    body = root.render([0])
    return f"{checksum(body)},{body}"


def window_layout(
    layout: str,
    width: int,
    height: int,
    agent_panes: int,
    *,
    main_size: str | None = None,
    sidebar_side: str | None = None,
    sidebar_width: int = 32,
) -> str:
    """The layout string for a window; raises LayoutTooSmall when it cannot fit."""
    if sidebar_side is None or agent_panes == 0:
        count = agent_panes + (1 if sidebar_side else 0)
        return layout_string(arrange(layout, width, height, count, main_size))
    bar = min(sidebar_width, max(1, width // 3))
    agents = arrange(layout, width - bar - 1, height, agent_panes, main_size)
    return layout_string(with_sidebar(agents, bar, sidebar_side, width, height))
