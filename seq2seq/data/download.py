"""`s2s data download NAME`: fetch a known public corpus, verify it, put it in data/raw/NAME/.

Each known corpus (`CORPORA`) lists its files: where the official copy is (a URL, possibly an
archive that holds the file), and the sha256 of the final, extracted file. Archives are not
checksummed, because re-packed copies of the same text exist with different bytes.

Sources, first that applies:

    --from PATH       a local copy: the archive, the extracted file, or a folder holding them
    --mirror M        a base URL or a folder with the same file names as the official URLs
    $S2S_MIRROR       the same as --mirror
    the official URL  downloaded with HTTP Range resumption into <file>.part

A mirror or folder may also hold the extracted file under its final name (fra.txt, train.fr).
Every file is written as <name>.part, verified, then renamed; a checksum mismatch removes the
bad file and is an error. An interrupted download keeps its .part and resumes on the next run.

Tatoeba: besides the upstream fra.txt (2019-04-07 release, 167,130 pairs) we accept the copy
in this project's shared data folder, from which 6,427 held-out pairs were removed (160,703
pairs); a note says which one you got. Any other checksum is refused: a different file is not
the corpus the configs and results of this project refer to.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from seq2seq.errors import UserError
from seq2seq.ownership import DESCRIPTION, DOWNLOAD, folder_kind, mark_download

CHUNK = 1 << 16
TIMEOUT_SECONDS = 60
MIRROR_ENV = "S2S_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a corpus: its final name, where it comes from, and its accepted checksums."""

    name: str                      # file name in the destination folder, e.g. "fra.txt"
    url: str                       # official URL; its last path part is the name on mirrors
    sha256: dict[str, str]         # accepted sha256 of the final file -> what that copy is
    archive: Optional[str] = None  # None (plain), "zip" or "gz": how the URL's file holds `name`
    member: Optional[str] = None   # path of `name` inside a zip
    extras: tuple[str, ...] = ()   # other zip members copied along, unverified (e.g. licence notes)

    @property
    def source_name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class KnownCorpus:
    name: str
    description: str
    licence: str
    files: tuple[RemoteFile, ...]
    config_hint: Callable[[Path], str] = field(repr=False)


def _tatoeba_hint(folder: Path) -> str:
    return (f"data:\n  format: tsv\n  path: {folder / 'fra.txt'}\n"
            "  src_column: 2   # French\n  tgt_column: 1   # English\n  src_lang: fr\n  tgt_lang: en")


def _multi30k_hint(folder: Path) -> str:
    return (f"data:\n  format: parallel\n  src_path: {folder / 'train.fr'}\n"
            f"  tgt_path: {folder / 'train.en'}\n  src_lang: fr\n  tgt_lang: en\n"
            "# val.fr / val.en are the official validation set; prepare makes its own dev/test split")


_MULTI30K_RAW = ("https://raw.githubusercontent.com/multi30k/dataset/"
                 "a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/")

