"""`looped card`: a picture of the punch card with its row blocks and column zones labelled, every
memory column named by its data label, and a colour scale.

Labels never overlap: a block too thin for its name gets it beside, joined by a leader line; a zone
too narrow for its name is named in the key under the title; long titles wrap."""

from __future__ import annotations

import textwrap

from looped.engine import batch_cards

ZONE_COLOURS = {"scratch": "#d62728", "slots": "#d62728", "anchor": "#9467bd", "memory": "#1f77b4",
                "code": "#2ca02c", "padding": "#7f7f7f", "output": "#ff7f0e", "input": "#8c564b"}
LABEL_PT = 8  # the size of a block's name; names are kept at least 1.3 of it apart
DPI = 110


def draw_card(program, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from looped import machines

    (card,) = batch_cards([program])
    layout, X = card.layout, card.X
    names = machines.get(program.isa).cell_names(program)
    width = min(24, max(9, layout.n * 0.12 + 5))
    height = min(22, max(6, layout.d * 0.09 + 3))
    fig = plt.figure(figsize=(width, height))
    # Room on the left for the block names and their leader lines, on the right for the scale.
    ax = fig.add_axes([0.17, 0.07, 0.70, 1 - 0.07 - 1.3 / height])
    scale_ax = fig.add_axes([0.90, 0.07, 0.018, 1 - 0.07 - 1.3 / height])
    norm, scale_label, ticks = colour_norm(X, program.isa)
    image = ax.imshow(X.T, cmap="bwr", norm=norm, aspect="auto", interpolation="nearest")
    bar = fig.colorbar(image, cax=scale_ax)
    bar.set_label(scale_label, fontsize=9)
    if ticks:
        bar.set_ticks(ticks)
        bar.set_ticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(-0.5, layout.n - 0.5)
    ax.set_ylim(layout.d - 0.5, -0.5)
    label_blocks(ax, fig, layout)
    zones_key = label_zones(ax, fig, layout)
    label_memory_columns(ax, layout, names)
    ax.set_xlabel("token (punch-card column); memory columns named by their data labels", fontsize=9)
    what = f"{layout.bits}-bit words" if program.isa != "fleq" else "FLEQ, real values"
    title = f"{program.file}: the punch card, {layout.n} columns x {layout.d} rows, {what}"
    fig.text(0.5, 1 - 0.15 / height, "\n".join(textwrap.wrap(title, int(width * 9))), ha="center", va="top", fontsize=11)
    fig.text(0.5, 1 - 0.15 / height - 0.25 / height * (1 + len(title) // int(width * 9)), zones_key, ha="center", va="top",
             fontsize=9, color="#333333")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def colour_norm(X, isa: str):
    """White at 0, red positive, blue negative. The integer machines hold ±1 bits: a linear scale
    on [-1, 1]. FLEQ holds reals: a symmetric scale, linear within ±1 and logarithmic beyond, up
    to the largest value on the card."""
    import matplotlib.colors as colors
    import numpy as np

    if isa != "fleq":
        return colors.Normalize(-1, 1), "value (a ±1 bit; 0 empty)", [-1, 0, 1]
    largest = max(1.0, float(np.abs(X).max()))
    if largest <= 1.0:
        return colors.Normalize(-1, 1), "value", [-1, -0.5, 0, 0.5, 1]
    ticks = sorted({-largest, -1.0, 0.0, 1.0, largest} | {s * 10.0**k for s in (-1, 1) for k in range(1, 12)
                                                           if 10.0**k < largest})
    return (colors.SymLogNorm(linthresh=1.0, linscale=1.0, vmin=-largest, vmax=largest, base=10),
            "value (linear within ±1, logarithmic beyond)", ticks)


def label_blocks(ax, fig, layout) -> None:
    """Each row block's name at its middle; where blocks are too thin, names are spread apart and
    joined to their block by a leader line."""
    blocks = sorted((r for name, r in layout.rows.items() if "." not in name and r.size), key=lambda r: r.start)
    for block in blocks[1:]:
        ax.axhline(block.start - 0.5, color="black", linewidth=0.6)
    rows_per_point = layout.d / (ax.get_position().height * fig.get_figheight() * 72)
    gap = 1.3 * LABEL_PT * rows_per_point  # rows between two names
    wanted = [b.start + (b.size - 1) / 2 for b in blocks]
    placed = spread(wanted, gap, -0.5, layout.d - 0.5)
    columns_per_point = layout.n / (ax.get_position().width * fig.get_figwidth() * 72)
    ax.set_yticks([])
    for block, want, at in zip(blocks, wanted, placed):
        moved = abs(at - want) > 0.25 * gap
        x = -0.5 - (30 if moved else 4) * columns_per_point
        line = dict(arrowstyle="-", color="#777777", linewidth=0.6, shrinkA=1, shrinkB=0) if moved else None
        ax.annotate(f"{block.name} ({block.size})", xy=(-0.5, want), xytext=(x, at), xycoords="data",
                    textcoords="data", ha="right", va="center", fontsize=LABEL_PT, annotation_clip=False,
                    arrowprops=line)


def spread(wanted: list[float], gap: float, low: float, high: float) -> list[float]:
    """Positions as close as possible to `wanted` (sorted), at least `gap` apart, inside [low, high]
    where there is room: pushed down, then back up from the bottom."""
    placed = []
    for y in wanted:
        placed.append(max(y, placed[-1] + gap) if placed else max(y, low))
    for i in range(len(placed) - 1, -1, -1):
        limit = high if i == len(placed) - 1 else placed[i + 1] - gap
        placed[i] = min(placed[i], limit)
    return placed


def label_zones(ax, fig, layout) -> str:
    """Zone boundaries, and each zone's name over it where it fits; returns the key that names
    every zone (the narrow ones by colour only over the card)."""
    zones = [z for name, z in layout.zones.items() if z.size and not (name == "scratch" and "slots" in layout.zones)]
    columns_per_point = layout.n / (ax.get_position().width * fig.get_figwidth() * 72)
    for zone in zones:
        colour = ZONE_COLOURS.get(zone.name, "black")
        if zone.start:
            ax.axvline(zone.start - 0.5, color="black", linewidth=1.2)
        # A coloured strip over the zone, and its name where the name fits.
        over = ax.get_xaxis_transform()  # x in columns, y in axes fractions: above the card
        ax.plot([zone.start - 0.5, zone.stop - 0.5], [1.006, 1.006], color=colour, linewidth=5, clip_on=False,
                solid_capstyle="butt", transform=over)
        text = f"{zone.name} ({zone.size})"
        if len(text) * 0.6 * 9 * columns_per_point < zone.size:
            ax.text((zone.start + zone.stop - 1) / 2, 1.012, text, ha="center", va="bottom", fontsize=9,
                    color=colour, fontweight="bold", clip_on=False, transform=over)
    return "column zones: " + ",  ".join(f"{z.name} ({z.size})" for z in zones) + \
        "  (coloured strips over the card: " + ", ".join(f"{z.name} {_colour_name(ZONE_COLOURS.get(z.name))}"
                                                         for z in zones) + ")"


def _colour_name(hex_colour: str | None) -> str:
    return {"#d62728": "red", "#9467bd": "purple", "#1f77b4": "blue", "#2ca02c": "green", "#7f7f7f": "grey",
            "#ff7f0e": "orange", "#8c564b": "brown"}.get(hex_colour or "", "black")


def label_memory_columns(ax, layout, names: list[str]) -> None:
    """Memory columns carry their labels (the first column of each value or array)."""
    mem0 = layout.zone("memory").start
    ticks = [(mem0 + i, name) for i, name in enumerate(names)
             if (not name.startswith("#") and "+" not in name) or name.endswith("+0")]
    ax.set_xticks([t for t, _ in ticks])
    ax.set_xticklabels([name.removesuffix("+0") for _, name in ticks], rotation=90, fontsize=7)
