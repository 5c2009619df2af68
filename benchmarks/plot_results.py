"""Figures of the saved benchmark outputs, for the documentation's benchmarks page.

Each ``bench_*.py`` prints a table; its output, saved as
``docs/benchmark_results/bench_<name>.txt`` (``python benchmarks/bench_<name>.py |
tee docs/benchmark_results/bench_<name>.txt``), is parsed here into a figure
``docs/benchmark_results/<name>.png``. The docs build only reads the saved files:
the benchmarks take minutes and need R, the docs must build offline in seconds.

Usage: python benchmarks/plot_results.py [--folder docs/benchmark_results]
"""

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NUMBER = r"[-+]?\d*\.?\d+(?:e[-+]?\d+)?"


def quantile_figure(text, path):
    """Fit time against n, ours and each peer, for q = 0.5 and 0.9."""
    pattern = re.compile(rf"^\s*(\d+)\s+({NUMBER})\s+(.+?)\s+({NUMBER})\s+({NUMBER})\s",
                         re.MULTILINE)
    times = {}
    for n, q, peer, peer_s, ours_s in pattern.findall(text):
        key = (float(q), int(n))
        times.setdefault((float(q), peer.strip()), {})[int(n)] = float(peer_s)
        times.setdefault((float(q), "statopt"), {})[key[1]] = float(ours_s)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, q in zip(axes, (0.5, 0.9)):
        for (level, name), series in sorted(times.items()):
            if level != q:
                continue
            sizes = sorted(series)
            ax.loglog(sizes, [series[n] for n in sizes], marker="o", label=name,
                      linewidth=3 if name == "statopt" else 1.5)
        ax.set_title(f"quantile regression, q = {q}")
        ax.set_xlabel("n (p = 10 + intercept)")
    axes[0].set_ylabel("fit time, s (1 BLAS thread)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def retrieval_figure(text, path):
    """mAP of every method in both directions, Wikipedia and simulated."""
    sections = re.split(r"\n\[\d\] ", text)[1:]
    fig, axes = plt.subplots(1, len(sections), figsize=(11, 4.5))
    for ax, section in zip(axes, sections):
        title = section.splitlines()[0].strip()
        rows = re.findall(rf"^\s*(.+?)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$",
                          section, re.MULTILINE)
        names = [name.strip() for name, *_ in rows]
        positions = range(len(rows))
        ax.barh([p + 0.2 for p in positions], [float(r[1]) for r in rows], 0.4,
                label="image -> text")
        ax.barh([p - 0.2 for p in positions], [float(r[2]) for r in rows], 0.4,
                label="text -> image")
        ax.set_yticks(list(positions), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("mean average precision")
        ax.set_title(title.split(":")[0].split(" (")[0])
    axes[-1].legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def fitssvd_figure(text, path):
    """Time and gene-subspace error of FITSSVD, TruncatedSVD and SparsePCA."""
    rows = re.findall(rf"^(FITSSVD \S+|TruncatedSVD \S+)\s+({NUMBER})\s+({NUMBER})",
                      text, re.MULTILINE)
    names = [name for name, *_ in rows]
    seconds = [float(s) for _, s, _ in rows]
    errors = [float(e) for *_, e in rows]
    for alpha, s in re.findall(rf"^\s+({NUMBER})\s+({NUMBER})\s+{NUMBER}\s+{NUMBER}"
                               r"\s+\d+\s", text, re.MULTILINE):
        names.append(f"SparsePCA alpha={alpha}")
        seconds.append(float(s))
        errors.append(float("nan"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].barh(names, seconds)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("fit time, s (1 BLAS thread), log scale")
    axes[0].invert_yaxis()
    axes[1].barh(names[:len(rows)], errors[:len(rows)], color="tab:orange")
    axes[1].set_xlabel("squared sine to the true gene subspace")
    axes[1].invert_yaxis()
    fig.suptitle("12,625 x 56 rank-3 spiked model")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


FIGURES = {"quantile": quantile_figure, "crossmodal": retrieval_figure,
           "fitssvd": fitssvd_figure}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path,
                        default=Path(__file__).resolve().parents[1] / "docs"
                        / "benchmark_results")
    args = parser.parse_args()
    for name, draw in FIGURES.items():
        source = args.folder / f"bench_{name}.txt"
        if source.is_file():
            draw(source.read_text(), args.folder / f"{name}.png")
            print(f"wrote {args.folder / f'{name}.png'}")


if __name__ == "__main__":
    main()
