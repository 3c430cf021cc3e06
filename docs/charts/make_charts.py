#!/usr/bin/env python3
"""Draws docs/charts/bench.svg from the `strix bench --json` results in docs/data/bench-*.json:
decode tokens/s against context depth and prefill tokens/s against prompt length, one line per
model. Standard library only (the SVG is written by hand), so it runs on a fresh Debian machine:

    python3 docs/charts/make_charts.py
"""
import glob
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def load_series():
    """{model: {"decode": [(depth, tok/s)], "prefill": [(prompt, tok/s)]}} from every result file."""
    series = {}
    for path in sorted(glob.glob(os.path.join(DATA, "bench-*.json"))):
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
        # A shape given as a config file is labelled by the file's name.
        shape, _, rest = result["model"].partition(" ")
        label = os.path.splitext(os.path.basename(shape))[0] + (" " + rest if rest else "")
        model = series.setdefault(label, {"decode": [], "prefill": []})
        for test in result["tests"]:
            if test["n_gen"]:
                model["decode"].append((test["depth"], test["tok_s"]))
            elif test["depth"] == 0:
                model["prefill"].append((test["n_prompt"], test["tok_s"]))
    return series


def panel(x0, title, xlabel, lines):
    """One 420x300 plot at horizontal offset x0; lines: [(label, colour, [(x, y)])]."""
    width, height, left, top = 420, 300, 60, 40
    xs = [x for _, _, points in lines for x, _ in points] or [0, 1]
    ys = [y for _, _, points in lines for _, y in points] or [1]
    xmax = max(xs) or 1
    ymax = max(ys) * 1.15
    step = 10 ** math.floor(math.log10(ymax)) if ymax > 0 else 1
    plot_w, plot_h = width - left - 20, height - top - 50

    def px(x):
        return x0 + left + plot_w * x / xmax

    def py(y):
        return top + plot_h * (1 - y / ymax)

    out = [f'<text x="{x0 + width / 2}" y="22" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(xmax)}" y2="{py(0)}" stroke="black"/>',
           f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(0)}" y2="{py(ymax)}" stroke="black"/>',
           f'<text x="{x0 + left + plot_w / 2}" y="{height - 12}" text-anchor="middle">{xlabel}</text>',
           f'<text x="{x0 + 14}" y="{top + plot_h / 2}" text-anchor="middle" '
           f'transform="rotate(-90 {x0 + 14} {top + plot_h / 2})">tokens/s</text>']
    tick = 0.0
    while tick <= ymax:
        out.append(f'<text x="{px(0) - 6}" y="{py(tick) + 4}" text-anchor="end" font-size="11">{tick:g}</text>')
        out.append(f'<line x1="{px(0)}" y1="{py(tick)}" x2="{px(xmax)}" y2="{py(tick)}" stroke="#ddd"/>')
        tick += step if ymax / step < 8 else 2 * step
    for x in sorted(set(xs)):
        out.append(f'<text x="{px(x)}" y="{py(0) + 16}" text-anchor="middle" font-size="11">{x}</text>')
    for row, (label, colour, points) in enumerate(lines):
        points = sorted(points)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        out.append(f'<text x="{px(xmax) - 4}" y="{top + 14 + 14 * row}" text-anchor="end" font-size="11" fill="{colour}">{label}</text>')
    return out


def main():
    series = load_series()
    decode, prefill = [], []
    for i, (model, s) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        if s["decode"]:
            decode.append((model, colour, s["decode"]))
        if s["prefill"]:
            prefill.append((model, colour, s["prefill"]))
    body = panel(0, "Decode vs context depth", "depth (tokens in the cache)", decode)
    body += panel(440, "Prefill vs prompt length", "prompt tokens", prefill)
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="880" height="300" font-family="sans-serif" font-size="12">',
           '<rect width="880" height="300" fill="white"/>', *body, "</svg>"]
    with open(os.path.join(HERE, "bench.svg"), "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