CORPORA: dict[str, KnownCorpus] = {
    "tatoeba-fra-eng": KnownCorpus(
        name="tatoeba-fra-eng",
        description="Tatoeba English-French sentence pairs (manythings.org fra-eng, 2019-04-07)",
        licence="CC BY 2.0 FR: attribute tatoeba.org and manythings.org/anki",
        files=(RemoteFile(
            name="fra.txt",
            url="http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip",
            sha256={
                "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104":
                    "the upstream file (167,130 pairs)",
                "348390a0cd5826170bcee7a65eb24740fb366c0952fcb2de29b9d7aaa678351e":
                    "note: this is the project's shared copy, the upstream file minus 6,427 "
                    "held-out pairs (160,703 pairs), not the full upstream file; see data/README.md",
            },
            archive="zip", member="fra-eng/fra.txt", extras=("fra-eng/_about.txt",)),),
        config_hint=_tatoeba_hint),
    "multi30k-fr-en": KnownCorpus(
        name="multi30k-fr-en",
        description="Multi30k task 1 French-English image captions, train + validation",
        licence="research / non-commercial use (Flickr30K terms); cite Elliott et al. 2016, 2017",
        files=tuple(RemoteFile(name=name, url=_MULTI30K_RAW + name + ".gz",
                               sha256={digest: "the upstream file"}, archive="gz")
                    for name, digest in (
                        ("train.fr", "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d"),
                        ("train.en", "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
                        ("val.fr", "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc"),
                        ("val.en", "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"))),
        config_hint=_multi30k_hint),
}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def download_corpus(name: str, dest: Optional[Path] = None, from_path: Optional[Path] = None,
                    mirror: Optional[str] = None, force: bool = False) -> Path:
    """Get every file of corpus `name` into `dest` (default data/raw/<name>); returns `dest`."""
    corpus = CORPORA.get(name)
    if corpus is None:
        import difflib

        close = difflib.get_close_matches(name, list(CORPORA), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UserError(f"unknown corpus '{name}'; {hint}known corpora: {', '.join(CORPORA)}")
    if from_path is not None and mirror:
        raise UserError("--from and --mirror are alternatives: give one of them")
    dest = Path(dest) if dest is not None else Path("data") / "raw" / name
    if from_path is None and not mirror:
        mirror = os.environ.get(MIRROR_ENV) or None
    if from_path is not None and not from_path.exists():
        raise UserError(f"{from_path}: no such file or folder (--from)")
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest}: exists and is not a folder (--dest)")
    if folder_kind(dest) not in (None, DOWNLOAD):  # a run, a prepared corpus, an export: never mixed with a corpus
        raise UserError(f"{dest}: is {DESCRIPTION[folder_kind(dest)]}; a corpus is downloaded into a folder of its "
                        "own: choose another --dest")

    for remote in corpus.files:
        target = dest / remote.name
        if target.exists() and not force:
            digest = _sha256_file(target)
            if digest in remote.sha256:
                _say(f"{target}: already there, checksum verified ({remote.sha256[digest]})")
                continue
            raise UserError(f"{target} exists, but its sha256 {digest} is not that of {name}'s "
                            f"{remote.name}; use --force to replace it")
        if from_path is not None:
            _from_local(corpus, remote, from_path, target, flag="--from")
        elif mirror and not _is_url(mirror):
            _from_local(corpus, remote, Path(mirror), target, flag="--mirror")
        else:
            _from_web(remote, _candidate_urls(remote, mirror), target)

    # the marker: the corpus files are a download's, never replaced by an output (-o)
    names = [f.name for f in corpus.files] + [extra.rsplit("/", 1)[-1] for f in corpus.files for extra in f.extras]
    mark_download(dest, [name for name in names if (dest / name).is_file()])
    print(f"{corpus.description}: ready in {dest}/ ({', '.join(f.name for f in corpus.files)})")
    print(f"licence: {corpus.licence}")
    print("use it in the data section of a config (paths are relative to where you run s2s):")
    print(corpus.config_hint(dest))
    return dest


# ---------------------------------------------------------------------------------------------
# Local copies (--from, a folder mirror)


def _from_local(corpus: KnownCorpus, remote: RemoteFile, path: Path, target: Path, flag: str) -> None:
    if not path.exists():
        raise UserError(f"{path}: no such file or folder ({flag})")
    if path.is_dir():
        names = [remote.name, remote.source_name] + ([remote.member] if remote.member else [])
        found = next((path / n for n in names if (path / n).is_file()), None)
        if found is None:
            raise UserError(f"{path}: holds none of {', '.join(dict.fromkeys(names))} "
                            f"(looking for {corpus.name}'s {remote.name}, {flag})")
    elif len(corpus.files) > 1:
        raise UserError(f"{path}: {corpus.name} has {len(corpus.files)} files "
                        f"({', '.join(f.name for f in corpus.files)}); pass the folder that holds them ({flag})")
    else:
        found = path
    _say(f"{target}: from {found}")
    target.parent.mkdir(parents=True, exist_ok=True)
    for extra in remote.extras if path.is_dir() else ():
        extra_path = path / extra.rsplit("/", 1)[-1]
        if extra_path.is_file() and extra_path.resolve() != (target.parent / extra_path.name).resolve():
            shutil.copyfile(extra_path, target.parent / extra_path.name)
    part = _part(target)
    try:
        with open(found, "rb") as source:
            _extract(source, str(found), remote, part, target.parent)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"{found}: cannot read it ({exc.strerror or exc})") from None
    _verify_and_rename(part, remote, target, origin=str(found), remove_on_mismatch=())


# ---------------------------------------------------------------------------------------------
# Downloads


def _is_url(text: str) -> bool:
    return "://" in text


def _candidate_urls(remote: RemoteFile, mirror: Optional[str]) -> list[str]:
    if not mirror:
        return [remote.url]
    base = mirror.rstrip("/")
    return [f"{base}/{remote.source_name}", f"{base}/{remote.name}"]


def _from_web(remote: RemoteFile, urls: list[str], target: Path) -> None:
    """Download the first URL that exists (404 -> the next), unpack if needed, verify, rename."""
    for index, url in enumerate(urls):
        is_last = index == len(urls) - 1
        # The URL names the archive (fra-eng.zip) or, on a mirror, maybe the final file (fra.txt).
        download = target.parent / (url.rsplit("/", 1)[-1] + ".part")
        try:
            _fetch(url, download)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and not is_last:
                continue
            raise UserError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        break
    part = _part(target)
    if download != part:
        try:
            with open(download, "rb") as source:
                _extract(source, url, remote, part, target.parent)
        except UserError:
            download.unlink(missing_ok=True)
            raise
    _verify_and_rename(part, remote, target, origin=url, remove_on_mismatch=(download,))
    download.unlink(missing_ok=True)


