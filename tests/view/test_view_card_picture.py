"""`looped card`'s picture (looped/draw.py): labels spread so they never overlap, a colour scale for
FLEQ's real values, a PNG for each machine."""

import pytest

from looped.draw import colour_norm, spread


def test_spread_keeps_names_apart_and_inside():
    wanted = [0, 0.2, 0.4, 0.6, 10, 30, 30.5, 31]
    placed = spread(wanted, 2.0, -0.5, 31.5)
    assert all(b - a >= 2.0 - 1e-9 for a, b in zip(placed, placed[1:]))
    assert placed[0] >= -0.5 and placed[-1] <= 31.5
    assert placed[4] == 10  # a name with room stays where it belongs


def test_spread_leaves_names_with_room_alone():
    assert spread([1, 5, 9], 2.0, 0, 10) == [1, 5, 9]


def test_fleq_scale_covers_the_largest_value_and_integer_machines_are_bits():
    import numpy as np

    norm, label, ticks = colour_norm(np.array([[0.5, -40.0], [1.0, 3.0]]), "fleq")
    assert (norm.vmin, norm.vmax) == (-40.0, 40.0) and "logarithmic" in label
    assert ticks[0] == -40.0 and ticks[-1] == 40.0 and 0.0 in ticks
    norm, _, ticks = colour_norm(np.ones((2, 2)), "subleq")
    assert (norm.vmin, norm.vmax, ticks) == (-1, 1, [-1, 0, 1])


@pytest.mark.parametrize("source", ["programs/fleq/matrix_ops.asm"])
def test_card_png(tmp_path, source):
    from looped.assembler import assemble_file
    from looped.draw import draw_card

    path = tmp_path / "card.png"
    draw_card(assemble_file(source), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
