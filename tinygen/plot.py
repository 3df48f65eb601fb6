"""Figures for demos: densities, samples, per-layer panels, masks, image grids, curves.

This module never picks the matplotlib backend: the environment (MPLBACKEND)
or the caller does, so the same demo shows its figures inline in Jupyter and
writes PNGs from a script (matplotlib falls back to Agg without a display).
Models never import this module; demos and benchmarks do.

Most functions draw into a matplotlib ``ax`` the caller made, so panels can be
combined freely; ``layer_panels`` and ``image_grid`` make their own Figure.
Finish with ``save(fig, path)``, or in a demo ``show(fig, name, out)``, which
also displays the figure inline when run in a notebook.
"""
import os
import sys

import matplotlib.pyplot as plt
import numpy as onp
from matplotlib.colors import TwoSlopeNorm

from ._validate import as_float_array, check_positive, check_positive_int
from .recipes import QUICK_ENV, quick  # (TINYGEN_QUICK=1: the demos' tiny sizes)

__all__ = ["QUICK_ENV", "colorbar", "curves", "demo_args", "density", "grid_points", "image_grid", "in_notebook",
           "layer_panels", "matrix", "max_density", "quick", "samples", "save", "show"]

DEFAULT_BOUNDS = ((-1.5, 2.5), (-1.0, 1.5))  # frames the two moons at noise <= 0.1
QUICK_GRID = 30  # density grids are at most this many points a side with TINYGEN_QUICK=1


def _bounds(bounds):
    b = as_float_array(bounds, "bounds", ndim=2, last_dim=2)
    if b.shape[0] != 2 or not onp.all(b[:, 0] < b[:, 1]):
        raise ValueError(f"bounds: expected ((x_lo, x_hi), (y_lo, y_hi)) with lo < hi, got {b.tolist()}")
    return b


def grid_points(bounds, n):
    """An n x n grid over ``bounds``: returns (X, Y, points (n*n, 2))."""
    b = _bounds(bounds)
    X, Y = onp.meshgrid(onp.linspace(*b[0], n), onp.linspace(*b[1], n))
    return X, Y, onp.column_stack([X.ravel(), Y.ravel()])


def density(ax, log_prob_fn, bounds=DEFAULT_BOUNDS, n=200, title=None, cmap="viridis", clip=None, vmax=None,
            labels=("$x_1$", "$x_2$")):
    """Heat map of p(x) = exp(log_prob_fn(x)) on an n x n grid over ``bounds``; returns the image.

    ``log_prob_fn`` maps an (m, 2) array to (m,) log-densities (a model's
    ``lambda x: model.log_prob(params, x)`` or an exact ``data.two_moons_log_prob``).
    vmax: the density at the top of the colour scale; give panels shown side by side
        the same vmax (and one ``colorbar``) so that their colours can be compared.
    clip: optional quantile in (0, 1] for the top of the colour scale instead; a noisy
        estimate (a VAE's importance-sampled density) can have a few lucky grid
        points that would otherwise make everything else look black.
    labels: the axis labels, in the lecture's notation (None: none).
    With TINYGEN_QUICK=1 the grid is at most QUICK_GRID points a side (tests, a first look).
    """
    p, n = _grid_density(log_prob_fn, bounds, n)
    b = _bounds(bounds)
    if clip is not None:
        if not 0 < clip <= 1:
            raise ValueError(f"clip: expected a quantile in (0, 1], got {clip!r}")
        if vmax is not None:
            raise ValueError("clip: give either clip or vmax, not both")
        vmax = onp.quantile(p, clip)
    elif vmax is not None:
        vmax = check_positive(vmax, "vmax")
    im = ax.imshow(p, origin="lower", extent=(*b[0], *b[1]), aspect="auto", cmap=cmap, vmin=0, vmax=vmax)
    ax.set_xlim(*b[0])
    ax.set_ylim(*b[1])
    _label(ax, labels)
    if title:
        ax.set_title(title)
    return im


