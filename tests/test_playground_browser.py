"""layerlab playground in a real browser: Debian's headless Chromium, driven by Playwright.

uvicorn serves the app on a free loopback port; the page is used as a student would: task 5's preset,
play until the test loss is under the target, export and re-import the model, upload CSV files. Skipped
only when there is no browser: neither Debian's ``chromium`` (``.ci/run`` installs it) nor the Chromium that
``python -m playwright install chromium`` downloads.
"""

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest


def _chromium() -> str | None:
    """Debian's chromium, else the Chromium that Playwright downloaded (``playwright install chromium``)."""
    found = shutil.which("chromium")
    if found is not None:
        return found
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # Playwright not installed, or its driver cannot start
        return None
    return path if path and os.path.exists(path) else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no browser: apt-get install chromium (Debian), or python -m playwright install chromium",
)


@pytest.fixture(scope="module")
def url():
    import uvicorn

    from layerlab.playground.server import uvicorn_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn_config("127.0.0.1", port))  # the server `layerlab playground` runs
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def pixels(page, selector):
    return page.evaluate("s => document.querySelector(s).toDataURL()", selector)


def on_link(page, link_id: str) -> tuple[float, float]:
    """A point a fifth of the way along a link (its middle may be where another link crosses it)."""
    return tuple(
        page.evaluate(
            "id => { const path = document.getElementById(id), box = document.querySelector('#links')"
            ".getBoundingClientRect(), p = path.getPointAtLength(path.getTotalLength() / 5);"
            " return [box.left + p.x, box.top + p.y]; }",
            link_id,
        )
    )


def three_blobs_csv() -> bytes:
    rng = np.random.default_rng(1)
    rows = ["x,y,label"]
    for label, (cx, cy) in enumerate([(-3, -3), (3, -3), (0, 3)]):
        rows += [f"{cx + rng.normal():.3f},{cy + rng.normal():.3f},{label}" for _ in range(50)]
    return "\n".join(rows).encode()


