"""Screenshots of the interactive HTML pages for samples/gallery/html/ (headless chromium).

    PYTHONPATH=. python scripts/html_gallery.py [OUT_FOLDER]

Writes a few PNGs (each under 300 KB) showing the viewer as a user sees it:
a search result with its details panel, a ×N block, a 4 → 5 block GPT-2
diff with a change selected and its "changes only" view, and a model
whose names carry markup. Screenshots are not byte-deterministic, so the
folder has no manifest; re-run this after changing the viewer.
"""

import io
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_BYTES = 300_000


def _png(data):
    """The screenshot, palette-quantised when it is over :data:`MAX_BYTES`."""
    if len(data) <= MAX_BYTES:
        return data
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=128)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def pages(folder):
    import graphir
    from graphir import explore
    from tests.html_pages import gpt2_graph, hostile_graph

    old, new = gpt2_graph(4), gpt2_graph(5)
    texts = {
        "gpt2": explore.model_page(old, depth=2, source_info="samples/gpt2.py:gpt2_model",
                                   command_line="graphir render samples/gpt2.py:gpt2_model "
                                                "--depth 2 -o gpt2.html"),
        "diff": explore.diff_page(graphir.diff(old, new), old_name="gpt2 (4 blocks)",
                                  new_name="gpt2 (5 blocks)",
                                  command_line="graphir diff gpt2_4.json gpt2_5.json -o diff.html"),
        "hostile": explore.model_page(hostile_graph(), source_info="evil.onnx"),
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = pathlib.Path(folder) / f"{name}.html"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = pathlib.Path(argv[0]) if argv else ROOT / "samples" / "gallery" / "html"
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        paths = pages(folder)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})

        def load(name):
            page.goto(paths[name].as_uri())
            page.wait_for_function("window.__graphirReady === true")

        def shot(name):
            (out / name).write_bytes(_png(page.screenshot()))
            print(out / name, (out / name).stat().st_size, "bytes")

        load("gpt2")
        page.keyboard.press("?")
        shot("model_first_view_help.png")
        load("gpt2")
        page.fill("#search", "h.0.attn.c_attn")
        for _ in range(2):
            page.press("#search", "Enter")
        shot("model_search_panel.png")
        load("diff")
        group = page.locator("#change-list details").first
        group.locator("summary").click()
        group.locator("a.change").nth(10).click()
        shot("diff_change_selected.png")
        page.check("#context-on")
        shot("diff_changes_only.png")
        load("hostile")
        page.fill("#search", "relu")
        page.press("#search", "Enter")
        shot("hostile_names_as_text.png")
        browser.close()


if __name__ == "__main__":
    main()
