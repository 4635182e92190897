"""The colour maps, by hand: `colorize` maps vmin to the table's first colour, vmax to its last,
the middle to entry 128 (rounded), clips outside the range, and paints NaN black."""

from __future__ import annotations

import numpy as np

from app import render


def test_colorize_by_hand():
    table = render.colormap("viridis")
    values = np.array([[0.0, 1.0], [np.nan, 0.5], [-3.0, 7.0]])
    out = render.colorize(values, vmin=0.0, vmax=1.0, cmap="viridis")
    assert out.dtype == np.uint8 and out.shape == (3, 2, 3)
    assert (out[0, 0] == table[0]).all() and (out[0, 1] == table[255]).all()
    assert (out[1, 0] == 0).all() and (out[1, 1] == table[128]).all()  # 127.5 rounds to even: 128
    assert (out[2, 0] == table[0]).all() and (out[2, 1] == table[255]).all()  # clipped
    own_range = render.colorize(np.array([[2.0, 4.0]]))  # no vmin/vmax: the values' own range
    assert (own_range[0, 0] == table[0]).all() and (own_range[0, 1] == table[255]).all()
    assert (table[0] == (0x44, 0x01, 0x54)).all() and (table[255] == (0xFD, 0xE7, 0x25)).all()  # viridis' ends
