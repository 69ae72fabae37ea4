"""Where the data is: one function, three places in a fixed order."""

from __future__ import annotations

from pathlib import Path

from unitconv import paths

ROOT = Path(__file__).resolve().parents[2]


def test_the_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.ENV_DATA, str(tmp_path))
    assert paths.data_dir() == tmp_path


def test_a_checkout_finds_the_data_folder_beside_its_packages(monkeypatch):
    monkeypatch.delenv(paths.ENV_DATA, raising=False)
    assert paths.data_dir() == ROOT / "data"


def test_without_a_checkout_the_stored_splits_are_made_again_identically(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.ENV_DATA, raising=False)
    monkeypatch.setenv(paths.ENV_CACHE, str(tmp_path))
    monkeypatch.setattr(paths, "_beside_top_package", lambda: tmp_path / "no-checkout" / "data")
    made = paths.data_dir()
    assert made.parent == tmp_path
    for split in ("train.json", "valid.json"):
        assert (made / split).read_bytes() == (ROOT / "data" / split).read_bytes()
    assert paths.data_dir() == made  # made once, then reused
