"""`s2s data download`: a local HTTP server on 127.0.0.1 stands in for the internet.

The test hook is the registry itself: each test registers a small corpus (`CORPORA[...]`, via
monkeypatch) whose URL points at the local server and whose checksum is that of a file made
in the test. An autouse guard makes any request to another host fail the test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seq2seq.data import download
from seq2seq.data.download import CORPORA, KnownCorpus, RemoteFile
from conftest import run_cli

TEXT = "".join(f"Sentence number {i}.\tPhrase numéro {i} !\n" for i in range(3000)).encode("utf-8")
ABOUT = b"Released under CC BY 2.0 FR.\n"
SHA = hashlib.sha256(TEXT).hexdigest()


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # stored: big enough to split
        archive.writestr("fra-eng/fra.txt", TEXT)
        archive.writestr("fra-eng/_about.txt", ABOUT)
    return buffer.getvalue()


ZIP = make_zip()


class Server:
    """Serves `files` (URL path -> bytes), honours Range, records requests, can cut a response."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: dict[str, int] = {}  # path -> send only this many bytes, once
        self.honour_range = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                outer.requests.append((self.path, self.headers.get("Range")))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                range_header = self.headers.get("Range")
                if range_header and outer.honour_range:
                    start = int(range_header.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                cut = outer.cut_after.pop(self.path, None)
                self.wfile.write(payload if cut is None else payload[:cut])
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Any request to a host other than 127.0.0.1 fails the test; S2S_MIRROR is unset."""
    real_urlopen = urllib.request.urlopen

    def guarded(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        assert url.startswith("http://127.0.0.1:"), f"test tried to reach {url}"
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(download.urllib.request, "urlopen", guarded)
    monkeypatch.delenv("S2S_MIRROR", raising=False)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def tiny(server: Server, monkeypatch) -> KnownCorpus:
    """A one-file corpus shaped like tatoeba-fra-eng (zip holding fra-eng/fra.txt) on the server."""
    server.files["/files/fra-eng.zip"] = ZIP
    corpus = KnownCorpus(
        name="tiny", description="tiny test corpus", licence="test",
        files=(RemoteFile(name="fra.txt", url=f"{server.url}/files/fra-eng.zip", sha256={SHA: "the test file"},
                          archive="zip", member="fra-eng/fra.txt", extras=("fra-eng/_about.txt",)),),
        config_hint=download._tatoeba_hint)
    monkeypatch.setitem(CORPORA, "tiny", corpus)
    return corpus


@pytest.fixture
def pair(server: Server, monkeypatch) -> KnownCorpus:
    """A two-file corpus shaped like multi30k-fr-en (gzip files)."""
    texts = {"train.fr": "Un chien court.\nDeux chats.\n".encode(), "train.en": b"A dog runs.\nTwo cats.\n"}
    for name, text in texts.items():
        server.files[f"/raw/{name}.gz"] = gzip.compress(text, mtime=0)
    corpus = KnownCorpus(
        name="pair", description="two-file test corpus", licence="test",
        files=tuple(RemoteFile(name=name, url=f"{server.url}/raw/{name}.gz", archive="gz",
                               sha256={hashlib.sha256(text).hexdigest(): "the test file"})
                    for name, text in texts.items()),
        config_hint=download._multi30k_hint)
    monkeypatch.setitem(CORPORA, "pair", corpus)
    return corpus




def error_line(code: int, err: str) -> str:
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Downloads


def test_download_verifies_extracts_and_prints_config_keys(tiny, server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "data", "download", "tiny")
    assert code == 0, err
    folder = tmp_path / "data/raw/tiny"
    assert (folder / "fra.txt").read_bytes() == TEXT
    assert (folder / "_about.txt").read_bytes() == ABOUT
    # no .part, no zip; the marker lists the corpus files, which no -o replaces
    assert sorted(p.name for p in folder.iterdir()) == [".s2s-folder.json", "_about.txt", "fra.txt"]
    assert "format: tsv" in out and "path: data/raw/tiny/fra.txt" in out and "src_column: 2" in out
    assert "checksum verified" in err
    # a second run finds the verified copy and fetches nothing
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny")
    assert code == 0 and "already there" in err
    assert len(server.requests) == 1


def test_partial_download_is_resumed_with_a_range_request(tiny, server, tmp_path):
    dest = tmp_path / "raw"
    dest.mkdir()
    half = len(ZIP) // 2
    (dest / "fra-eng.zip.part").write_bytes(ZIP[:half])
    download.download_corpus("tiny", dest=dest)
    assert server.requests == [("/files/fra-eng.zip", f"bytes={half}-")]
    assert (dest / "fra.txt").read_bytes() == TEXT
    assert not (dest / "fra-eng.zip.part").exists()


def test_interrupted_download_resumes_on_the_next_run(tiny, server, tmp_path, monkeypatch, capsys):
    server.cut_after["/files/fra-eng.zip"] = 10_000
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path)
    line = error_line(code, err)
    assert "interrupted" in line and "again to resume" in line
    assert (tmp_path / "fra-eng.zip.part").stat().st_size == 10_000
    assert not (tmp_path / "fra.txt").exists()
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path)
    assert code == 0, err
    assert server.requests[-1] == ("/files/fra-eng.zip", "bytes=10000-")
    assert (tmp_path / "fra.txt").read_bytes() == TEXT


def test_server_without_range_support_restarts_cleanly(tiny, server, tmp_path):
    server.honour_range = False
    (tmp_path / "fra-eng.zip.part").write_bytes(ZIP[:1000])
    download.download_corpus("tiny", dest=tmp_path)
    assert (tmp_path / "fra.txt").read_bytes() == TEXT


def test_complete_part_file_is_not_downloaded_again(tiny, server, tmp_path):
    (tmp_path / "fra-eng.zip.part").write_bytes(ZIP)  # the server answers 416
    download.download_corpus("tiny", dest=tmp_path)
    assert (tmp_path / "fra.txt").read_bytes() == TEXT


def test_checksum_mismatch_is_an_error_and_removes_the_bad_file(tiny, server, tmp_path, monkeypatch, capsys):
    bad = TEXT.replace(b"Sentence number 7.", b"Sentence number 8.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fra-eng/fra.txt", bad)
    server.files["/files/fra-eng.zip"] = buffer.getvalue()
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path)
    line = error_line(code, err)
    assert "checksum mismatch" in line and hashlib.sha256(bad).hexdigest() in line and SHA in line
    assert "removed" in line
    assert [p.name for p in tmp_path.iterdir() if p.name != "_about.txt"] == []


def test_damaged_archive_is_an_error(tiny, server, tmp_path, monkeypatch, capsys):
    server.files["/files/fra-eng.zip"] = b"PK\x03\x04" + b"garbage" * 100
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path)[::2])
    assert "damaged zip archive" in line
    assert list(tmp_path.iterdir()) == []


def test_http_error_and_unreachable_server(tiny, server, tmp_path, monkeypatch, capsys):
    del server.files["/files/fra-eng.zip"]
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path)[::2])
    assert "HTTP 404" in line and "fra-eng.zip" in line
    monkeypatch.setitem(CORPORA, "tiny", KnownCorpus(
        name="tiny", description="t", licence="t", config_hint=download._tatoeba_hint,
        files=(RemoteFile(name="fra.txt", url=f"http://127.0.0.1:{closed_port()}/fra-eng.zip",
                          sha256={SHA: "t"}, archive="zip"),)))
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path / "x")[::2])
    assert "cannot download" in line and "--from" in line and "--mirror" in line and "S2S_MIRROR" in line
    assert not (tmp_path / "x").exists()


def test_gzip_corpus_with_several_files(pair, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "data", "download", "pair", "--dest", tmp_path)
    assert code == 0, err
    assert (tmp_path / "train.fr").read_text() == "Un chien court.\nDeux chats.\n"
    assert (tmp_path / "train.en").read_text() == "A dog runs.\nTwo cats.\n"
    assert "format: parallel" in out and f"src_path: {tmp_path / 'train.fr'}" in out


# ---------------------------------------------------------------------------------------------
# Mirrors


def test_mirror_url_and_env_var(tiny, server, tmp_path, monkeypatch, capsys):
    server.files["/mirror/fra-eng.zip"] = ZIP
    download.download_corpus("tiny", dest=tmp_path / "a", mirror=f"{server.url}/mirror/")
    assert server.requests == [("/mirror/fra-eng.zip", None)]
    monkeypatch.setenv("S2S_MIRROR", f"{server.url}/mirror")
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path / "b")
    assert code == 0, err
    assert server.requests[-1] == ("/mirror/fra-eng.zip", None)
    assert (tmp_path / "b/fra.txt").read_bytes() == TEXT


def test_mirror_holding_the_extracted_file(tiny, server, tmp_path):
    server.files["/m/fra.txt"] = TEXT  # no fra-eng.zip there: 404, then the final name
    download.download_corpus("tiny", dest=tmp_path, mirror=f"{server.url}/m")
    assert [r[0] for r in server.requests] == ["/m/fra-eng.zip", "/m/fra.txt"]
    assert (tmp_path / "fra.txt").read_bytes() == TEXT


def test_mirror_folder(pair, server, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("train.fr", "train.en"):
        (mirror / f"{name}.gz").write_bytes(server.files[f"/raw/{name}.gz"])
    download.download_corpus("pair", dest=tmp_path / "out", mirror=str(mirror))
    assert server.requests == []
    assert (tmp_path / "out/train.en").read_text() == "A dog runs.\nTwo cats.\n"


# ---------------------------------------------------------------------------------------------
# Local copies (--from)


@pytest.mark.parametrize("form", ["archive", "extracted", "folder"])
def test_from_a_local_copy(tiny, server, tmp_path, form):
    local = tmp_path / "local"
    local.mkdir()
    (local / "fra-eng.zip").write_bytes(ZIP)
    (local / "fra.txt").write_bytes(TEXT)
    source = {"archive": local / "fra-eng.zip", "extracted": local / "fra.txt", "folder": local}[form]
    download.download_corpus("tiny", dest=tmp_path / "out", from_path=source)
    assert (tmp_path / "out/fra.txt").read_bytes() == TEXT
    assert server.requests == []


def test_from_a_copy_with_another_checksum_is_refused(tiny, tmp_path, monkeypatch, capsys):
    (tmp_path / "fra.txt").write_bytes(TEXT + b"One more.\tUne de plus.\n")
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny", "--from", tmp_path / "fra.txt",
                           "--dest", tmp_path / "out")
    assert "checksum mismatch" in error_line(code, err)
    assert not (tmp_path / "out/fra.txt").exists() and not (tmp_path / "out/fra.txt.part").exists()
    assert (tmp_path / "fra.txt").exists()  # the user's own file is never removed


def test_existing_file_with_another_checksum_needs_force(tiny, tmp_path, monkeypatch, capsys):
    (tmp_path / "fra.txt").write_bytes(b"something else\n")
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path)[::2])
    assert "--force" in line and "fra.txt" in line
    code, _, err = run_cli(monkeypatch, capsys, "data", "download", "tiny", "--dest", tmp_path, "--force")
    assert code == 0, err
    assert (tmp_path / "fra.txt").read_bytes() == TEXT


def test_bad_arguments(tiny, pair, tmp_path, monkeypatch, capsys):
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tatoeba")[::2])
    assert "unknown corpus 'tatoeba'" in line and "did you mean 'tatoeba-fra-eng'" in line
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--from", tmp_path / "nope")[::2])
    assert "nope" in line and "no such file" in line
    (tmp_path / "train.fr").write_text("x\n")
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "pair", "--from", tmp_path / "train.fr",
                               "--dest", tmp_path / "out")[::2])
    assert "pair has 2 files" in line and "folder" in line
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--from", tmp_path,
                               "--dest", tmp_path / "out")[::2])
    assert "holds none of fra.txt, fra-eng.zip" in line
    line = error_line(*run_cli(monkeypatch, capsys, "data", "download", "tiny", "--from", tmp_path,
                               "--mirror", "http://127.0.0.1:1/")[::2])
    assert "--from and --mirror" in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# The real registry and the real shared copies


def test_registry_of_known_corpora():
    assert set(CORPORA) == {"tatoeba-fra-eng", "multi30k-fr-en"}
    tatoeba = CORPORA["tatoeba-fra-eng"].files[0]
    assert tatoeba.name == "fra.txt" and tatoeba.source_name == "fra-eng.zip"
    assert "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104" in tatoeba.sha256
    assert "348390a0cd5826170bcee7a65eb24740fb366c0952fcb2de29b9d7aaa678351e" in tatoeba.sha256
    multi30k = CORPORA["multi30k-fr-en"].files
    assert [f.name for f in multi30k] == ["train.fr", "train.en", "val.fr", "val.en"]
    assert all(f.source_name == f.name + ".gz" and "/data/task1/raw/" in f.url for f in multi30k)
    for corpus in CORPORA.values():
        for remote in corpus.files:
            assert all(len(d) == 64 and int(d, 16) >= 0 for d in remote.sha256)


def test_from_the_shared_tatoeba_folder_is_accepted_with_a_note(tatoeba_file, tmp_path, capsys):
    download.download_corpus("tatoeba-fra-eng", dest=tmp_path, from_path=tatoeba_file.parent)
    err = capsys.readouterr().err
    assert "held-out" in err and "not the full upstream file" in err
    assert (tmp_path / "fra.txt").stat().st_size == tatoeba_file.stat().st_size


def test_from_the_shared_multi30k_folder_matches_the_registry(shared_data, tmp_path):
    folder = shared_data / "multi30k-fr-en"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    download.download_corpus("multi30k-fr-en", dest=tmp_path, from_path=folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s2s-folder.json", "train.en", "train.fr", "val.en", "val.fr"]
