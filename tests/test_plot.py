"""Smoke tests for tinygen.plot: every figure function draws and saves a PNG."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinygen import data, plot  # noqa: E402
from tinygen.distributions import StandardNormal  # noqa: E402

PNG_MAGIC = b"\x89PNG"


def test_every_plot_function_writes_a_png(tmp_path):
    fig, axes = plt.subplots(2, 3)
    plot.density(axes[0, 0], lambda x: data.two_moons_log_prob(x), n=60, title="p(x)")
    plot.density(axes[0, 1], data.Checkerboard().log_prob, bounds=((-2, 2), (-2, 2)), n=40)  # -inf off board
    x, k = data.two_moons(200, labels=True)
    plot.samples(axes[0, 2], x, c=k, title="samples", bounds=plot.DEFAULT_BOUNDS)
    plot.matrix(axes[1, 0], np.tril(np.ones((5, 5))), annotate=True, title="mask")
    plot.matrix(axes[1, 1], np.array([[1.0, -2.0], [0.5, 0.0]]), annotate=True, title="Jacobian")
    plot.curves(axes[1, 2], {"train": ([1, 2, 3], [3.0, 2.0, 1.0]), "val": ([1, 3], [3.2, 1.5])},
                title="loss", ylabel="NLL")
    figs = {
        "panels.png": fig,
        "layers.png": plot.layer_panels([StandardNormal(2).sample(100, 0), x[:100]], titles=["z_0", "x"]),
        "images.png": plot.image_grid(data.shapes8(10), ncols=4, title="shapes"),
    }
    for name, f in figs.items():
        path = plot.save(f, tmp_path / "sub" / name)  # creates the missing folder
        with open(path, "rb") as fh:
            assert fh.read(4) == PNG_MAGIC
        assert not plt.fignum_exists(f.number)  # save closes the figure


@pytest.mark.parametrize("call, name", [
    (lambda ax: plot.samples(ax, np.zeros((5, 3))), "x"),
    (lambda ax: plot.density(ax, StandardNormal(2).log_prob, bounds=((1, -1), (0, 1))), "bounds"),
    (lambda ax: plot.density(ax, StandardNormal(2).log_prob, n=1), "n"),
    (lambda ax: plot.matrix(ax, np.zeros(3)), "M"),
    (lambda ax: plot.curves(ax, [1, 2]), "history_like"),
    (lambda ax: plot.layer_panels([]), "zs"),
    (lambda ax: plot.image_grid(np.zeros((2, 4))), "images"),
])
def test_bad_input_is_named(call, name):
    fig, ax = plt.subplots()
    try:
        with pytest.raises((ValueError, TypeError), match=rf"^{name}: "):
            call(ax)
    finally:
        plt.close("all")


def test_density_clip_caps_the_colour_scale_at_a_quantile():
    import matplotlib.pyplot as plt

    from tinygen.distributions import StandardNormal

    fig, ax = plt.subplots()
    im = plot.density(ax, StandardNormal(2).log_prob, bounds=((-3, 3), (-3, 3)), n=20, clip=0.5)
    p = np.exp(StandardNormal(2).log_prob(plot.grid_points(((-3, 3), (-3, 3)), 20)[2]))
    assert im.norm.vmax == pytest.approx(np.quantile(p, 0.5))
    with pytest.raises(ValueError, match=r"^clip: "):
        plot.density(ax, StandardNormal(2).log_prob, n=5, clip=1.5)
    plt.close(fig)


def test_density_panels_share_a_colour_scale_and_a_colour_bar():
    fig, axes = plt.subplots(1, 2)
    top = plot.max_density(data.two_moons_log_prob, n=50)
    p = np.exp(data.two_moons_log_prob(plot.grid_points(plot.DEFAULT_BOUNDS, 50)[2]))
    assert top == pytest.approx(p.max(), rel=1e-12)
    ims = [plot.density(ax, fn, n=50, vmax=top) for ax, fn in
           zip(axes, [data.two_moons_log_prob, StandardNormal(2).log_prob])]
    assert [im.norm.vmax for im in ims] == [top, top] and [im.norm.vmin for im in ims] == [0, 0]
    bar = plot.colorbar(ims[0], list(axes), label="p(x)")
    assert bar.ax.get_ylabel() == "p(x)"
    assert axes[0].get_xlabel() == "$x_1$" and axes[0].get_ylabel() == "$x_2$"  # the lecture's names
    with pytest.raises(ValueError, match=r"^clip: "):
        plot.density(axes[0], data.two_moons_log_prob, n=5, clip=0.9, vmax=top)
    with pytest.raises(ValueError, match=r"^vmax: "):
        plot.density(axes[0], data.two_moons_log_prob, n=5, vmax=-1.0)
    plt.close(fig)


def test_quick_runs_cap_the_density_grid(monkeypatch):
    fig, ax = plt.subplots()
    monkeypatch.setenv(plot.QUICK_ENV, "1")
    assert plot.density(ax, StandardNormal(2).log_prob, n=200).get_array().shape == (plot.QUICK_GRID,) * 2
    monkeypatch.setenv(plot.QUICK_ENV, "0")
    assert plot.density(ax, StandardNormal(2).log_prob, n=40).get_array().shape == (40, 40)
    plt.close(fig)


def test_matrix_counts_rows_and_columns_from_one_unless_named():
    fig, ax = plt.subplots()
    plot.matrix(ax, np.tril(np.ones((3, 4))))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "3"]
    plot.matrix(ax, np.eye(2), row_labels=["$x_2$", "$x_1$"], col_labels=["a", "b"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["$x_2$", "$x_1$"]
    with pytest.raises(ValueError, match=r"^row_labels: expected 2 labels, got 1"):
        plot.matrix(ax, np.eye(2), row_labels=["only one"])
    plt.close(fig)
