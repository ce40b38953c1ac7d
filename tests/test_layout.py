"""The punch card's layout: row blocks, zones, ±1 codes."""

import numpy as np
import pytest

from looped.layout import address_bits, bits_of, decode_signed, decode_unsigned, position_code, subleq_layout


def test_row_blocks_tile_the_width_without_overlap():
    layout = subleq_layout(n_memory=10, n_code=20, bits=8)
    top = [r for name, r in layout.rows.items() if "." not in name]
    covered = sorted(i for r in top for i in r.indices)
    assert covered == list(range(layout.d))


def test_width_formula():
    for n_memory, n_code, bits in [(5, 10, 4), (100, 600, 16), (3, 3, 20)]:
        layout = subleq_layout(n_memory, n_code, bits)
        L, N = layout.addr_bits, bits
        assert layout.d == 8 * L + 2 * N + max(3 * L, 2 * N) + 2


def test_parts_lie_inside_their_blocks():
    layout = subleq_layout(4, 4, 8)
    for name, rows in layout.rows.items():
        if "." in name:
            parent = layout[name.split(".")[0]]
            assert parent.start <= rows.start and rows.stop <= parent.stop


def test_zones_in_order_with_padding():
    layout = subleq_layout(n_memory=5, n_code=7, bits=8, n=32)
    z = layout.zones
    assert (z["scratch"].start, z["memory"].start, z["code"].start, z["padding"].start) == (0, 1, 6, 13)
    assert z["padding"].stop == 32 == layout.n
    with pytest.raises(ValueError):
        subleq_layout(n_memory=5, n_code=7, bits=8, n=12)


def test_address_bits_cover_every_token():
    for n in [2, 3, 4, 5, 31, 32, 33, 1000, 4096]:
        L = address_bits(n)
        assert 2 ** L >= n and L >= 2


def test_position_codes_have_margin_two():
    L = 5
    codes = np.stack([position_code(t, L) for t in range(1, 32)])
    gram = codes @ codes.T
    assert np.all(np.diag(gram) == L)
    assert np.all(gram[~np.eye(31, dtype=bool)] <= L - 2)
    assert not position_code(0, L).any()  # token 0 has no address of its own


@pytest.mark.parametrize("bits", [2, 4, 8, 16, 33])
def test_twos_complement_round_trip(bits):
    for v in [-(2 ** (bits - 1)), -1, 0, 1, 2 ** (bits - 1) - 1]:
        assert decode_signed(bits_of(v, bits)) == v
    assert decode_unsigned(bits_of(5, 4)) == 5
    assert list(bits_of(0, 4)) == [-1, -1, -1, -1]  # zero is all -1
    assert bits_of(-1, 4)[0] == 1  # sign bit first
