"""`looped card`: a picture of the punch card with its row blocks and column zones labelled, and
every memory column named by its data label."""

from __future__ import annotations


from looped.engine import batch_cards

ZONE_COLOURS = {"scratch": "#d62728", "slots": "#d62728", "anchor": "#9467bd", "memory": "#1f77b4",
                "code": "#2ca02c", "padding": "#7f7f7f"}


def draw_card(program, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from looped import machines as isa

    (card,) = batch_cards([program])
    layout, X = card.layout, card.X
    instruction_set = isa.get(program.isa)
    blocks = [r for name, r in layout.rows.items() if "." not in name]
    width = min(24, max(8, layout.n * 0.12 + 4))
    height = min(20, max(6, layout.d * 0.09 + 2))
    fig, ax = plt.subplots(figsize=(width, height))
    # bwr: exactly white at 0, red for positive, blue for negative (as the title says).
    ax.imshow(X.T, cmap="bwr", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for block in blocks:
        ax.axhline(block.start - 0.5, color="black", linewidth=0.6)
    ax.set_yticks([b.start + (b.size - 1) / 2 for b in blocks])
    ax.set_yticklabels([f"{b.name} ({b.size})" for b in blocks], fontsize=8)
    zones = [z for name, z in layout.zones.items() if not (name == "scratch" and "slots" in layout.zones)]
    for zone in zones:
        if zone.size == 0:
            continue
        ax.axvline(zone.start - 0.5, color="black", linewidth=1.2)
        ax.text((zone.start + zone.stop - 1) / 2, -1.5, f"{zone.name} ({zone.size})", ha="center",
                va="bottom", fontsize=9, color=ZONE_COLOURS.get(zone.name, "black"), fontweight="bold")
    # Memory columns carry their labels (the first column of each value or array).
    names = instruction_set.cell_names(program)
    mem0 = layout.zone("memory").start
    ticks = [(mem0 + i, name) for i, name in enumerate(names) if not name.startswith("#") and "+" not in name
             or name.endswith("+0")]
    ax.set_xticks([t for t, _ in ticks])
    ax.set_xticklabels([name.removesuffix("+0") for _, name in ticks], rotation=90, fontsize=7)
    ax.set_xlabel("token (punch-card column); memory columns named by their data labels")
    what = f"{layout.bits}-bit words" if program.isa == "subleq" else "FLEQ, real values"
    colours = "red positive, blue negative, white 0" if program.isa == "fleq" else "red +1, blue -1, white 0"
    ax.set_title(f"{program.file}: {layout.n} columns x {layout.d} rows, {what} ({colours})", pad=24)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