def _grid_density(log_prob_fn, bounds, n):
    """p(x) on the n x n grid (NaN log-densities count as p = 0), and the n used."""
    n = check_positive_int(n, "n", minimum=2)
    n = min(n, QUICK_GRID) if quick() else n
    from .evaluate import _untraced_kernels  # a grid of log-densities is an evaluation: fast/'s untraced kernels
    with _untraced_kernels():
        log_p = onp.asarray(log_prob_fn(grid_points(bounds, n)[2]), dtype=onp.float64).reshape(n, n)
    return onp.exp(onp.where(onp.isnan(log_p), -onp.inf, log_p)), n


def max_density(log_prob_fn, bounds=DEFAULT_BOUNDS, n=200):
    """The largest p(x) on the grid that ``density`` draws: the top of a colour scale shared by
    panels side by side (give it the exact density, and a model's excess mass saturates)."""
    return float(_grid_density(log_prob_fn, bounds, n)[0].max())


def colorbar(im, ax, label="density p(x)"):
    """A colour bar for ``im`` beside ``ax`` (one axis, or a list of axes sharing the scale)."""
    axes = list(onp.ravel(ax)) if isinstance(ax, (list, tuple, onp.ndarray)) else [ax]
    bar = axes[0].figure.colorbar(im, ax=axes, fraction=0.046, pad=0.03)
    bar.set_label(label)
    return bar


def _label(ax, labels):
    if labels is not None:
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])


def samples(ax, x, c=None, title=None, bounds=None, s=2, cmap="coolwarm", labels=("$x_1$", "$x_2$"), label=None):
    """Scatter of (n, 2) points, optionally coloured by ``c`` (labels or values);
    ``label`` names the points in a legend."""
    x = as_float_array(x, "x", ndim=2, last_dim=2)
    mapped = c is not None and not isinstance(c, str)  # values to colour by, not one colour name
    ax.scatter(x[:, 0], x[:, 1], c=c, s=s, cmap=cmap if mapped else None, linewidths=0, label=label)
    _label(ax, labels)
    if bounds is not None:
        b = _bounds(bounds)
        ax.set_xlim(*b[0])
        ax.set_ylim(*b[1])
    if title:
        ax.set_title(title)
    return ax


def layer_panels(zs, bounds=None, titles=None, c=None, s=2):
    """One scatter per array in ``zs`` = [z_0, ..., z_K], the samples after each flow layer.

    Colouring every panel by ``c`` (default: the angle of z_0) shows where each
    base point travels as the layers bend the space.
    """
    if not isinstance(zs, (list, tuple)) or len(zs) == 0:
        raise TypeError(f"zs: expected a non-empty list of (n, 2) arrays, got {type(zs).__name__}")
    zs = [as_float_array(z, f"zs[{k}]", ndim=2, last_dim=2) for k, z in enumerate(zs)]
    if titles is not None and len(titles) != len(zs):
        raise ValueError(f"titles: expected {len(zs)} titles, got {len(titles)}")
    if c is None:
        c = onp.arctan2(zs[0][:, 1], zs[0][:, 0])
    fig, axes = plt.subplots(1, len(zs), figsize=(2.6 * len(zs), 2.8), squeeze=False)
    for k, (ax, z) in enumerate(zip(axes[0], zs)):
        title = titles[k] if titles is not None else f"$z_{{{k}}}$"
        samples(ax, z, c=c, title=title, bounds=bounds, s=s, cmap="hsv", labels=None)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def matrix(ax, M, title=None, cmap=None, annotate=False, diverging=None, row_labels=None, col_labels=None):
    """Show a 2-D array: a MADE mask, a PixelCNN mask, a Jacobian.

    A matrix with negative entries (a Jacobian) gets a diverging colormap
    centred at 0 (``diverging=None`` decides from the values); a 0/1 mask gets
    greys. ``annotate=True`` writes each value in its cell (small masks).
    Rows and columns are numbered from 1, as the lecture counts (x_1, ..., x_D),
    unless ``row_labels`` / ``col_labels`` name them.
    """
    M = as_float_array(M, "M", ndim=2)
    if diverging is None:
        diverging = bool(onp.any(M < 0))
    if diverging:
        lim = max(float(onp.max(onp.abs(M))), 1e-12)
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
        im = ax.imshow(M, cmap=cmap or "RdBu_r", norm=norm)
    else:
        im = ax.imshow(M, cmap=cmap or "Greys", vmin=min(0.0, M.min()), vmax=max(1.0, M.max()))
    if annotate:
        hi = onp.max(onp.abs(M)) or 1.0
        for (i, j), v in onp.ndenumerate(M):
            text = f"{v:g}" if v == round(v) else f"{v:.2f}"
            colour = "white" if abs(v) > 0.6 * hi and not diverging else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    for arg, set_ticks, size, names in (("col_labels", ax.set_xticks, M.shape[1], col_labels),
                                        ("row_labels", ax.set_yticks, M.shape[0], row_labels)):
        if names is not None and len(names) != size:
            raise ValueError(f"{arg}: expected {size} labels, got {len(names)}")
        if names is None and size > 16:
            set_ticks([])
        else:
            set_ticks(range(size), names if names is not None else [str(i + 1) for i in range(size)])
    if title:
        ax.set_title(title)
    return im