def _fetch(url: str, part: Path) -> None:
    """Download `url` into `part`, resuming from its current size with an HTTP Range request."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "s2s-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing after `have`: the .part is already complete
            _say(f"{url}: {part.name} is already complete ({have:,} bytes)")
            return
        raise
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot download {url} ({reason}); without internet use --from PATH, "
                        f"--mirror URL_OR_FOLDER or set {MIRROR_ENV}") from None
    part.parent.mkdir(parents=True, exist_ok=True)
    with response:
        if have and response.status == 206 and not _range_starts_at(response, have):
            part.unlink()  # the server answered another range than asked: start afresh
            response.close()
            return _fetch(url, part)
        if have and response.status == 206:
            mode = "ab"
            _say(f"downloading {url} (resuming after {have:,} bytes)")
        else:
            mode, have = "wb", 0
            _say(f"downloading {url}")
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        _copy_with_progress(response, part, mode, have, total, url)


def _range_starts_at(response, offset: int) -> bool:
    """Does the 206 response's Content-Range ("bytes START-END/TOTAL") start at `offset`?"""
    value = response.headers.get("Content-Range", "")
    start = value.removeprefix("bytes ").split("-", 1)[0].strip()
    return start.isdigit() and int(start) == offset


def _copy_with_progress(response: BinaryIO, part: Path, mode: str, have: int, total: Optional[int],
                        url: str) -> None:
    from tqdm import tqdm

    received = have
    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
               desc=part.name.removesuffix(".part"), file=sys.stderr, mininterval=0.5, leave=False,
               # a bar redraws its line with '\r': only on a terminal, or it shares a line with what follows
               disable=not sys.stderr.isatty())
    try:
        with open(part, mode) as out:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    except (OSError, ValueError) as exc:  # IncompleteRead, reset connection, timeout
        raise UserError(f"download of {url} interrupted after {received:,} bytes "
                        f"({type(exc).__name__}); run the same command again to resume") from None
    finally:
        bar.close()
    if total is not None and received < total:
        raise UserError(f"download of {url} interrupted after {received:,} of {total:,} bytes; "
                        "run the same command again to resume")


# ---------------------------------------------------------------------------------------------
# Unpacking and verifying


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _kind(source: BinaryIO) -> str:
    magic = source.read(4)
    source.seek(0)
    if magic.startswith(b"PK\x03\x04"):
        return "zip"
    if magic.startswith(b"\x1f\x8b"):
        return "gz"
    return "plain"


def _extract(source: BinaryIO, origin: str, remote: RemoteFile, part: Path, folder: Path) -> None:
    """Write remote.name from `source` (a zip, a gzip file or the file itself) to `part`."""
    kind = _kind(source)
    try:
        if kind == "zip":
            with zipfile.ZipFile(source) as archive:
                members = archive.namelist()
                member = remote.member if remote.member in members else next(
                    (m for m in members if m.rsplit("/", 1)[-1] == remote.name), None)
                if member is None:
                    raise UserError(f"{origin}: the zip archive holds no {remote.name}")
                with archive.open(member) as inner, open(part, "wb") as out:
                    shutil.copyfileobj(inner, out, CHUNK)
                for extra in remote.extras:
                    if extra in members:
                        with archive.open(extra) as inner:
                            (folder / extra.rsplit("/", 1)[-1]).write_bytes(inner.read())
        elif kind == "gz":
            with gzip.open(source) as inner, open(part, "wb") as out:
                shutil.copyfileobj(inner, out, CHUNK)
        else:
            with open(part, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
    except (zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"{origin}: damaged {kind} archive ({exc}); it was removed if it was "
                        "a download, try again") from None


def _verify_and_rename(part: Path, remote: RemoteFile, target: Path, origin: str,
                       remove_on_mismatch: tuple[Path, ...]) -> None:
    digest = _sha256_file(part)
    if digest not in remote.sha256:
        part.unlink(missing_ok=True)
        for path in remove_on_mismatch:
            path.unlink(missing_ok=True)
        expected = " or ".join(remote.sha256)
        kept = "the downloaded file was removed" if remove_on_mismatch else "nothing was kept"
        raise UserError(f"{remote.name} from {origin}: checksum mismatch (sha256 {digest}, expected "
                        f"{expected}); {kept}")
    os.replace(part, target)
    _say(f"{target}: checksum verified ({remote.sha256[digest]})")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
