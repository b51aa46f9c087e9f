"""The attention answers of `s2s serve` and the page that draws them: size and time, short to long.

    python scripts/bench/bench_page.py --model runs/tatoeba-transformer [--browser]

Starts `s2s serve` on 127.0.0.1, then for the card sentence, a 40-word sentence and a paragraph of
nine of them (1,800 characters, near the --max-chars bound) POSTs {"text": ..., "attention": true}
and prints the answer's bytes and seconds. With --browser (selenium, Chromium and chromedriver) it
also opens the page, translates each text there and times the drawing of the heat map, and of a
change of head.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import free_port, post, start_server  # noqa: E402

CARD = "Jane visite l'Afrique en septembre."
LONG = ("Si vous ne petit-déjeunez pas, vous aurez probablement faim au cours de la matinée et vous ne serez "
        "pas aussi efficace au travail que vous pourriez l'être, et Marie-Claude Dupont vous l'a dit le 3 juin.")
TEXTS = {"card sentence": CARD, "40-word sentence": LONG, "paragraph of 9": " ".join([LONG] * 9)}


def page_times(url: str, text: str) -> tuple[float, float, int]:
    """(seconds from Translate to the drawn heat map, seconds to redraw for head 1, rows drawn)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("google-chrome") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(url)
        WebDriverWait(driver, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap td"))
        driver.execute_script("document.getElementById('source').value = arguments[0];"
                              "document.getElementById('status').textContent = ''", text)
        started = time.perf_counter()
        driver.find_element(By.ID, "translate").click()  # the click returns once the page's script ran
        WebDriverWait(driver, 300, poll_frequency=0.02).until(lambda d: d.find_element(By.ID, "status").text.endswith(" s"))
        drawn = time.perf_counter() - started
        rows = len(driver.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr"))
        started = time.perf_counter()
        Select(driver.find_element(By.ID, "head")).select_by_value("0")  # redraws before it returns
        return drawn, time.perf_counter() - started, rows
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    args = parser.parse_args()
    port = free_port()
    server = start_server(args.model, port, [])
    try:
        for name, text in TEXTS.items():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            started = time.perf_counter()
            status, body = post(connection, json.dumps({"text": text, "attention": True}).encode())
            seconds = time.perf_counter() - started
            attention = json.loads(body).get("attention", {})
            line = (f"{name}: {len(text)} characters, HTTP {status}, {len(body):,} bytes in {seconds:.2f} s, "
                    f"{len(attention.get('target_pieces', []))} x {len(attention.get('source_pieces', []))} pieces")
            if args.browser:
                drawn, redrawn, rows = page_times(f"http://127.0.0.1:{port}/", text)
                line += f"; page: shown {drawn:.2f} s after Translate ({rows} rows), a change of head {redrawn:.2f} s"
            print(line, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
