"""Report figures: shot ticks read 1, 2, 4, 8, 16; a method has one colour in both few-shot PNGs; titles of
narrow figures are wrapped inside the figure."""

import matplotlib
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from medclip.fewshot import METHODS
from zeroshot import plots
from zeroshot.fewshot.report import plot_curves

ALL = tuple(METHODS)  # every registered few-shot method, in registry order
KS = [1, 2, 4, 8, 16]


@pytest.fixture
def saved(monkeypatch):
    """Every figure saved during the test: its axes' tick labels, legend colours and title extents."""
    seen = []
    real = Figure.savefig

    def spy(fig, path, **kw):
        fig.canvas.draw()
        ax = fig.axes[0]
        handles, labels = ax.get_legend_handles_labels()
        colours = {}
        for h, lab in zip(handles, labels):
            line = h[0] if isinstance(h, matplotlib.container.ErrorbarContainer) else h
            colours[lab.replace(" (test subset)", "")] = to_hex(line.get_color())
        renderer = fig.canvas.get_renderer()
        seen.append(
            {
                "ticks": [t.get_text() for t in ax.get_xticklabels()],
                "colours": colours,
                "title": ax.title.get_text(),
                "title_box": ax.title.get_window_extent(renderer),
                "width": fig.bbox.width,
            }
        )
        return real(fig, path, **kw)

    monkeypatch.setattr(Figure, "savefig", spy)
    return seen


def _curves(methods):
    return {m: {k: (0.5 + 0.01 * k + 0.001 * i, 0.01) for k in KS} for i, m in enumerate(methods)}


def test_shot_ticks_and_method_colours_agree_between_the_two_pngs(tmp_path, saved):
    methods = ["tip_adapter", "coop", "biomedcoop", "my_new_method"]
    plots.fewshot_curves(_curves(methods), tmp_path / "a.png", "few-shot accuracy vs K", {"zeroshot": 0.4})
    avg = [{"method": m, "k": k, "accuracy": 50.0 + k} for m in reversed(methods) for k in KS]  # other order
    plot_curves({"fewshot_average": avg, "fewshot": [{"method": "coop", "test_subset": True}]}, tmp_path / "b.png")
    a, b = saved
    assert a["ticks"] == b["ticks"] == ["1", "2", "4", "8", "16"]
    assert all(a["colours"][m] == b["colours"][m] for m in methods), (a["colours"], b["colours"])
    assert len({a["colours"][m] for m in methods}) == len(methods)


def test_every_listed_method_has_its_own_colour():
    styles = [plots.method_style(m) for m in ALL]
    assert len({s["color"] for s in styles}) == len(ALL)
    assert plots.method_style("coop") == plots.method_style("coop")


def test_one_dataset_title_stays_inside_the_figure(tmp_path, saved):
    title = "demo — runs/demo/checkpoints/latest.pt with a long model identifier"
    plots.modality_bars({"xray": {"score": 0.8}}, tmp_path / "m.png", title)
    (fig,) = saved
    assert "\n" in fig["title"] and fig["title"].replace("\n", " ") == title
    assert fig["title_box"].x0 >= 0 and fig["title_box"].x1 <= fig["width"]
