"""Download helpers for users with a network: resumable, checksum-verified files; RAVDESS and EmoDB from Zenodo.

``download_file`` fetches through ``pooch`` (which checks the digest of the finished download and only then
moves it to ``dest``, so a file at ``dest`` is always complete and verified) with a downloader that streams
into ``<dest>.part`` and resumes it with an HTTP ``Range`` request when the server answers 206.
``download_ravdess`` and ``download_emodb`` read a Zenodo record (its md5 checksums included), download the
archives and extract them safely. CREMA-D is not downloaded automatically (git-lfs, see
:data:`CREMA_D_INSTRUCTIONS`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

import pooch
import requests
from tqdm.auto import tqdm

from emo_utils.errors import DataError

logger = logging.getLogger(__name__)

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
# EmoDB (Burkhardt et al. 2005) as published in audformat on Zenodo: the full corpus, 535 utterances at 16 kHz
# (``emodb/wav/03a01Fa.wav`` ...), licence CC0-1.0; the record's md5 checksum verifies the archive.
EMODB_RECORD_ID = 7447302
EMODB_RECORD_API = f"https://zenodo.org/api/records/{EMODB_RECORD_ID}"
EMODB_RECORD_PAGE = f"https://zenodo.org/records/{EMODB_RECORD_ID}"
EMODB_ARCHIVE = re.compile(r"emodb.*\.zip")
CHECKSUM_ALGORITHMS = ("md5", "sha256")
DOWNLOADS_SUBDIR = ".downloads"
USER_AGENT = "emotion-fusion/emo_utils (python requests)"
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


class ResumableDownloader:
    """A pooch downloader that keeps the bytes received so far in ``part`` and resumes them with ``Range``.

    pooch hands over a temporary file; the download goes to ``part`` (kept when the transfer breaks, so a
    rerun continues) and, once complete, replaces the temporary file, whose digest pooch then checks.
    """

    def __init__(self, part: Path, chunk_size: int = 1 << 20, progress: bool = True) -> None:
        self.part = part
        self.chunk_size = chunk_size
        self.progress = progress

    def _open(self, url: str, offset: int) -> tuple[requests.Response, int]:
        """GET ``url`` resuming at ``offset``; returns ``(response, offset the response starts at)``."""
        headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={offset}-"} if offset else {})}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=TIMEOUT_S)
        except requests.RequestException as err:
            raise DownloadError(url, f"cannot connect ({err})", "check your network connection and rerun") from err
        if response.status_code == 416 and offset:  # the partial file is not a prefix the server knows
            response.close()
            return self._open(url, 0)
        if response.status_code >= 400:
            response.close()
            raise DownloadError(
                url,
                f"HTTP {response.status_code} {response.reason} while downloading {self.part.name}",
                "check the URL; rerun later if the server is busy",
            )
        if offset and response.status_code == 206:
            if re.match(rf"bytes {offset}-", response.headers.get("Content-Range", "")):
                return response, offset
            response.close()  # a range other than the one asked for: start over
            return self._open(url, 0)
        return response, 0

    def __call__(self, url: str, output_file: str, pooch_obj: object, check_only: bool = False) -> None:
        offset = self.part.stat().st_size if self.part.is_file() else 0
        response, offset = self._open(url, offset)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        hint = f"rerun the same call: it resumes from {self.part}"
        try:
            with (
                response,
                open(self.part, "ab" if offset else "wb") as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=self.part.name,
                    disable=not self.progress,
                ) as bar,
            ):
                for chunk in response.iter_content(self.chunk_size):
                    out.write(chunk)
                    bar.update(len(chunk))
        except (requests.RequestException, OSError) as err:
            raise DownloadError(url, f"download of {self.part.name} interrupted ({err!r})", hint) from err
        received = self.part.stat().st_size
        if total is not None and received != total:
            raise DownloadError(url, f"download of {self.part.name} ended after {received} of {total} bytes", hint)
        self.part.replace(output_file)


def download_file(
    url: str, dest: str | Path, checksum: str | None = None, chunk_size: int = 1 << 20, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` with pooch (resumable through ``<dest>.part``), verifying ``checksum``.

    ``checksum`` is ``"md5:<hex>"`` (as the Zenodo API gives it) or ``"sha256:<hex>"``. An existing
    ``dest`` that matches is returned without any request; one that does not match is deleted and
    downloaded again. A mismatch after download deletes the file and raises :class:`ChecksumError`.
    Without a checksum, an existing ``dest`` counts as complete (only finished downloads reach it).
    """
    dest = Path(dest)
    expected = parse_checksum(checksum) if checksum else None
    known_hash = f"{expected[0]}:{expected[1]}" if expected else None
    if dest.is_file() and expected is not None and file_digest(dest, expected[0]) != expected[1]:
        dest.unlink()  # never keep a file at dest that fails its checksum, even while downloading again
    downloader = ResumableDownloader(dest.with_name(dest.name + ".part"), chunk_size, progress)
    try:
        pooch.retrieve(url, known_hash=known_hash, fname=dest.name, path=dest.parent, downloader=downloader)
    except ValueError as err:  # pooch: the finished download does not match known_hash (it deleted it)
        if expected is None:
            raise
        actual = re.search(r"but got ([0-9a-fA-F]+)", str(err))
        raise ChecksumError(
            dest,
            expected[0],
            expected[1],
            actual.group(1).lower() if actual else "another digest",
            f"the corrupt download was deleted; rerun to download it again. If it fails "
            f"again the published file may have changed: compare with {url}",
        ) from err
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
                raise DataError(
                    archive,
                    f"archive members would be written outside {dest_dir}: {unsafe[:3]}",
                    "nothing was extracted; check where the archive came from (RAVDESS record 1188976)",
                )
            zf.extractall(dest_dir)
    except zipfile.BadZipFile as err:
        raise DataError(archive, f"not a valid zip file ({err})", "delete it and download again") from err


