"""The interactive HTML pages in a real browser (Playwright driving Debian's chromium).

No skips: without ``/usr/bin/chromium`` (``scripts/setup_browser.sh`` installs
it) or the ``playwright`` package every test here fails with a message saying so.
"""

import os
import pathlib

import pytest

import graphir
from graphir import explore
from tests.html_pages import SCRIPT, gpt2_graph, hostile_graph

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup_browser.sh "
                    "(apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install playwright")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Write the pages once: a GPT-2 with a ×4 block, ResNet, a 4 → 5 block diff, a hostile model."""
    folder = tmp_path_factory.mktemp("html")
    old, new = gpt2_graph(4), gpt2_graph(5)
    written = {
        "gpt2": explore.model_page(old, depth=2, source_info="samples/gpt2.py:gpt2_model",
                                   command_line="graphir render gpt2 --depth 2 -o gpt2.html"),
        "resnet": explore.model_page(graphir.load("samples/resnet_tiny.onnx"),
                                     source_info="samples/resnet_tiny.onnx"),
        "diff": explore.diff_page(graphir.diff(old, new), old_name="gpt2-4", new_name="gpt2-5",
                                  command_line="graphir diff a b -o diff.html"),
        "hostile": explore.model_page(hostile_graph(), source_info="evil.onnx"),
    }
    paths = {}
    for name, text in written.items():
        paths[name] = folder / f"{name}.html"
        paths[name].write_text(text, encoding="utf-8")
    return paths


class Page:
    """A loaded page that records console errors and any non-file request."""

    def __init__(self, browser, path):
        self.errors, self.requests = [], []
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url)
                     if not r.url.startswith(("file:", "data:", "about:")) else None)
        self.page.goto(pathlib.Path(path).as_uri())
        self.page.wait_for_function("window.__graphirReady === true", timeout=10000)

    def check_clean(self):
        assert self.errors == [], self.errors
        assert self.requests == [], self.requests

    def in_view(self, selector):
        """Whether the element's centre lies inside the drawing's viewport."""
        return self.page.evaluate("""sel => {
            const e = document.querySelector(sel), v = document.getElementById('viewport');
            if (!e) return false;
            const r = e.getBoundingClientRect(), w = v.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            return x > w.left && x < w.right && y > w.top && y < w.bottom && r.width > 4;
        }""", selector)


def _dom_id(page, node):
    """The SVG element id of IR ``node`` in the state shown now."""
    return page.page.evaluate("""id => {
        const s = JSON.parse(document.getElementById('graphir-data').textContent)
            .states[window.graphir.state()];
        return Object.keys(s.dom).find(k => s.dom[k] === id) || null;
    }""", node)


def test_search_by_module_path_opens_the_node_with_shapes(browser, pages):
    p = Page(browser, pages["gpt2"])
    p.page.fill("#search", "h.0.attn.c_attn")
    panel = p.page.locator("#panel")
    for _ in range(6):                       # Enter cycles through the matches
        p.page.press("#search", "Enter")
        panel.wait_for(state="visible")
        text = panel.inner_text()
        if "addmm" in text.split("\n")[1]:
            break
    assert "h.0.attn.c_attn" in text
    assert "16×192" in text, text            # output shape of the c_attn projection
    assert "64×192" in text and "h.0.attn.c_attn.weight" in text, text   # parameter shape
    assert "12,288" in text, text            # parameter count
    # the match is drawn (inside the opened block) and brought into view
    assert p.page.evaluate("window.graphir.state()") != 0
    assert p.in_view("g.node.selected")
    assert "found" in p.page.inner_text("#search-count") or "/" in p.page.inner_text(
        "#search-count")
    p.check_clean()


def test_click_on_folded_block_opens_it_and_closes_again(browser, pages):
    p = Page(browser, pages["gpt2"])
    box = _dom_id(p, "module:h.0")
    assert box, "the ×4 block is drawn as a box"
    assert "×4" in p.page.locator(f'[id="{box}"]').text_content()
    p.page.click(f'[id="{box}"]')
    p.page.wait_for_function("window.graphir.state() !== 0")
    crumbs = p.page.inner_text("#crumbs")
    assert "h.0" in crumbs
    assert p.page.locator("#canvas g.node").count() > 10     # the block's ops are drawn
    p.page.keyboard.press("u")
    p.page.wait_for_function("window.graphir.state() === 0")
    assert p.page.locator(f'[id="{box}"]').count() == 1
    p.check_clean()


def test_zoom_buttons_wheel_and_fit_change_the_view(browser, pages):
    p = Page(browser, pages["resnet"])
    start = p.page.evaluate("window.graphir.view()")
    p.page.click("#zoom-in")
    zoomed = p.page.evaluate("window.graphir.view()")
    assert zoomed["k"] == pytest.approx(start["k"] * 1.25)
    transform = p.page.evaluate("document.getElementById('canvas').style.transform")
    assert float(transform.split("scale(")[1].rstrip(")")) == pytest.approx(zoomed["k"], rel=1e-4)
    p.page.mouse.move(600, 400)
    p.page.mouse.wheel(0, 400)
    assert p.page.evaluate("window.graphir.view()")["k"] < zoomed["k"]
    p.page.mouse.move(600, 400)
    p.page.mouse.down()
    p.page.mouse.move(700, 450, steps=5)
    p.page.mouse.up()
    moved = p.page.evaluate("window.graphir.view()")
    p.page.click("#fit")
    assert p.page.evaluate("window.graphir.view()") != moved
    p.page.keyboard.press("?")
    assert p.page.locator("#help").is_visible()
    p.page.keyboard.press("Escape")
    # hovering a node highlights its incoming and outgoing edges
    conv = _dom_id(p, next(n for n in p.page.evaluate(
        "Object.keys(JSON.parse(document.getElementById('graphir-data').textContent).nodes)")
        if n.startswith("layer1.0.conv2")))
    p.page.hover(f'[id="{conv}"]')
    assert p.page.locator("g.edge.hl-in").count() >= 1
    assert p.page.locator("g.edge.hl-out").count() >= 1
    p.check_clean()


def test_click_on_a_change_brings_the_node_into_view(browser, pages):
    p = Page(browser, pages["diff"])
    assert "44 added" in p.page.inner_text("#diff-counts").replace("\n", " ")
    assert "added" in p.page.inner_text("#diff-legend")
    group = p.page.locator("#change-list details").first
    assert "h.4" in group.inner_text() and "whole module added" in group.inner_text()
    group.locator("summary").click()              # open the group
    entry = group.locator("a.change").nth(10)
    node = entry.get_attribute("data-node")
    entry.click()
    dom = _dom_id(p, node)
    assert dom and p.in_view(f'[id="{dom}"]') and p.page.evaluate("window.graphir.selected()") == node
    assert p.page.evaluate("window.graphir.view()")["k"] > 0.5   # zoomed in, not the overview
    # the context toggle switches to the changes-only drawing and the list still works
    p.page.check("#context-on")
    assert p.page.evaluate("window.graphir.state()") != 0
    entry.click()
    assert p.in_view(f'[id="{_dom_id(p, node)}"]')
    assert p.page.locator("#diffbar").is_visible()
    p.check_clean()


def test_hostile_model_strings_show_as_text_and_run_nothing(browser, pages):
    p = Page(browser, pages["hostile"])
    assert p.page.evaluate("window.__pwned") is None
    assert "</script>" in p.page.inner_text("#page-title")
    assert "<script>" in p.page.inner_text("#notes")          # the doc string, as text
    assert p.page.locator("img").count() == 0 and p.page.locator("script").count() == 2  # data, viewer (the SVG is inline)
    p.page.fill("#search", "relu")
    p.page.press("#search", "Enter")
    text = p.page.inner_text("#panel")
    assert f"relu {SCRIPT}" in text and "onerror" in text
    assert p.page.evaluate("window.__pwned") is None
    p.check_clean()


def test_search_answers_over_all_nodes_quickly(browser, pages):
    p = Page(browser, pages["diff"])
    count = p.page.evaluate("window.graphir.search('h.')")
    assert count > 100
    assert p.page.evaluate("window.__graphirLastSearchMs") < 50
    p.check_clean()
