"""Download helpers for users with a network: resumable, checksum-verified files and RAVDESS from Zenodo.

``download_file`` streams into ``<dest>.part`` (resumed with an HTTP ``Range`` request when the server
answers 206), verifies the digest and only then moves the file to ``dest``: a file at ``dest`` is always
complete and verified. ``download_ravdess`` reads the Zenodo record, downloads the archives of the
requested parts and extracts them safely. CREMA-D is not downloaded automatically (git-lfs, see
:data:`CREMA_D_INSTRUCTIONS`).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import re
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm.auto import tqdm

from emo_utils.errors import DataError

RAVDESS_RECORD_ID = 1188976
RAVDESS_RECORD_API = f"https://zenodo.org/api/records/{RAVDESS_RECORD_ID}"
RAVDESS_RECORD_PAGE = f"https://zenodo.org/records/{RAVDESS_RECORD_ID}"
# Part name -> archive names on the Zenodo record (the video and song-video archives come one per actor).
RAVDESS_PARTS: dict[str, re.Pattern[str]] = {
    "speech_audio": re.compile(r"Audio_Speech_Actors_01-24\.zip"),
    "song_audio": re.compile(r"Audio_Song_Actors_01-24\.zip"),
    "speech_video": re.compile(r"Video_Speech_Actor_(\d\d)\.zip"),
    "song_video": re.compile(r"Video_Song_Actor_(\d\d)\.zip"),
}
CHECKSUM_ALGORITHMS = ("md5", "sha256")
DOWNLOADS_SUBDIR = ".downloads"
USER_AGENT = "emotion-fusion/emo_utils (python urllib)"
TIMEOUT_S = 60.0

CREMA_D_INSTRUCTIONS = """\
CREMA-D (Cao et al., 2014) is distributed through GitHub with git-lfs, not downloaded by emo_utils.
Licence: Open Database License (ODbL) v1.0 for the database, Database Contents License (DbCL) v1.0
for its contents. Repository: https://github.com/CheyneyComputerScience/CREMA-D

  git lfs install
  GIT_LFS_SKIP_SMUDGE=1 git clone https://github.com/CheyneyComputerScience/CREMA-D.git
  cd CREMA-D
  git lfs pull --include "AudioWAV/*"      # 7,442 speech clips, 16 kHz WAV (about 0.6 GB)
  git lfs pull --include "VideoFlash/*"    # optional: the audio-visual clips (.flv)

Skipping the smudge step avoids fetching AudioMP3/ and AudioMP4/ (the same clips re-encoded).
Pass the clone folder (the one holding AudioWAV/, VideoFlash/ and VideoDemographics.csv) as
--data-root. Clip names follow ActorID_Sentence_Emotion_Level, e.g. 1001_DFA_ANG_XX.wav.
"""


class DownloadError(DataError):
    """A download that could not be completed (network, server answer, record layout)."""


class ChecksumError(DataError):
    """A downloaded file whose digest differs from the published one (the file has been deleted)."""

    def __init__(self, path: str | Path, algorithm: str, expected: str, actual: str, hint: str) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        super().__init__(path, f"{algorithm} checksum mismatch: expected {expected}, got {actual}", hint)


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"md5:<hex>"`` or ``"sha256:<hex>"`` into ``(algorithm, lower-case hex digest)``."""
    algorithm, sep, digest = checksum.partition(":")
    algorithm = algorithm.strip().lower()
    digest = digest.strip().lower()
    size = hashlib.new(algorithm).digest_size * 2 if algorithm in CHECKSUM_ALGORITHMS else 0
    if not sep or not size or not re.fullmatch(rf"[0-9a-f]{{{size}}}", digest):
        raise ValueError(f"checksum {checksum!r} is not 'md5:<32 hex>' or 'sha256:<64 hex>'")
    return algorithm, digest