def image_grid(images, ncols=8, title=None):
    """A Figure tiling (n, h, w) images with values in [0, 1] (black = 0, white = 1)."""
    images = as_float_array(images, "images", ndim=3)
    ncols = check_positive_int(ncols, "ncols")
    n = images.shape[0]
    if n < 1:
        raise ValueError("images: expected at least one image, got 0")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.1 * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.axis("off")
            continue
        ax.imshow(images[k], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():   # a grey frame keeps white edges of neighbours apart
            spine.set_edgecolor("0.6")
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3, h_pad=0.3, w_pad=0.3)
    return fig


def curves(ax, history_like, title=None, ylabel=None, xlabel="step"):
    """Training curves: ``history_like`` maps a name to (steps, values)."""
    if not isinstance(history_like, dict):
        raise TypeError(f"history_like: expected a dict name -> (steps, values), got {type(history_like).__name__}")
    for name, (steps, values) in history_like.items():
        ax.plot(onp.asarray(steps), onp.asarray(values), label=str(name))
    if len(history_like) > 1:
        ax.legend()
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def save(fig, path, dpi=110, close=True):
    """Write ``fig`` as a PNG at ``path`` (parent folders created), close it unless
    ``close=False``, and return the path."""
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()  # keeps axis labels of neighbouring panels from overlapping
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return path


# --------------------------------------------------------------- demos: one source, script or notebook

def in_notebook():
    """True inside a Jupyter (IPython) kernel."""
    return "ipykernel" in sys.modules


def demo_args(parser, quick_values=None, argv=None):
    """A demo's options: the command line in a script, the defaults in a notebook.

    A kernel's own argv (``-f kernel.json``) is not the demo's, so in a notebook
    only the defaults are used. With ``TINYGEN_QUICK=1`` the defaults are first
    replaced by ``quick_values`` (a dict of option -> value: few steps, small data),
    which is how the tests run every demo and notebook in seconds.
    """
    if quick_values is not None and not isinstance(quick_values, dict):
        raise TypeError(f"quick_values: expected a dict of option -> value, got {type(quick_values).__name__}")
    if quick() and quick_values:
        parser.set_defaults(**quick_values)
    if argv is None:
        argv = [] if in_notebook() else sys.argv[1:]
    return parser.parse_args(argv)


QUICK_DPI = 72  # a quick run's figures (the tests, the site's previews): under half the pixels of 110


def show(fig, name, out=None, dpi=None):
    """Finish a demo figure: write ``out/name.png`` (when out is given), show it inline
    in a notebook, then close it. Returns the path written, or None. ``dpi`` defaults to
    110, or QUICK_DPI in a quick run (TINYGEN_QUICK=1)."""
    dpi = (QUICK_DPI if quick() else 110) if dpi is None else dpi
    path = save(fig, os.path.join(out, f"{name}.png"), dpi=dpi, close=False) if out else None
    if in_notebook():
        from IPython.display import Image, display  # present wherever a kernel runs
        # the PNG just written, byte for byte, rather than a second rendering of the figure
        display(Image(filename=path) if path else fig)
    plt.close(fig)
    if path:
        print("wrote", path)
    return path