def test_task5_train_export_import_upload(url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # CI runs as root
        page = browser.new_page(viewport={"width": 1280, "height": 940}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        expect(page.locator("#epoch")).to_have_text("000,000")

        # task 5's preset: XOR from x1 and x2, the question beside the network, the target checked live
        page.select_option("#task", "5")
        expect(page.locator("#task-title")).to_contain_text("Task 5")
        expect(page.locator("#task-panel")).to_contain_text("test loss under 0.02")
        expect(page.locator('#datasets button[data-name="xor"]')).to_have_class(re.compile("selected"))
        expect(page.locator("#target-status")).to_have_text("target: under 0.02")
        heat_map, chart = pixels(page, "#heatmap"), pixels(page, "#chart")
        page.click("#play")
        expect(page.locator("#target-status")).to_have_class("met", timeout=45_000)
        page.click("#play")  # pause
        assert float(page.inner_text("#test-loss")) <= 0.02  # shown to 3 decimals: 0.0199 reads "0.020"
        assert pixels(page, "#heatmap") != heat_map and pixels(page, "#chart") != chart
        assert "data=xor" in page.url and "task=5" in page.url  # the set-up travels in the link
        other = browser.new_page(viewport={"width": 1280, "height": 940})
        other.goto(page.url)
        expect(other.locator('#datasets button[data-name="xor"]')).to_have_class(re.compile("selected"))
        expect(other.locator("#task-title")).to_contain_text("Task 5")
        expect(other.locator("#layer-count")).to_have_text("2 hidden layers")
        expect(other.locator("#neuron-2-1")).to_be_visible()  # the second layer's 2 neurons
        other.close()

        # explain a neuron of the first hidden layer
        page.click("#neuron-1-0")
        expect(page.locator("#explain")).to_be_visible()
        page.keyboard.press("Escape")  # the bias editor the click opened: not in the picture
        expect(page.locator("#editor")).to_be_hidden()
        expect(page.locator("#explain-title")).to_contain_text("neuron 1 of hidden layer 1 (tanh)")
        expect(page.locator("#explain-body table")).to_have_count(2)
        page.mouse.move(5, 5)  # no tooltip in the picture
        page.screenshot(path=str(tmp_path / "task5.png"), full_page=True)
        if os.environ.get("LAYERLAB_PLAYGROUND_SCREENSHOT"):  # the README's picture
            page.screenshot(path=os.environ["LAYERLAB_PLAYGROUND_SCREENSHOT"], full_page=True)
        page.click("#explain-close")

        # export, reset to fresh weights, import the export back
        page.click("#export")
        expect(page.locator("#export-spec")).to_have_text("input(2) dense(4) tanh dense(2) tanh dense(1) sigmoid")
        expect(page.locator("#export-command")).to_contain_text("layerlab train --config playground-xor-epoch")
        epoch, loss = page.inner_text("#epoch"), page.inner_text("#test-loss")
        with page.expect_download() as download:
            page.locator("#export-links a", has_text=".safetensors").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.stat().st_size > 100
        page.click("#reset")
        expect(page.locator("#epoch")).to_have_text("000,000")
        page.set_input_files("#import", str(saved))
        expect(page.locator("#epoch")).to_have_text(epoch)
        expect(page.locator("#test-loss")).to_have_text(loss)

        # upload three classes, then a broken file whose message names the row
        page.set_input_files("#csv", files=[{"name": "three.csv", "mimeType": "text/csv", "buffer": three_blobs_csv()}])
        expect(page.locator("#legend")).to_contain_text("class 2")
        expect(page.locator("#loss-note")).to_contain_text("3 classes")
        page.click("#step")
        expect(page.locator("#epoch")).to_have_text("000,001")
        broken = b"x,y,label\n1,2,0\n3,oops,1\n"
        page.set_input_files("#csv", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": broken}])
        expect(page.locator("#message")).to_contain_text("CSV row 3: 'oops' is not a number")
        page.screenshot(path=str(tmp_path / "upload.png"))
        assert Path(tmp_path / "upload.png").stat().st_size > 10_000
        assert not errors, errors
        from layerlab.playground.server import CONNECTIONS

        assert len(CONNECTIONS) == 1
        page.click("#play")  # training, then the tab closes: its session ends with it
        expect(page.locator("#epoch")).not_to_have_text("000,001")
        page.close()
        for _ in range(100):
            if not CONNECTIONS:
                break
            time.sleep(0.05)
        assert not CONNECTIONS
        browser.close()


def assert_hash_holds(page, *parts: str) -> None:
    """The link in the address bar holds every part, once the page has written it (it may do so a moment after
    the control changed: waiting up to 10 s, an assertion with the hash it found after that)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    script = "parts => parts.every(part => decodeURIComponent(location.hash).includes(part))"
    try:
        page.wait_for_function(script, arg=list(parts), timeout=10_000)
    except PlaywrightTimeout:
        pass
    hash_ = page.evaluate("decodeURIComponent(location.hash)")
    assert all(part in hash_ for part in parts), hash_


def test_controls_reshape_the_network_and_travel_in_the_link(url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 940})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        expect(page.locator("#layer-count")).to_have_text("2 hidden layers")
        page.click("#add-layer")
        expect(page.locator("#layer-count")).to_have_text("3 hidden layers")
        expect(page.locator("#neuron-3-1")).to_be_visible()
        page.locator(".layer-control").first.locator("button", has_text="+").click()
        expect(page.locator(".layer-control").first).to_contain_text("5 neurons")
        page.click("#feature-4")  # x1*x2 on
        expect(page.locator("#feature-4")).not_to_have_class(re.compile("disabled"))
        page.select_option("#activation", "relu")
        page.select_option("#regularization", "l2")
        page.select_option("#rate", "0.01")
        parts = ("hidden=5,2,2", "features=x1,x2,x1*x2", "activation=relu", "regularization=l2", "rate=0.01")
        assert_hash_holds(page, *parts)
        expect(page.locator("#links path")).to_have_count(3 * 5 + 5 * 2 + 2 * 2 + 2 * 1)
        page.click("#step")
        expect(page.locator("#epoch")).to_have_text("000,001")
        page.locator("#links path").last.hover()  # drawn last, on top of the others
        expect(page.locator("#tooltip")).to_contain_text("weight ")
        heat_map = pixels(page, "#heatmap")
        page.check("#discretize")
        assert pixels(page, "#heatmap") != heat_map
        heat_map = pixels(page, "#heatmap")
        page.check("#show_test")  # the test points drawn too
        assert pixels(page, "#heatmap") != heat_map
        page.locator("#noise").fill("20")
        page.locator("#ratio").fill("70")
        page.click("#regenerate")
        expect(page.locator("#noise-value")).to_have_text("20")
        expect(page.locator("#epoch")).to_have_text("000,000")  # new data, new network
        assert_hash_holds(page, "noise=20", "ratio=70", "seed=1", "show_test=true")
        page.select_option("#problem", "regression")
        expect(page.locator('#datasets button[data-name="plane"]')).to_have_class(re.compile("selected"))
        expect(page.locator("#loss-note")).to_contain_text("mse / 2")
        assert not errors, errors
        browser.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, url):
    """A fresh tab on the default set-up after one step; no script error may happen in it."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 940})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("() => socket !== null && socket.readyState === WebSocket.OPEN")  # a click before is dropped
    page.click("#step")
    expect(page.locator("#epoch")).to_have_text("000,001")
    yield page
    page.close()
    assert not errors, errors


def test_hovering_a_neuron_or_feature_shows_its_map_in_the_large_output(page):
    from playwright.sync_api import expect

    # hovering a neuron shows its map in the large output; leaving it, the output again
    page.mouse.move(5, 5)
    output = pixels(page, "#heatmap")
    page.hover("#neuron-1-0")
    expect(page.locator("#heatmap")).to_have_attribute("data-shows", "neuron 1-0")
    first = pixels(page, "#heatmap")
    page.hover("#neuron-1-1")
    expect(page.locator("#heatmap")).to_have_attribute("data-shows", "neuron 1-1")
    assert len({output, first, pixels(page, "#heatmap")}) == 3
    page.hover("#feature-0")  # a feature too: x1, orange on the left, blue on the right
    expect(page.locator("#heatmap")).to_have_attribute("data-shows", "feature x1")
    left, right = page.evaluate(
        "() => { const c = document.querySelector('#heatmap').getContext('2d');"
        " return [c.getImageData(5, 160, 1, 1).data[2], c.getImageData(315, 160, 1, 1).data[2]]; }"
    )
    assert left < 80 and right > 150, (left, right)
    page.mouse.move(5, 5)
    expect(page.locator("#heatmap")).to_have_attribute("data-shows", "output")
    assert pixels(page, "#heatmap") == output


def test_clicking_a_link_or_a_neuron_edits_its_weight_or_bias(page):
    from playwright.sync_api import expect

    # clicking a link edits its weight; clicking a neuron, its bias (the server checks both)
    page.mouse.click(*on_link(page, "link-2-1-0"))  # into neuron 1 of hidden layer 2, from its neuron 0
    expect(page.locator("#editor-label")).to_have_text("weight into neuron 2 of layer 2")
    page.fill("#editor-value", "2.5")
    page.press("#editor-value", "Enter")
    expect(page.locator("#editor")).to_be_hidden()
    page.mouse.move(*on_link(page, "link-2-1-0"))
    expect(page.locator("#tooltip")).to_have_text("weight 2.500 (click: edit it)")
    page.click("#neuron-2-0")
    expect(page.locator("#editor-label")).to_have_text("bias of neuron 1 of layer 2")
    page.fill("#editor-value", "-1.25")
    page.click("#editor-ok")
    page.mouse.move(5, 5)
    page.hover("#neuron-2-0")
    expect(page.locator("#tooltip")).to_contain_text("bias -1.250")
    page.mouse.click(*on_link(page, "link-1-3-1"))
    page.fill("#editor-value", "5000")
    page.press("#editor-value", "Enter")
    expect(page.locator("#message")).to_contain_text("the weight must be at least -1000 and at most 1000")
    page.mouse.click(*on_link(page, "link-1-3-1"))
    page.fill("#editor-value", "abc")
    page.press("#editor-value", "Enter")
    expect(page.locator("#message")).to_contain_text("type a number")
    page.press("#editor-value", "Escape")


def test_a_good_csv_clears_the_bad_ones_banner_and_says_how_it_was_read(page):
    from playwright.sync_api import expect

    # an error banner (a bad CSV) goes once a good file has loaded and trained
    bad = b"x,y,label\n1,2,0\n3,oops,1\n"
    page.set_input_files("#csv", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}])
    expect(page.locator("#message")).to_contain_text("CSV row 3: 'oops' is not a number")
    page.set_input_files("#csv", files=[{"name": "three.csv", "mimeType": "text/csv", "buffer": three_blobs_csv()}])
    expect(page.locator("#legend")).to_contain_text("class 2")  # loaded
    page.click("#step")
    expect(page.locator("#epoch")).to_have_text("000,001")
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator("#data-note")).to_have_text(
        "150 points (classification, 3 classes); row 1 'x,y,label' read as a header"
    )