def file_digest(path: str | Path, algorithm: str, chunk_size: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            hasher.update(chunk)
    return hasher.hexdigest()


def _request(url: str, offset: int = 0) -> urllib.request.Request:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.Request(url, headers=headers)


def _open(url: str, offset: int, dest: Path) -> tuple[http.client.HTTPResponse, int]:
    """Open ``url`` resuming at ``offset``; returns ``(response, offset the response starts at)``."""
    try:
        response = urllib.request.urlopen(_request(url, offset), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the partial file is not a prefix the server knows: start over
            return _open(url, 0, dest)
        raise DownloadError(url, f"HTTP {err.code} {err.reason} while downloading {dest.name}",
                            "check the URL; rerun later if the server is busy") from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise DownloadError(url, f"cannot connect ({err})", "check your network connection and rerun") from err
    if offset and response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        if re.match(rf"bytes {offset}-", content_range):
            return response, offset
        response.close()  # a range other than the one asked for: start over
        return _open(url, 0, dest)
    return response, 0


def download_file(url: str, dest: str | Path, checksum: str | None = None, chunk_size: int = 1 << 20,
                  progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` (resumable through ``<dest>.part``) and verify ``checksum`` if given.

    ``checksum`` is ``"md5:<hex>"`` (as the Zenodo API gives it) or ``"sha256:<hex>"``. An existing
    ``dest`` that matches is returned without any request; one that does not match is deleted and
    downloaded again. A mismatch after download deletes the file and raises :class:`ChecksumError`.
    Without a checksum, an existing ``dest`` counts as complete (only finished downloads reach it).
    """
    dest = Path(dest)
    expected = parse_checksum(checksum) if checksum else None
    if dest.is_file():
        if expected is None or file_digest(dest, expected[0]) == expected[1]:
            return dest
        dest.unlink()  # never keep a file at dest that fails its checksum
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    response, offset = _open(url, offset, dest)
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    try:
        with response, open(part, "ab" if offset else "wb") as out, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                disable=not progress) as bar:
            while chunk := response.read(chunk_size):
                out.write(chunk)
                bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as err:
        raise DownloadError(url, f"download of {dest.name} interrupted ({err!r})",
                            f"rerun the same call: it resumes from {part}") from err
    received = part.stat().st_size
    if total is not None and received != total:
        raise DownloadError(url, f"download of {dest.name} ended after {received} of {total} bytes",
                            f"rerun the same call: it resumes from {part}")
    if expected is not None:
        actual = file_digest(part, expected[0])
        if actual != expected[1]:
            part.unlink()
            raise ChecksumError(dest, expected[0], expected[1], actual,
                                f"the corrupt download was deleted; rerun to download it again. If it fails "
                                f"again the published file may have changed: compare with {url}")
    part.replace(dest)
    return dest


def _is_unsafe_member(name: str) -> bool:
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    return posix.is_absolute() or bool(windows.drive) or windows.root != "" or ".." in windows.parts


def safe_extract(archive: str | Path, dest_dir: str | Path) -> None:
    """Extract a zip into ``dest_dir`` after checking that no member is absolute or climbs out with ``..``."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            unsafe = [m.filename for m in members if _is_unsafe_member(m.filename)]
            if unsafe:
                raise DataError(archive, f"archive members would be written outside {dest_dir}: {unsafe[:3]}",
                                "nothing was extracted; check where the archive came from (RAVDESS record 1188976)")
            zf.extractall(dest_dir)
    except zipfile.BadZipFile as err:
        raise DataError(archive, f"not a valid zip file ({err})", "delete it and download again") from err


def fetch_record(api_url: str) -> list[dict]:
    """The ``files`` list of a Zenodo record (each with ``key``, ``size``, ``checksum``, ``links.self``)."""
    request = urllib.request.Request(api_url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            record = json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as err:
        raise DownloadError(api_url, f"cannot read the Zenodo record ({err})",
                            f"check your network, or download the archives by hand from {RAVDESS_RECORD_PAGE}") from err
    files = record.get("files") if isinstance(record, dict) else None
    entries_ok = isinstance(files, list) and all(
        isinstance(f, dict) and {"key", "checksum", "links"} <= f.keys() for f in files)
    if not entries_ok:
        raise DownloadError(api_url, "the record has no 'files' list with key/checksum/links entries",
                            f"the Zenodo API may have changed; download the archives by hand from {RAVDESS_RECORD_PAGE}")
    return files


def select_ravdess_files(files: list[dict], parts: Iterable[str], actors: Iterable[int] | None = None) -> list[dict]:
    """The record entries for ``parts``; ``actors`` restricts the per-actor (video) archives."""
    parts = tuple(parts)
    unknown = [p for p in parts if p not in RAVDESS_PARTS]
    if unknown:
        raise ValueError(f"unknown RAVDESS part(s) {unknown}; expected some of {', '.join(RAVDESS_PARTS)}")
    wanted = None if actors is None else {int(a) for a in actors}
    selected = []
    for part in parts:
        matches = [(f, m) for f in files if (m := RAVDESS_PARTS[part].fullmatch(f["key"]))]
        if not matches:
            raise DownloadError(RAVDESS_RECORD_PAGE, f"no archive for part {part!r} in the record "
                                f"(files: {', '.join(sorted(f['key'] for f in files))})",
                                "check the part names or download the archives by hand")
        selected += [f for f, m in matches if wanted is None or not m.groups() or int(m.group(1)) in wanted]
    return selected


def download_ravdess(dest_dir: str | Path, parts: Iterable[str] = ("speech_audio",),
                     api_url: str = RAVDESS_RECORD_API, actors: Iterable[int] | None = None,
                     progress: bool = True) -> Path:
    """Download and extract RAVDESS ``parts`` from Zenodo record 1188976 into ``dest_dir``; returns it.

    Parts: ``speech_audio`` (``Audio_Speech_Actors_01-24.zip``, 1440 WAV, ~200 MB), ``speech_video``
    (``Video_Speech_Actor_XX.zip``, audio-video and video-only mp4, ~0.5 GB per actor), ``song_audio``,
    ``song_video``. ``actors`` (e.g. ``[1, 2]``) limits the per-actor video archives. Every archive is
    checksum-verified, resumed after an interruption, extracted to ``dest_dir/Actor_XX/`` and deleted;
    a marker in ``dest_dir/.downloads/`` makes a rerun skip what is already extracted.
    """
    dest_dir = Path(dest_dir)
    downloads = dest_dir / DOWNLOADS_SUBDIR
    for entry in select_ravdess_files(fetch_record(api_url), parts, actors):
        marker = downloads / f"{entry['key']}.extracted"
        if marker.is_file() and marker.read_text().strip() == entry["checksum"]:
            continue
        archive = download_file(entry["links"]["self"], downloads / entry["key"], entry["checksum"],
                                progress=progress)
        safe_extract(archive, dest_dir)
        marker.write_text(entry["checksum"] + "\n")
        archive.unlink()
    return dest_dir


def print_crema_d_instructions() -> None:
    """Print how to get CREMA-D (git-lfs; it is not downloaded automatically)."""
    print(CREMA_D_INSTRUCTIONS)
