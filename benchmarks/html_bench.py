"""Figures for the interactive HTML page (issue 11's budgets); prints, asserts nothing.

    PYTHONPATH=. python benchmarks/html_bench.py [--layers 48] [--out /tmp/gpt2_48.html]

A ``--layers``-block GPT-2 (``samples/gpt2.py``) drawn at full detail
(``--no-fold --depth 99``, ~2,000 nodes for 48 blocks):

* the HTML file's size against the SVG of the same view (budget ≤ 3×);
* first paint in headless Debian chromium: navigation start until the
  drawing is in the page and two animation frames have passed (budget ≤ 2 s);
* search over all nodes (budget ≤ 50 ms), the slowest of a few queries;
* the time graphir takes to write the page.
"""

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUERIES = ("h.47.attn", "linear", "layer_norm", "Conv1D", "zz-no-match", "h.")


def measure_browser(path, runs=3):
    """``(first paint seconds, slowest search ms, matches)``, best first paint of ``runs``."""
    from playwright.sync_api import sync_playwright

    paints, searches = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(pathlib.Path(path).as_uri(), wait_until="commit")
            page.wait_for_function("window.__graphirReady === true", timeout=60000)
            paint = page.evaluate("""() => new Promise(done => requestAnimationFrame(
                () => requestAnimationFrame(() => done(performance.now()))))""")
            paints.append(paint / 1000)
            for query in QUERIES:
                found = page.evaluate("q => window.graphir.search(q)", query)
                searches.append((page.evaluate("window.__graphirLastSearchMs"), query, found,
                                 page.evaluate("window.__graphirLastMatchMs")))
            page.close()
        browser.close()
    return min(paints), max(searches)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--out", default="/tmp/graphir_html_bench.html")
    args = parser.parse_args(argv)

    import graphir
    from graphir import explore, passes
    from graphir.renderers import render_bytes, to_dot
    from samples.gpt2 import _example_inputs, gpt2_model

    G = graphir.convert(gpt2_model(n_layer=args.layers), _example_inputs())
    shown = passes.view(G, depth=99, fold=False, max_nodes=0)
    start = time.perf_counter()
    svg = render_bytes(to_dot(shown), "svg")
    svg_seconds = time.perf_counter() - start
    start = time.perf_counter()
    page = explore.model_page(G, depth=99, fold=False, max_nodes=0, source_info="samples/gpt2.py",
                              command_line=f"html_bench.py --layers {args.layers}")
    page_seconds = time.perf_counter() - start
    out = pathlib.Path(args.out)
    out.write_text(page, encoding="utf-8")
    html_bytes = len(page.encode("utf-8"))
    print(f"GPT-2 {args.layers} blocks, --no-fold --depth 99 --max-nodes 0: {shown.number_of_nodes()} nodes "
          f"drawn, {G.number_of_nodes()} in the IR")
    print(f"SVG of the same view   {len(svg) / 1e6:7.2f} MB  ({svg_seconds:.1f} s to render)")
    print(f"HTML page              {html_bytes / 1e6:7.2f} MB  ({page_seconds:.1f} s to write) "
          f"-> {html_bytes / len(svg):.2f}x the SVG (budget 3x)")
    paint, (search_ms, query, found, match_ms) = measure_browser(out)
    print(f"first paint (chromium) {paint:7.2f} s   (budget 2 s, best of 3)")
    print(f"slowest search         {search_ms:7.1f} ms  ({query!r}, {found} matches highlighted; "
          f"matching alone {match_ms:.1f} ms; budget 50 ms)")


if __name__ == "__main__":
    main()
