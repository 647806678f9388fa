"""`data fetch`: local folder (linked), folder of tarballs, tarball files, and real HTTP downloads
from a loopback server that honours Range requests (and drops the first transfer half-way)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from ops.data.fetch import download, fetch
from ops.errors import DogbreedError
from ops.settings import Settings
from tests.conftest import free_port
from tests.factories import make_stanford_layout, make_tarballs, write_mat_lists


def settings_for(tmp_path: Path, source: str = "") -> Settings:
    s = Settings()
    s.data.raw_dir = str(tmp_path / "raw")
    s.data.source = source
    return s


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_local_folder_is_linked_not_copied_and_source_untouched(stanford_dir, tmp_path):
    before = digest(stanford_dir.root)
    report = fetch(settings_for(tmp_path), [str(stanford_dir.root)], progress=False)
    raw = tmp_path / "raw"
    assert (raw / "Images").is_symlink()
    assert (raw / "Images").resolve() == (stanford_dir.root / "Images").resolve()
    assert (report.num_classes, report.num_images, report.num_train, report.num_test) == (
        3,
        18,
        12,
        6,
    )
    assert report.num_annotations == 18
    assert any("expected 120 / 20,580" in w for w in report.warnings)
    fetch(settings_for(tmp_path), [str(stanford_dir.root)], progress=False)  # idempotent
    assert digest(stanford_dir.root) == before


def test_default_source_is_data_source_setting(stanford_dir, tmp_path):
    report = fetch(settings_for(tmp_path, str(stanford_dir.root)), progress=False)
    assert report.sources == [str(stanford_dir.root)] and report.num_images == 18


def test_folder_of_official_tarballs_with_mat_lists(stanford_dir, tmp_path):
    write_mat_lists(stanford_dir.root, stanford_dir.train, stanford_dir.test)
    make_tarballs(stanford_dir.root, tmp_path / "tars")
    report = fetch(settings_for(tmp_path), [str(tmp_path / "tars")], progress=False)
    raw = tmp_path / "raw"
    assert (raw / "Images").is_dir() and not (raw / "Images").is_symlink()
    assert sorted(p.name for p in (raw / "lists").iterdir()) == [
        "file_list.mat",
        "test_list.mat",
        "train_list.mat",
    ]
    assert (report.num_images, report.num_train, report.num_test) == (18, 12, 6)
    # extraction is skipped when the same tarballs were extracted before
    marker = (raw / "Images" / stanford_dir.train[0]).stat().st_mtime_ns
    fetch(settings_for(tmp_path), [str(tmp_path / "tars")], progress=False)
    assert (raw / "Images" / stanford_dir.train[0]).stat().st_mtime_ns == marker
    # then switching to a folder source replaces the extracted tree by links
    fetch(settings_for(tmp_path), [str(stanford_dir.root)], progress=False)
    assert (raw / "Images").is_symlink()


def test_tarball_files_as_sources(stanford_dir, tmp_path):
    tars = make_tarballs(stanford_dir.root, tmp_path / "tars")
    report = fetch(settings_for(tmp_path), [str(t) for t in tars], progress=False)
    assert report.num_images == 18


def test_bad_sources_are_one_line_errors(tmp_path):
    s = settings_for(tmp_path)
    with pytest.raises(DogbreedError, match="does not exist"):
        fetch(s, [str(tmp_path / "missing")], progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DogbreedError, match="neither a Stanford Dogs folder"):
        fetch(s, [str(tmp_path / "empty")], progress=False)
    (tmp_path / "x.tar").write_text("not a tar")
    with pytest.raises(DogbreedError, match="not a tar archive"):
        fetch(s, [str(tmp_path / "x.tar")], progress=False)


def test_list_naming_absent_file_is_reported(stanford_dir, tmp_path):
    write_mat_lists(
        stanford_dir.root, stanford_dir.train + ["n02085620-Chihuahua/gone.jpg"], stanford_dir.test
    )
    with pytest.raises(DogbreedError, match=r"train_list.mat names 1 file\(s\) absent"):
        fetch(settings_for(tmp_path), [str(stanford_dir.root)], progress=False)


def test_unwritable_raw_dir(stanford_dir, tmp_path):
    (tmp_path / "file").write_text("")
    s = settings_for(tmp_path)
    s.data.raw_dir = str(tmp_path / "file" / "raw")
    with pytest.raises(DogbreedError, match="cannot write to"):
        fetch(s, [str(stanford_dir.root)], progress=False)


class RangeServer:
    """Serves a folder over HTTP with Range support; the first GET of each file stops half-way."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests: list[tuple[str, str, str | None]] = []
        self.cut_once: set[str] = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _file(self):
                path = server.folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return None
                return path

            def do_HEAD(self):
                server.requests.append(("HEAD", self.path, None))
                path = self._file()
                if path:
                    self.send_response(200)
                    self.send_header("Content-Length", str(path.stat().st_size))
                    self.end_headers()

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(("GET", self.path, rng))
                path = self._file()
                if not path:
                    return
                data = path.read_bytes()
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(data) - start))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                if self.path not in server.cut_once:
                    server.cut_once.add(self.path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_resumes_with_range_after_a_dropped_connection(tmp_path):
    (tmp_path / "www").mkdir()
    payload = bytes(range(256)) * 4000
    (tmp_path / "www" / "images.tar").write_bytes(payload)
    dest = tmp_path / "dl" / "images.tar"
    with RangeServer(tmp_path / "www") as server:
        with pytest.raises(DogbreedError, match="re-run"):
            download(f"{server.url}/images.tar", dest, progress=False)
        part = dest.with_name("images.tar.part")
        assert 0 < part.stat().st_size < len(payload)
        have = part.stat().st_size
        sha = hashlib.sha256(payload).hexdigest()
        download(f"{server.url}/images.tar", dest, sha256=sha, progress=False)
        assert ("GET", "/images.tar", f"bytes={have}-") in server.requests
        assert dest.read_bytes() == payload and not part.exists()
        n = len(server.requests)
        download(f"{server.url}/images.tar", dest, sha256=sha, progress=False)  # already there
        assert [r[0] for r in server.requests[n:]] == ["HEAD"]


def test_download_sha256_mismatch_is_an_error(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "lists.tar").write_bytes(b"x" * 1000)
    with RangeServer(tmp_path / "www") as server:
        server.cut_once.add("/lists.tar")
        with pytest.raises(DogbreedError, match="sha256 mismatch"):
            download(
                f"{server.url}/lists.tar", tmp_path / "lists.tar", sha256="0" * 64, progress=False
            )


def test_fetch_from_base_url_downloads_the_three_tarballs(tmp_path):
    ds = make_stanford_layout(tmp_path / "src", n_classes=2, per_class=3, test_per_class=1)
    write_mat_lists(ds.root, ds.train, ds.test)
    make_tarballs(ds.root, tmp_path / "www")
    with RangeServer(tmp_path / "www") as server:
        server.cut_once.update({"/images.tar", "/annotation.tar", "/lists.tar"})
        report = fetch(settings_for(tmp_path), [server.url], progress=False)
    assert (report.num_classes, report.num_images, report.num_train, report.num_test) == (
        2,
        6,
        4,
        2,
    )
    assert sorted(p.name for p in (tmp_path / "raw" / "downloads").iterdir()) == [
        "annotation.tar",
        "images.tar",
        "lists.tar",
    ]


def test_default_source_is_the_shared_copy_next_to_the_repo_else_the_official_urls(tmp_path):
    from ops.data.fetch import OFFICIAL_BASE_URL, default_sources
    from ops.settings import load_settings

    repo = tmp_path / "main"
    repo.mkdir()
    (repo / "dogbreed.toml").write_text('[data]\nsource = ""\n')
    settings = load_settings(repo / "dogbreed.toml", environ={})
    assert default_sources(settings) == [OFFICIAL_BASE_URL]
    make_stanford_layout(
        tmp_path / "shared" / "stanford-dogs", n_classes=1, per_class=2, test_per_class=1
    )
    assert default_sources(settings) == [str(repo / ".." / "shared" / "stanford-dogs")]


def test_source_that_is_the_raw_folder_is_only_checked(stanford_dir, tmp_path):
    before = digest(stanford_dir.root)
    s = settings_for(tmp_path)
    s.data.raw_dir = str(stanford_dir.root)
    report = fetch(s, [str(stanford_dir.root)], progress=False)
    assert report.num_images == 18
    assert digest(stanford_dir.root) == before and not (stanford_dir.root / ".fetch.json").exists()
