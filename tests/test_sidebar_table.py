"""How the sidebar's tables go from the rows on screen to new rows (pure: no Textual app)."""

from __future__ import annotations

from rich.text import Text

from swarm.ui.widgets.table import Row, plan_moves


def rows(*keys: str, tall: str = "") -> list[Row]:
    return [Row(k, (Text(k),), 2 if k == tall else 1) for k in keys]


def test_the_same_rows_in_another_order_move_nothing_in_or_out() -> None:
    assert plan_moves(rows("a", "b", "c"), rows("c", "a", "b")) == (set(), set())


def test_a_row_that_leaves_is_removed_and_a_new_one_added() -> None:
    before = rows(*"abcdefgh")
    assert plan_moves(before, rows(*"abdefghx")) == ({"c"}, {"x"})


def test_a_row_that_changes_height_is_taken_out_and_put_back() -> None:
    before = rows(*"abcdef")
    assert plan_moves(before, rows(*"abcdef", tall="d")) == ({"d"}, {"d"})


def test_most_rows_changing_or_a_key_twice_means_a_rebuild() -> None:
    assert plan_moves(rows(*"abcdefgh"), rows(*"stuvwxyz")) is None
    assert plan_moves(rows("a", "b"), rows("a", "a")) is None


def test_cells_joined_side_by_side_keep_their_widths_and_styles() -> None:
    from swarm.ui.widgets.table import join_cells

    joined = join_cells([Text("ab", style="red"), Text("cdefg", style="bold")], [3, 4])
    assert joined.plain == "ab cdef"
    assert [(s.start, s.end, str(s.style)) for s in joined.spans] == [(0, 3, "red"), (3, 7, "bold")]


def test_a_two_line_row_joins_line_by_line() -> None:
    from swarm.ui.widgets.table import join_cells

    cells = [Text("#1\nwhy"), Text("x\n it bounced")]
    assert join_cells(cells, [3, 4], height=2).plain == "#1 x   \nwhy it "