def test_playing_redraws_the_links_canvas_and_never_touches_the_svg(page):
    from playwright.sync_api import expect

    # the links are drawn on a canvas: playing changes it and never touches the SVG's paths
    page.select_option("#task", "10")
    expect(page.locator("#layer-count")).to_have_text("6 hidden layers")
    expect(page.locator("#epoch")).to_have_text("000,000")  # task 10's network, drawn
    page.evaluate(
        "() => { window.svgChanges = 0; new MutationObserver((m) => { window.svgChanges += m.length; })"
        ".observe(document.querySelector('#links'), { attributes: true, subtree: true, childList: true }); }"
    )
    links, network = page.evaluate("() => networkBase.toDataURL()"), pixels(page, "#network-canvas")
    page.click("#play")
    expect(page.locator("#epoch")).not_to_have_text(re.compile("^000,00"))
    page.click("#play")
    assert page.evaluate("() => networkBase.toDataURL()") != links  # the links (and features) under the maps
    assert pixels(page, "#network-canvas") != network
    assert page.evaluate("() => window.svgChanges") == 0


def test_an_oversized_import_is_refused_in_the_page_and_the_session_goes_on(page):
    from playwright.sync_api import expect

    # a model file over the import limit: refused in the page with the sizes, the session goes on
    page.set_input_files(
        "#import",
        files=[{"name": "big.safetensors", "mimeType": "application/octet-stream", "buffer": bytes(3_500_000)}],
    )
    expect(page.locator("#message")).to_contain_text("big.safetensors is 3,500 kB, over the limit of 2,000 kB")
    epoch = page.inner_text("#epoch")
    page.click("#step")
    expect(page.locator("#epoch")).not_to_have_text(epoch)


