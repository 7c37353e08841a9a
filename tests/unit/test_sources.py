import gzip

import pytest

from lrfinder.data.sources import check_uci_file, download_uci_pair, fetch_url, resolve_source
from lrfinder.errors import DataError, TransientDownloadError
from lrfinder.fileio import sha256_file
from tests.helpers import file_server, uci_file_text, wine_csv_text

BASE = "https://example.invalid/wine-quality/"


def uci_files() -> dict[str, bytes]:
    return {
        "winequality-red.csv": uci_file_text(1599, seed=1).encode(),
        "winequality-white.csv": uci_file_text(4898, seed=2).encode(),
    }


class FakeTransport:
    """Serves bytes by URL and records what was asked for."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.files[url.rsplit("/", 1)[-1]]


def no_network(url: str) -> bytes:
    raise AssertionError(f"unexpected download of {url}")


def test_explicit_path_wins_over_everything(tmp_path):
    explicit = tmp_path / "mine.csv"
    explicit.write_text(wine_csv_text())
    (tmp_path / "winequalityN.csv").write_text(wine_csv_text(5))
    source = resolve_source(str(explicit), str(tmp_path / "env.csv"), tmp_path, BASE, no_network)
    assert source.files[0].path == explicit
    assert source.files[0].sha256 == sha256_file(explicit)
    assert source.origin.startswith("parameter")


def test_env_variable_comes_second(tmp_path):
    env_file = tmp_path / "env.csv"
    env_file.write_text(wine_csv_text())
    (tmp_path / "winequalityN.csv").write_text(wine_csv_text(5))
    source = resolve_source(None, str(env_file), tmp_path, BASE, no_network)
    assert source.files[0].path == env_file
    assert source.origin.startswith("WINE_DATA")


def test_data_folder_combined_file_then_pair(tmp_path):
    for name, content in uci_files().items():
        (tmp_path / name).write_bytes(content)
    pair = resolve_source(None, None, tmp_path, BASE, no_network)
    assert [f.wine_type for f in pair.files] == ["white", "red"]
    (tmp_path / "winequalityN.csv").write_text(wine_csv_text())
    combined = resolve_source(None, None, tmp_path, BASE, no_network)
    assert combined.files[0].path.name == "winequalityN.csv"
    assert combined.fingerprint != pair.fingerprint


def test_download_when_nothing_is_local(tmp_path):
    transport = FakeTransport(uci_files())
    source = resolve_source(None, None, tmp_path, BASE, transport)
    assert sorted(transport.urls) == [BASE + "winequality-red.csv", BASE + "winequality-white.csv"]
    assert source.origin == f"download {BASE}"
    for file in source.files:
        assert file.path.parent == tmp_path
        assert file.sha256 == sha256_file(file.path)
    again = resolve_source(None, None, tmp_path, BASE, no_network)
    assert again.fingerprint == source.fingerprint


def test_a_bad_download_is_not_kept(tmp_path):
    files = uci_files()
    files["winequality-white.csv"] = uci_file_text(100, seed=2).encode()
    with pytest.raises(DataError, match=r"winequality-white\.csv: 100 data rows, expected 4898"):
        download_uci_pair(tmp_path, BASE, FakeTransport(files))
    assert not (tmp_path / "winequality-white.csv").exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_check_uci_file_header_and_gzip():
    good = uci_file_text(3, seed=0).encode()
    check_uci_file(gzip.compress(good), "u", 3)
    with pytest.raises(DataError, match=r"u: unexpected header"):
        check_uci_file(good.replace(b'"alcohol"', b'"alc"'), "u", 3)
    with pytest.raises(DataError, match=r"u: the download is empty"):
        check_uci_file(b"\n", "u", 3)


def test_url_parameter_is_downloaded_into_data(tmp_path):
    transport = FakeTransport({"own.csv": b"a,b\n1,2\n"})
    source = resolve_source("https://example.invalid/x/own.csv", None, tmp_path, BASE, transport)
    assert source.files[0].path == tmp_path / "own.csv"
    assert (tmp_path / "own.csv").read_bytes() == b"a,b\n1,2\n"


def test_missing_file_and_folder_errors(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: file not found \(from parameter\).*WINE_DATA"):
        resolve_source(str(tmp_path / "nope.csv"), None, tmp_path, BASE, no_network)
    with pytest.raises(DataError, match=r"folder has no winequalityN\.csv and no UCI pair"):
        resolve_source(str(tmp_path), None, tmp_path, BASE, no_network)


def test_fetch_url_classifies_failures():
    with file_server({"ok.csv": b"x"}, failures={"/wine-quality/flaky.csv": 1}) as server:
        assert fetch_url(server.base_url + "ok.csv") == b"x"
        with pytest.raises(TransientDownloadError, match="HTTP 503"):
            fetch_url(server.base_url + "flaky.csv")
        with pytest.raises(DataError, match=r"HTTP 404.*pass its local path"):
            fetch_url(server.base_url + "missing.csv")
    with pytest.raises(TransientDownloadError):
        fetch_url(server.base_url + "ok.csv", timeout=2)
