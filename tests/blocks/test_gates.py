"""looped/blocks/gates.py: the mark of a block that acts only where it is selected."""

import numpy as np
import pytest

from looped.blocks import gates
from looped.layers import Head, MLP, Units


def _units(gated: bool) -> MLP:
    units = Units(8, "part", "scratch")
    gates.gated_linear(units, {0: 1.0}, {5: 1.0}, {1: 1.0})
    units.add({0: 1.0} | ({5: -gates.BIG} if gated else {}), 0.0, {2: 1.0})
    return units.mlp()


def test_marked_parts_carry_the_row_and_are_copies():
    part = _units(gated=True)
    (marked,) = gates.only_where_selected(5, part)
    assert marked.skip_where == 5 and part.skip_where is None
    assert marked.hidden == part.hidden and marked.name == part.name
    head = Head(np.zeros((8, 1)), np.zeros((8, 1)), np.zeros((8, 8)), name="h")
    assert [h.skip_where for h in gates.only_where_selected(3, [head, head])] == [3, 3]


def test_a_part_with_a_unit_not_gated_by_the_row_is_refused():
    with pytest.raises(ValueError, match="1 of 3 units are not gated by row 5"):
        gates.only_where_selected(5, _units(gated=False))
    with pytest.raises(ValueError, match="not gated by row 4"):
        gates.only_where_selected(4, _units(gated=True))