def test_each_neurons_map_is_drawn_in_its_node_and_playing_redraws_only_the_canvases(page):
    from playwright.sync_api import expect

    page.select_option("#task", "10")
    expect(page.locator("#layer-count")).to_have_text("6 hidden layers")
    page.click("#step")
    expect(page.locator("#epoch")).to_have_text("000,001")
    # task 10's network has reached the page (under load a frame of the network before it may come first)
    page.wait_for_function("() => typeof neuronBytes !== 'undefined' && neuronBytes.length === 48 * 25 * 25")
    # the middle of each hidden neuron's node on #network-canvas has the colour of the middle of its map
    # (the frame's bytes: 48 maps of 25 x 25, row 12, column 12), inside a #999 frame
    found = page.evaluate(
        """() => {
        const canvas = document.querySelector('#network-canvas'), box = canvas.getBoundingClientRect();
        const ctx = canvas.getContext('2d'), out = [];
        for (let c = 1; c <= 6; c++) for (let i = 0; i < 8; i++) {
            const node = document.getElementById(`neuron-${c}-${i}`).getBoundingClientRect();
            const x = Math.round(node.left - box.left), y = Math.round(node.top - box.top);
            const half = Math.round(node.width / 2), at = (u, v) => [...ctx.getImageData(u, v, 1, 1).data.slice(0, 3)];
            out.push([...at(x + half, y + half), ...at(x + half, y)]);
        }
        return { pixels: out, bytes: Array.from(neuronBytes), scale: Array.from(SCALE) };
    }"""
    )
    maps = np.array(found["bytes"], dtype=np.uint8).reshape(48, 25, 25)
    scale = np.array(found["scale"]).reshape(256, 3)
    drawn = np.array(found["pixels"])
    assert np.abs(drawn[:, :3] - scale[maps[:, 12, 12]]).max() <= 2
    assert (drawn[:, 3:] == 153).all()  # the node's frame
    assert len({tuple(p) for p in drawn[:, :3]}) > 10  # 48 different pictures, not one colour

    # playing: Chromium composites the page and three opaque canvases, nothing else of any size (text over a
    # canvas, a will-change or a canvas per node would add layers, each blended again every frame)
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("LayerTree.enable")
    trees = []
    cdp.on("LayerTree.layerTreeDidChange", lambda event: trees.append(event.get("layers") or []))
    page.click("#play")
    expect(page.locator("#epoch")).not_to_have_text(re.compile("^000,00"))
    page.click("#play")
    layers = [layer for layer in [tree for tree in trees if tree][-1] if layer["drawsContent"]]

    def name(layer):
        node = cdp.send("DOM.describeNode", {"backendNodeId": layer["backendNodeId"]})["node"]
        attributes = node.get("attributes", [])
        return node["nodeName"] + ("#" + attributes[attributes.index("id") + 1] if "id" in attributes else "")

    large = sorted(name(layer) for layer in layers if layer["width"] * layer["height"] > 100 * 100)
    assert large == ["#document", "CANVAS#chart", "CANVAS#heatmap", "CANVAS#network-canvas"], large


