"""Download helpers against a real local HTTP server (127.0.0.1 only) that serves a fake Zenodo record."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import wave
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from emo_utils.data.download import (
    CREMA_D_INSTRUCTIONS,
    ChecksumError,
    DownloadError,
    download_emodb,
    download_file,
    download_ravdess,
)
from emo_utils.data.manifest import index_dataset
from emo_utils.data.naming import parse_ravdess
from emo_utils.errors import DataError, EmoError

AUDIO_ZIP = "Audio_Speech_Actors_01-24.zip"
WAV_NAMES = ("03-01-01-01-01-01-01.wav", "03-01-03-02-01-01-01.wav")


@dataclass
class LocalServer:
    """A local file server: ``requests`` logs ``(path, Range header)``; ``no_range`` paths ignore Range;
    ``cut_after[path]`` bytes are sent of the next answer for that path before the connection drops."""

    root: Path
    base: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    no_range: set[str] = field(default_factory=set)
    cut_after: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def add(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return self.url(name)


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            name = self.path.lstrip("/")
            range_header = self.headers.get("Range")
            server.requests.append((name, range_header))
            path = server.root / name
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if match and name not in server.no_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                data = data[start:]
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: server.cut_after.pop(name, len(data))])

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    state = LocalServer(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _wav_bytes(n_samples: int = 160) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(2 * n_samples))
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _publish_record(server: LocalServer, archives: dict[str, bytes]) -> str:
    """Serve ``archives`` and a record JSON shaped like Zenodo's; returns the record URL."""
    files = []
    for key, data in archives.items():
        server.add(key, data)
        files.append(
            {
                "id": key,
                "key": key,
                "size": len(data),
                "checksum": "md5:" + hashlib.md5(data).hexdigest(),
                "links": {"self": server.url(key)},
            }
        )
    server.add("record.json", json.dumps({"id": 1188976, "files": files}).encode())
    return server.url("record.json")


def _audio_zip() -> bytes:
    return _zip_bytes({f"Actor_01/{name}": _wav_bytes() for name in WAV_NAMES})


def test_download_ravdess_extracts_actor_folder_and_skips_on_rerun(server: LocalServer, tmp_path: Path) -> None:
    api = _publish_record(server, {AUDIO_ZIP: _audio_zip(), "Video_Speech_Actor_01.zip": b"never fetched"})
    dest = tmp_path / "ravdess"
    assert download_ravdess(dest, api_url=api, progress=False) == dest
    wavs = sorted((dest / "Actor_01").glob("*.wav"))
    assert [w.name for w in wavs] == sorted(WAV_NAMES)
    assert [parse_ravdess(w).emotion for w in wavs] == ["neutral", "happy"]
    with wave.open(str(wavs[0])) as w:
        assert w.getframerate() == 16000 and w.getnframes() == 160
    assert server.requests == [("record.json", None), (AUDIO_ZIP, None)]
    assert not (dest / ".downloads" / AUDIO_ZIP).exists()  # archive removed once extracted

    server.requests.clear()
    download_ravdess(dest, api_url=api, progress=False)
    assert server.requests == [("record.json", None)]


def test_video_part_downloads_only_requested_actors(server: LocalServer, tmp_path: Path) -> None:
    archives = {
        f"Video_Speech_Actor_{a:02d}.zip": _zip_bytes({f"Actor_{a:02d}/01-01-01-01-01-01-{a:02d}.mp4": b"x"})
        for a in (1, 2)
    }
    api = _publish_record(server, {AUDIO_ZIP: _audio_zip(), **archives})
    dest = download_ravdess(tmp_path / "ravdess", parts=("speech_video",), api_url=api, actors=[2], progress=False)
    assert [p.relative_to(dest).as_posix() for p in dest.glob("Actor_*/*")] == ["Actor_02/01-01-01-01-01-01-02.mp4"]
    assert [name for name, _ in server.requests] == ["record.json", "Video_Speech_Actor_02.zip"]


def test_unknown_or_missing_part_is_reported(server: LocalServer, tmp_path: Path) -> None:
    api = _publish_record(server, {AUDIO_ZIP: _audio_zip()})
    with pytest.raises(ValueError, match="speech_audio"):
        download_ravdess(tmp_path, parts=("speech_flac",), api_url=api, progress=False)
    with pytest.raises(DownloadError, match="song_audio.*Audio_Speech_Actors_01-24.zip"):
        download_ravdess(tmp_path, parts=("song_audio",), api_url=api, progress=False)
    bad_api = server.add("bad.json", json.dumps({"files": {"entries": []}}).encode())
    with pytest.raises(DownloadError, match="by hand from https://zenodo.org/records/1188976"):
        download_ravdess(tmp_path, api_url=bad_api, progress=False)


def test_checksum_mismatch_fails_loudly_and_leaves_no_file(server: LocalServer, tmp_path: Path) -> None:
    data = _audio_zip()
    url = server.add(AUDIO_ZIP, data)
    dest = tmp_path / AUDIO_ZIP
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as info:
        download_file(url, dest, f"md5:{wrong}", progress=False)
    message = str(info.value)
    assert isinstance(info.value, EmoError)
    assert AUDIO_ZIP in message and wrong in message and hashlib.md5(data).hexdigest() in message
    assert "rerun" in message
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_corrupt_archive_in_record_is_not_extracted(server: LocalServer, tmp_path: Path) -> None:
    api = _publish_record(server, {AUDIO_ZIP: _audio_zip()})
    server.add(AUDIO_ZIP, _zip_bytes({"Actor_01/tampered.wav": b"x"}))  # served bytes no longer match the md5
    dest = tmp_path / "ravdess"
    with pytest.raises(ChecksumError):
        download_ravdess(dest, api_url=api, progress=False)
    assert not list(dest.rglob("*.wav")) and not list(dest.rglob("*.zip"))