def fetch_record(api_url: str, record_page: str = RAVDESS_RECORD_PAGE) -> list[dict]:
    """The ``files`` list of a Zenodo record (each with ``key``, ``size``, ``checksum``, ``links.self``)."""
    by_hand = f"download the archives by hand from {record_page}"
    try:
        response = requests.get(
            api_url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"}, timeout=TIMEOUT_S
        )
        response.raise_for_status()
        record = response.json()
    except (requests.RequestException, ValueError) as err:
        raise DownloadError(
            api_url, f"cannot read the Zenodo record ({err})", f"check your network, or {by_hand}"
        ) from err
    files = record.get("files") if isinstance(record, dict) else None
    entries_ok = isinstance(files, list) and all(
        isinstance(f, dict) and {"key", "checksum", "links"} <= f.keys() for f in files
    )
    if not entries_ok:
        raise DownloadError(
            api_url,
            "the record has no 'files' list with key/checksum/links entries",
            f"the Zenodo API may have changed; {by_hand}",
        )
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
            raise DownloadError(
                RAVDESS_RECORD_PAGE,
                f"no archive for part {part!r} in the record (files: {', '.join(sorted(f['key'] for f in files))})",
                "check the part names or download the archives by hand",
            )
        selected += [f for f, m in matches if wanted is None or not m.groups() or int(m.group(1)) in wanted]
    return selected


def download_ravdess(
    dest_dir: str | Path,
    parts: Iterable[str] = ("speech_audio",),
    api_url: str = RAVDESS_RECORD_API,
    actors: Iterable[int] | None = None,
    progress: bool = True,
) -> Path:
    """Download and extract RAVDESS ``parts`` from Zenodo record 1188976 into ``dest_dir``; returns it.

    Parts: ``speech_audio`` (``Audio_Speech_Actors_01-24.zip``, 1440 WAV, ~200 MB), ``speech_video``
    (``Video_Speech_Actor_XX.zip``, audio-video and video-only mp4, ~0.5 GB per actor), ``song_audio``,
    ``song_video``. ``actors`` (e.g. ``[1, 2]``) limits the per-actor video archives. Every archive is
    checksum-verified, resumed after an interruption, extracted to ``dest_dir/Actor_XX/`` and deleted;
    a marker in ``dest_dir/.downloads/`` makes a rerun skip what is already extracted.
    """
    return _download_and_extract(select_ravdess_files(fetch_record(api_url), parts, actors), Path(dest_dir), progress)


def _download_and_extract(entries: list[dict], dest_dir: Path, progress: bool) -> Path:
    """Download (verified, resumable), extract and delete each record entry's archive; markers in
    ``dest_dir/.downloads/`` make a rerun skip archives already extracted."""
    downloads = dest_dir / DOWNLOADS_SUBDIR
    for entry in entries:
        marker = downloads / f"{entry['key']}.extracted"
        if marker.is_file() and marker.read_text().strip() == entry["checksum"]:
            continue
        archive = download_file(entry["links"]["self"], downloads / entry["key"], entry["checksum"], progress=progress)
        safe_extract(archive, dest_dir)
        marker.write_text(entry["checksum"] + "\n")
        archive.unlink()
    return dest_dir


def download_emodb(dest_dir: str | Path, api_url: str = EMODB_RECORD_API, progress: bool = True) -> Path:
    """Download and extract the full EmoDB corpus (Zenodo record 7447302, md5-verified, resumable) into
    ``dest_dir``; returns the folder to pass as ``--data-root`` (the one holding ``wav/``).

    The archive holds ``emodb/wav/SSTTTEV.wav`` (535 utterances, 16 kHz) and the audformat tables; the
    indexer reads the clip names (speaker, sentence, emotion, version). A rerun skips a finished download.
    """
    dest_dir = Path(dest_dir)
    files = fetch_record(api_url, EMODB_RECORD_PAGE)
    entries = [f for f in files if EMODB_ARCHIVE.fullmatch(f["key"])]
    if not entries:
        raise DownloadError(
            EMODB_RECORD_PAGE,
            f"no emodb*.zip in the record (files: {', '.join(sorted(f['key'] for f in files))})",
            "download the archive by hand",
        )
    _download_and_extract(entries[:1], dest_dir, progress)
    wav_dirs = sorted(p.parent for p in dest_dir.rglob("wav/*.wav"))
    return wav_dirs[0].parent if wav_dirs else dest_dir