def test_a_changed_link_redraws_its_strip_of_links_alone_leaving_the_pixels_of_a_whole_redraw(page):
    # links from hidden layer 1 to 2 lie in strip 1 (between the two columns' squares); an edited weight's
    # frame redraws that strip alone, clipped to it, and the page looks as if all of it had been redrawn
    page.evaluate(
        "() => { window.before = networkBase.getContext('2d').getImageData(0, 0, networkBase.width,"
        " networkBase.height).data; window.strips = playgroundStats.linkStrips; }"
    )
    page.evaluate("() => send({ type: 'edit', param: 'weight', layer: 2, unit: 1, input: 0, value: 2.5 })")
    page.wait_for_function("() => frame.weights[1][1][0] === 2.5")
    found = page.evaluate(
        """() => {
        const ctx = networkBase.getContext('2d'), width = networkBase.width, height = networkBase.height;
        const after = ctx.getImageData(0, 0, width, height).data;
        let first = width, last = -1;
        for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) {
            const x = (i >> 2) % width; first = Math.min(first, x); last = Math.max(last, x);
        }
        const [x0, x1] = stripBounds(1), shown = document.querySelector('#network-canvas').getContext('2d');
        // inside the strip (its edge columns are the maps' squares)
        const inside = (c) => c.getImageData(x0 + 1, 0, x1 - x0 - 2, height).data.join();
        const copied = inside(shown) === inside(ctx);
        const partial = networkBase.toDataURL();
        drawBase(); // the whole of networkBase again, from the same links
        const same = networkBase.toDataURL() === partial;
        return { strips: playgroundStats.linkStrips - strips, first, last, x0, x1, copied, same };
    }"""
    )
    assert found["strips"] == 1, found  # one strip of links redrawn, not the network's three
    assert found["x0"] <= found["first"] < found["last"] < found["x1"], found  # the new link's pixels, in the strip
    assert found["same"], found  # the same pixels as a whole redraw
    assert found["copied"], found  # and on the page's canvas