def test_resume_sends_range_and_appends(server: LocalServer, tmp_path: Path) -> None:
    data = _audio_zip()
    url = server.add(AUDIO_ZIP, data)
    dest = tmp_path / AUDIO_ZIP
    half = len(data) // 2
    dest.with_name(dest.name + ".part").write_bytes(data[:half])
    download_file(url, dest, "sha256:" + hashlib.sha256(data).hexdigest(), chunk_size=64, progress=False)
    assert server.requests == [(AUDIO_ZIP, f"bytes={half}-")]
    assert dest.read_bytes() == data
    assert not dest.with_name(dest.name + ".part").exists()


def test_interrupted_download_keeps_its_part_and_the_rerun_resumes(server: LocalServer, tmp_path: Path) -> None:
    data = _audio_zip()
    url = server.add(AUDIO_ZIP, data)
    server.cut_after[AUDIO_ZIP] = 100
    dest = tmp_path / "downloads" / AUDIO_ZIP
    checksum = "md5:" + hashlib.md5(data).hexdigest()
    with pytest.raises(DownloadError, match="rerun the same call: it resumes"):
        download_file(url, dest, checksum, chunk_size=64, progress=False)
    kept = dest.with_name(dest.name + ".part").read_bytes()  # whole chunks received before the cut
    assert not dest.exists() and 0 < len(kept) <= 100 and data.startswith(kept)
    assert download_file(url, dest, checksum, progress=False) == dest
    assert server.requests == [(AUDIO_ZIP, None), (AUDIO_ZIP, f"bytes={len(kept)}-")]
    assert dest.read_bytes() == data and not dest.with_name(dest.name + ".part").exists()
    assert [p.name for p in dest.parent.iterdir()] == [AUDIO_ZIP]  # no temporary file left behind


def test_download_emodb_extracts_the_corpus_the_indexer_reads(server: LocalServer, tmp_path: Path) -> None:
    names = ("03a01Fa.wav", "08b10Lb.wav")
    archive = _zip_bytes({f"emodb/wav/{name}": _wav_bytes() for name in names} | {"emodb/db.yaml": b"name: emodb"})
    api = _publish_record(server, {"emodb.zip": archive, "README.md": b"not an archive"})
    root = download_emodb(tmp_path / "emodb", api_url=api, progress=False)
    assert root == tmp_path / "emodb" / "emodb"
    manifest, log = index_dataset(root)
    assert manifest["take_id"].tolist() == ["03a01Fa", "08b10Lb"] and len(log) == 0
    assert manifest["emotion"].tolist() == ["happy", "bored"]
    server.requests.clear()
    assert download_emodb(tmp_path / "emodb", api_url=api, progress=False) == root
    assert server.requests == [("record.json", None)]  # already extracted: nothing downloaded again
    empty = _publish_record(server, {"README.md": b"x"})
    with pytest.raises(DownloadError, match="no emodb"):
        download_emodb(tmp_path / "other", api_url=empty, progress=False)


def test_server_ignoring_range_restarts_cleanly(server: LocalServer, tmp_path: Path) -> None:
    data = _audio_zip()
    url = server.add(AUDIO_ZIP, data)
    server.no_range.add(AUDIO_ZIP)
    dest = tmp_path / AUDIO_ZIP
    dest.with_name(dest.name + ".part").write_bytes(data[:100])
    download_file(url, dest, "md5:" + hashlib.md5(data).hexdigest(), progress=False)
    assert server.requests == [(AUDIO_ZIP, "bytes=100-")]
    assert dest.read_bytes() == data  # the 200 answer replaced the partial file instead of being appended


def test_good_existing_file_is_not_downloaded_again(server: LocalServer, tmp_path: Path) -> None:
    data = _audio_zip()
    url = server.add(AUDIO_ZIP, data)
    dest = tmp_path / AUDIO_ZIP
    dest.write_bytes(data)
    assert download_file(url, dest, "md5:" + hashlib.md5(data).hexdigest(), progress=False) == dest
    assert server.requests == []

    dest.write_bytes(b"truncated")  # a bad file at dest is replaced, never kept
    download_file(url, dest, "md5:" + hashlib.md5(data).hexdigest(), progress=False)
    assert server.requests == [(AUDIO_ZIP, None)]
    assert dest.read_bytes() == data


def test_unsafe_archive_members_are_rejected(server: LocalServer, tmp_path: Path) -> None:
    for evil in ("../escaped.wav", "/abs/escaped.wav"):
        api = _publish_record(server, {AUDIO_ZIP: _zip_bytes({"Actor_01/ok.wav": b"x", evil: b"x"})})
        dest = tmp_path / "ravdess"
        with pytest.raises(DataError, match="outside"):
            download_ravdess(dest, api_url=api, progress=False)
        assert not (tmp_path / "escaped.wav").exists() and not (dest / "Actor_01").exists()


def test_malformed_checksum_and_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a local port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/x"
    with pytest.raises(ValueError, match="md5:<32 hex>"):
        download_file(url, tmp_path / "x", "crc32:1234")
    with pytest.raises(DownloadError, match="cannot connect"):
        download_file(url, tmp_path / "x", progress=False)


def test_crema_d_instructions_say_how_to_get_it() -> None:
    for needle in ("git lfs", "CheyneyComputerScience/CREMA-D", "ODbL", "AudioWAV/", "VideoFlash/", "--data-root"):
        assert needle in CREMA_D_INSTRUCTIONS
