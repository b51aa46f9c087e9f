"""The translation page of `s2s serve` (issue 34): its JSON (POST /translate with "attention": true)
against a real server on 127.0.0.1, and the page itself in a real headless Chromium.

The browser tests skip, with the reason, where selenium, Chromium or its driver is missing
(scripts/test.sh installs them). S2S_PAGE_MODEL=runs/NAME serves that run instead of a tiny random
model, and S2S_PAGE_SCREENSHOT=PATH.png saves the last view there (how docs/images/attention-page.png
is made)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from seq2seq.translator import Translator
from seq2seq.web.attention import attention_json
from test_production import request
from test_serve_hardening import start_server
from test_translate_eval import make_checkpoint

TRANSFORMER = {"type": "transformer", "d_model": 32, "heads": 4, "ff_size": 64, "encoder_layers": 1,
               "decoder_layers": 2, "max_positions": 64}
RNN = {"type": "rnn", "rnn_cell": "gru", "embedding_dim": 16, "hidden_size": 16, "encoder_layers": 1,
       "decoder_layers": 1, "attention": "dot"}
NO_ATTENTION = {"type": "rnn", "rnn_cell": "gru", "embedding_dim": 16, "hidden_size": 16,
                "encoder_layers": 1, "decoder_layers": 1, "attention": "none"}
CARD = "Jane visite l'Afrique en septembre."
BEAM = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    chosen = os.environ.get("S2S_PAGE_MODEL")
    return Path(chosen).resolve() if chosen else make_checkpoint(tmp_path_factory.mktemp("page") / "tiny", TRANSFORMER)


def serving(model: Path, tmp_path_factory, *options: str):  # noqa: ANN201 - a fixture's generator
    pytest.importorskip("fastapi")
    log = tmp_path_factory.mktemp("page-log") / "stderr.txt"
    process, port = start_server(model, log, "--beam", str(BEAM), *options)
    yield SimpleNamespace(port=port, url=f"http://127.0.0.1:{port}/")
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(run, tmp_path_factory):
    yield from serving(run, tmp_path_factory)


def post(port: int, body: dict) -> tuple[int, dict]:
    return request(port, "POST", "/translate", json.dumps(body).encode())


def page_source(port: int) -> str:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("content-type", "").startswith("text/html")
    return response.read().decode("utf-8")


# ---------------------------------------------------------------------------------------------
# The JSON the page reads


def test_the_page_is_one_file_that_needs_nothing_from_elsewhere(server):
    html = page_source(server.port)
    assert "<script>" in html and "<style>" in html  # inline: no build step, no second file
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html) + re.findall(r"url\(([^)]*)\)", html)
    assert links and all(link.startswith("data:") for link in links), links  # no CDN: it works offline
    assert not re.search(r"https?://", html)
    for path in set(re.findall(r"""fetch\("(/[a-z]*)""", html)):  # every call it makes is this server's
        assert path in ("/info", "/translate")
    assert request(server.port, "GET", "/info")[1]["attention"]["available"] is True


def check_weights(attention: dict) -> None:
    """One row per target piece and one column per source piece in each layer and head, each row summing to 1."""
    rows, columns = len(attention["target_pieces"]), len(attention["source_pieces"])
    assert len(attention["weights"]) == attention["layers"]
    assert len(attention["source_symbols"]) == columns and len(attention["target_symbols"]) == rows
    for layer in attention["weights"]:
        assert len(layer) == attention["heads"]
        for head in layer:
            assert len(head) == rows and all(len(row) == columns for row in head)
            for row in head:  # rounded to 4 digits
                assert abs(sum(row) - 1) <= 1e-4 * columns and min(row) >= 0


def test_the_attention_comes_with_the_translation_and_ignores_padding(server, run):
    short, long = "Bonjour.", "Nous partons demain matin avec le chat et le chien de la voisine."
    status, answer = post(server.port, {"texts": [short, long], "attention": True})
    assert status == 200
    translator = Translator.load(run, beam=BEAM)
    expected = translator.translate_batch([short, long], attention=True)
    for got, result in zip(answer["translations"], expected):
        assert got["translation"] == result.text
        attention = got["attention"]
        check_weights(attention)
        assert attention["source_pieces"] == result.source_pieces and attention["target_pieces"] == result.best.pieces
        assert attention == json.loads(json.dumps(attention_json(result)))  # the engine's weights, as JSON
    assert answer["translations"][0]["attention"]["layers"] == translator.model.attention_layers
    # the short sentence batched beside a long one (padded) has the weights it has alone
    alone = post(server.port, {"text": short, "attention": True})[1]["attention"]
    beside = answer["translations"][0]["attention"]
    assert alone["source_pieces"] == beside["source_pieces"]
    for a, b in zip(json_numbers(alone["weights"]), json_numbers(beside["weights"])):
        assert abs(a - b) <= 2e-4
    # without "attention", the answer is as before
    assert post(server.port, {"text": short})[1] == {"source": short, "translation": expected[0].text}


