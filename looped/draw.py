"""`looped card`: a picture of the punch card with its row blocks and column zones labelled."""

from __future__ import annotations


from looped.engine import batch_cards
from looped.program import Program

ZONE_COLOURS = {"scratch": "#d62728", "memory": "#1f77b4", "code": "#2ca02c", "padding": "#7f7f7f"}


def draw_card(program: Program, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (card,) = batch_cards([program])
    layout, X = card.layout, card.X
    blocks = [r for name, r in layout.rows.items() if "." not in name]
    width = min(24, max(8, layout.n * 0.12 + 4))
    height = min(20, max(6, layout.d * 0.09 + 2))
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(X.T, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for block in blocks:
        ax.axhline(block.start - 0.5, color="black", linewidth=0.6)
    ax.set_yticks([b.start + (b.size - 1) / 2 for b in blocks])
    ax.set_yticklabels([f"{b.name} ({b.size})" for b in blocks], fontsize=8)
    for zone in layout.zones.values():
        if zone.size == 0:
            continue
        ax.axvline(zone.start - 0.5, color="black", linewidth=1.2)
        ax.text((zone.start + zone.stop - 1) / 2, -1.5, f"{zone.name} ({zone.size})", ha="center",
                va="bottom", fontsize=9, color=ZONE_COLOURS.get(zone.name, "black"), fontweight="bold")
    ax.set_xlabel("token (punch-card column)")
    ax.set_title(f"{program.file}: {layout.n} columns x {layout.d} rows, {layout.bits}-bit words "
                 f"(red +1, blue -1, white 0)", pad=24)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
