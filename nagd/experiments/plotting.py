"""Matplotlib helpers shared by the experiments and the examples.

Figures are built with matplotlib's object-oriented API (`figure` returns a
``matplotlib.figure.Figure`` that is not registered with pyplot), so nothing
here selects or switches a backend: importing this module in a notebook
leaves the user's backend alone. Every plotting function writes one PNG and
returns its path.
"""
import io
import os

import numpy as np
from matplotlib.figure import Figure

__all__ = ["figure", "vector_field_trajectories", "speed_ratio_map", "curves", "save"]

NASGD_COLOR = "tab:blue"
SGD_COLOR = "tab:red"


def figure(figsize=(8, 5), **kwargs):
    """Return a new ``matplotlib.figure.Figure`` (no pyplot, no backend: write it with `save`).

    Parameters
    ----------
    figsize : (float, float), default (8, 5)
        Width and height in inches.
    **kwargs
        Passed to ``Figure``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return Figure(figsize=figsize, **kwargs)


def save(fig, path, dpi=120, bbox_inches="tight"):
    """Write ``fig`` to ``path`` (PNG, or the format its extension names; folders created), atomically.

    The image is rendered in memory and written to a temporary file renamed over ``path``
    (``nagd.experiments.report.write_text``): a symbolic link at ``path`` is replaced, never
    written through, and a failed write leaves the old file.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str
    dpi : int, default 120
    bbox_inches : "tight" or None, default "tight"
        As for ``Figure.savefig``.

    Returns
    -------
    str
        ``path``.
    """
    from .runner import write_atomic
    buf = io.BytesIO()
    fig.savefig(buf, format=os.path.splitext(os.fspath(path))[1][1:].lower() or "png", dpi=dpi,
                bbox_inches=bbox_inches)
    write_atomic(path, buf.getvalue(), prefix=".tmp-", suffix=".part")
    return path


def vector_field_trajectories(field, trajectories, path, extent=(-0.1, 1.1, -0.1, 1.1), density=21,
                              title=None, marker_alpha=0.05):
    """Plot a vector field with the iterates of one or more runs as light circles.

    Parameters
    ----------
    field : callable
        ``field(X, Y) -> (U, V)`` on arrays of shape (density, density), float64: the vector
        drawn at each grid point (e.g. ``-grad q``). Arrows are scaled to a common length
        so the directions read well; the colour shows the true length (log scale).
    trajectories : list of (xs, ys, color, label)
        ``xs, ys``: sequences of shape (n_iterates,), float. Circles are drawn with low
        opacity, so where iterates crowd the curve darkens.
    path : str
        Output PNG.
    extent : (xmin, xmax, ymin, ymax)
    density : int
        Grid points per axis.
    title : str, optional
    marker_alpha : float
        Opacity of one circle.

    Returns
    -------
    str
        ``path``.
    """
    xmin, xmax, ymin, ymax = extent
    X, Y = np.meshgrid(np.linspace(xmin, xmax, density), np.linspace(ymin, ymax, density))
    U, V = field(X, Y)
    length = np.hypot(U, V)
    safe = np.where(length > 0, length, 1.0)
    fig = figure(figsize=(7, 6.5))
    ax = fig.subplots()
    q = ax.quiver(X, Y, U / safe, V / safe, np.log10(np.where(length > 0, length, np.nan)),
                  cmap="Greys", angles="xy", pivot="mid", scale=density * 1.3, width=0.003)
    fig.colorbar(q, ax=ax, label="log10 |field|")
    for xs, ys, color, label in trajectories:
        # Line2D markers draw much faster than a scatter collection of thousands of circles
        ax.plot(xs, ys, "o", markersize=5.5, markerfacecolor="none", markeredgecolor=color,
                markeredgewidth=0.8, alpha=marker_alpha)
        ax.plot([], [], "o", markersize=5.5, markerfacecolor="none", markeredgecolor=color,
                label=label)                                                        # opaque legend entry
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_aspect("equal")
    if trajectories:
        ax.legend(loc="upper left", fontsize=10)
    if title:
        ax.set_title(title)
    return save(fig, path)


def speed_ratio_map(X, Y, ratio, path, title=None, max_size=600.0):
    """Circles whose area is the speed advantage of one method over the other.

    Parameters
    ----------
    X, Y : ndarray of shape (m, n), float64
        Grid points.
    ratio : ndarray of shape (m, n), float64
        Speed of NaSGD over speed of SGD at each point (finite and > 0 where drawn).
        Blue circles where ``ratio > 1`` (NaSGD faster), red where ``ratio < 1`` (SGD
        faster); the area is proportional to ``max(ratio, 1/ratio)``.
    path : str
        Output PNG.
    title : str, optional
    max_size : float
        Marker area (points^2) of the largest advantage on the grid.

    Returns
    -------
    str
        ``path``.
    """
    ratio = np.asarray(ratio, dtype=float)
    ok = np.isfinite(ratio) & (ratio > 0)
    adv = np.where(ok, np.maximum(ratio, 1.0 / np.where(ok, ratio, 1.0)), np.nan)
    scale = max_size / np.nanmax(adv) if np.any(ok) else 1.0
    fig = figure(figsize=(7, 6.5))
    ax = fig.subplots()
    for mask, color, label in ((ok & (ratio > 1), NASGD_COLOR, "NaSGD faster"),
                               (ok & (ratio <= 1), SGD_COLOR, "SGD faster")):
        if mask.any():
            ax.scatter(X[mask], Y[mask], s=adv[mask] * scale, c=color, alpha=0.6, label=label)
    if np.any(ok):
        for value in (2.0, 8.0):
            if value <= np.nanmax(adv):
                ax.scatter([], [], s=value * scale, c="grey", alpha=0.6, label=f"{value:g}x faster")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=9, labelspacing=1.5, borderpad=1.0, bbox_to_anchor=(1.02, 1.0))
    if title:
        ax.set_title(title)
    return save(fig, path)


def curves(series, path, xlabel, ylabel, logy=True, title=None, bands=None):
    """Line plot of several named curves.

    Parameters
    ----------
    series : dict
        ``{label: (x, y)}`` with x and y sequences of one length.
    path : str
        Output PNG.
    xlabel, ylabel : str
    logy : bool
        Log scale on the y axis.
    title : str, optional
    bands : dict, optional
        ``{label: (lower, upper)}``: a shaded band around that curve.

    Returns
    -------
    str
        ``path``.
    """
    fig = figure(figsize=(8, 5))
    ax = fig.subplots()
    for label, (x, y) in series.items():
        line, = ax.plot(x, y, label=label, linewidth=1.4)
        if bands and label in bands:
            lo, hi = bands[label]
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title)
    return save(fig, path)