def json_numbers(nested) -> list[float]:
    return [x for item in nested for x in json_numbers(item)] if isinstance(nested, list) else [nested]


def test_the_attention_is_bounded(server, run):
    # with attention, the texts of one request have at most --max-chars characters in all
    status, answer = post(server.port, {"texts": ["Bonjour. " * 120, "Merci. " * 150], "attention": True})
    assert status == 413 and '"attention": true' in answer["error"] and "--max-chars" in answer["error"]
    # and no answer carries more than MAX_WEIGHTS weights for one text (here a bound of 10)
    result = Translator.load(run, beam=BEAM).translate_batch(["Bonjour."], attention=True)[0]
    refused = attention_json(result, most=10)
    assert refused["available"] is False and "translate a shorter text" in refused["reason"]


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_attention_must_be_true_or_false(server, value):
    status, answer = post(server.port, {"text": "Bonjour.", "attention": value})
    assert status == 422 and '"attention" must be true or false' in answer["error"]


@pytest.fixture(scope="module")
def no_attention_server(tmp_path_factory):
    yield from serving(make_checkpoint(tmp_path_factory.mktemp("page") / "none", NO_ATTENTION), tmp_path_factory)


def test_a_model_without_attention_translates_and_says_why_there_is_none(no_attention_server):
    status, answer = post(no_attention_server.port, {"text": "Bonjour.", "attention": True})
    assert status == 200 and isinstance(answer["translation"], str)
    assert answer["attention"]["available"] is False and "model.attention: none" in answer["attention"]["reason"]
    info = request(no_attention_server.port, "GET", "/info")[1]
    assert info["attention"] == answer["attention"]


@pytest.fixture(scope="module")
def export_server(run, tmp_path_factory):
    pytest.importorskip("ctranslate2")
    exported = tmp_path_factory.mktemp("page-export") / "ct2"
    done = subprocess.run([sys.executable, "-m", "seq2seq", "export", "--model", str(run), "-o", str(exported)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    yield from serving(exported, tmp_path_factory)


def test_a_ctranslate2_export_translates_and_says_the_attention_is_not_available(export_server):
    status, answer = post(export_server.port, {"texts": ["Bonjour.", "Merci."], "attention": True})
    assert status == 200 and len(answer["translations"]) == 2
    for got in answer["translations"]:
        assert got["attention"]["available"] is False and "serve the run folder" in got["attention"]["reason"]


# ---------------------------------------------------------------------------------------------
# The page in a real browser


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: bash scripts/test.sh "
                                                                 "installs it (pip install 's2s[browser]')")
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no Chromium and chromedriver on this machine: scripts/test.sh installs Debian's chromium "
                    "and chromium-driver where it can (apt-get, as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1180",
                     "--lang=en"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as exc:  # noqa: BLE001 - said as the reason to skip
        pytest.skip(f"Chromium does not start here: {str(exc).splitlines()[0]}")
    yield driver
    driver.quit()


def wait_for(driver, condition, what: str, seconds: float = 60):  # noqa: ANN001, ANN201
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds).until(lambda d: condition(d))
    except TimeoutException:
        raise AssertionError(f"the page did not show {what} within {seconds} s; "
                             f"error: {driver.find_element('id', 'error').text!r}") from None


def translate_on_page(driver, text: str) -> None:  # noqa: ANN001
    """Type `text` as a user does and press Translate; return once the new translation is shown."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "source")
    box.clear()
    box.send_keys(text)
    driver.execute_script("document.getElementById('status').textContent = ''")
    driver.find_element(By.ID, "translate").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "status").text.endswith(" s"), f"the translation of {text!r}")


def heatmap(driver) -> tuple[list[str], list[str], list[list[float]]]:  # noqa: ANN001
    """(column headings, row headings, weights) as the page shows them."""
    return driver.execute_script("""
        const table = document.getElementById('heatmap');
        return [[...table.querySelectorAll('thead th[data-source]')].map((th) => th.textContent),
                [...table.querySelectorAll('tbody th')].map((th) => th.textContent),
                [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map(
                    (td) => Number(td.dataset.w)))];""")


def mean(matrices: list[list[list[float]]]) -> list[list[float]]:
    return [[sum(m[t][s] for m in matrices) / len(matrices) for s in range(len(matrices[0][0]))]
            for t in range(len(matrices[0]))]


def assert_close(shown: list[list[float]], expected: list[list[float]]) -> None:
    assert len(shown) == len(expected) and all(len(a) == len(b) for a, b in zip(shown, expected))
    assert max(abs(a - b) for ra, rb in zip(shown, expected) for a, b in zip(ra, rb)) <= 6e-5


def choose(driver, select_id: str, value: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, select_id)).select_by_value(value)


def test_the_page_translates_typed_text_and_draws_each_layer_and_head(browser, server, tmp_path):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(server.url)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap td"), "the example's heat map")
    sentence = "Zoé a acheté 37 pommes."
    translate_on_page(browser, sentence)
    answer = post(server.port, {"text": sentence, "beam": BEAM, "n_best": 1, "attention": True})[1]
    attention = answer["attention"]
    assert browser.find_element(By.ID, "translation").text == answer["translation"]
    columns, rows, shown = heatmap(browser)
    # one row per target piece, one column per source piece, headed by the pieces
    assert columns == attention["source_pieces"] and rows == attention["target_pieces"]
    layers, heads = attention["layers"], attention["heads"]
    assert_close(shown, mean(attention["weights"][layers - 1]))  # the last layer, mean of heads
    assert all(abs(sum(row) - 1) <= 1e-3 for row in shown)
    if layers > 1 or heads > 1:  # (the choosers of a one-head model are hidden)
        choose(browser, "layer", "0")
        choose(browser, "head", str(heads - 1))
        assert_close(heatmap(browser)[2], attention["weights"][0][heads - 1])
        choose(browser, "layer", "mean")
        assert_close(heatmap(browser)[2], mean([layer[heads - 1] for layer in attention["weights"]]))
        assert "mean of layers, head" in browser.find_element(By.ID, "readout").text
    cell = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")[0].find_elements(By.TAG_NAME, "td")[1]
    ActionChains(browser).move_to_element(cell).perform()
    readout = browser.find_element(By.ID, "readout").text
    assert f"“{attention['source_pieces'][1]}”" in readout and f"weight {float(cell.get_attribute('data-w')):.3f}" in readout

    # two lines: two translations, a heat map for each
    translate_on_page(browser, "Bonjour.\nNous partons demain.")
    assert len(browser.find_element(By.ID, "translation").text.splitlines()) == 2
    choose(browser, "line", "1")
    second = post(server.port, {"text": "Nous partons demain.", "beam": BEAM, "attention": True})[1]["attention"]
    assert heatmap(browser)[:2] == [second["source_pieces"], second["target_pieces"]]

    # n-best with scores
    browser.find_element(By.ID, "n-best").clear()
    browser.find_element(By.ID, "n-best").send_keys(str(BEAM))
    translate_on_page(browser, CARD)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#hypotheses li")) == BEAM

    # a new user opens the page: the card sentence, translated, with its attention (the screenshot)
    browser.get(server.url)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap td"), "the card sentence's heat map")
    card = post(server.port, {"text": CARD, "attention": True})[1]
    assert browser.find_element(By.ID, "source").get_attribute("value") == CARD
    assert browser.find_element(By.ID, "translation").text == card["translation"]
    assert heatmap(browser)[:2] == [card["attention"]["source_pieces"], card["attention"]["target_pieces"]]
    target = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")[1].find_elements(By.TAG_NAME, "td")[1]
    ActionChains(browser).move_to_element(target).perform()
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe  # no script error, no failed request
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("S2S_PAGE_SCREENSHOT"):
        shutil.copyfile(tmp_path / "page.png", os.environ["S2S_PAGE_SCREENSHOT"])


def test_the_page_says_when_a_model_has_no_attention(browser, no_attention_server):
    from selenium.webdriver.common.by import By

    browser.get(no_attention_server.url)
    wait_for(browser, lambda d: d.find_element(By.ID, "attention-note").text, "the note on attention")
    assert "model.attention: none" in browser.find_element(By.ID, "attention-note").text
    assert browser.find_element(By.ID, "translation").text  # translated all the same
    assert not browser.find_element(By.ID, "heatmap").is_displayed()


@pytest.fixture(scope="module")
def rnn_server(tmp_path_factory):
    yield from serving(make_checkpoint(tmp_path_factory.mktemp("page") / "rnn", RNN), tmp_path_factory)


def test_the_page_shows_the_rnn_attention_without_choosers(browser, rnn_server):
    from selenium.webdriver.common.by import By

    browser.get(rnn_server.url)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap td"), "the example's heat map")
    attention = post(rnn_server.port, {"text": CARD, "attention": True})[1]["attention"]
    assert (attention["layers"], attention["heads"]) == (1, 1)  # one dot-product attention
    columns, rows, shown = heatmap(browser)
    assert columns == attention["source_pieces"] and rows == attention["target_pieces"]
    assert_close(shown, attention["weights"][0][0])
    assert not browser.find_element(By.ID, "layer").is_displayed() and not browser.find_element(By.ID, "head").is_displayed()
