"""The cache of extracted texts: hits and misses, least-recently-used eviction, entries cut or damaged at any
byte (never loaded wrong), and files and folders only the user controls."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_repl.config import extracts_dir
from kimi_repl.extracts import MAGIC, Extract, ExtractCache, decode, encode, file_key
from kimi_repl.safefiles import NotPrivate

posix_only = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")


def extract(data: bytes = b"%PDF report", text: str = '{"content": "Revenue rose 12%.", "type": "file"}') -> Extract:
    return Extract(key=file_key(data), name="report.pdf", text=text, file_id="cn123", extracted_at=1_796_000_000.0)


def test_a_stored_extract_is_found_by_the_files_bytes_alone(tmp_path: Path) -> None:
    cache = ExtractCache(tmp_path / "extracts")
    (tmp_path / "extracts").mkdir()
    assert cache.get(file_key(b"%PDF report")) is None, "a miss"
    assert cache.put(extract())
    assert cache.get(file_key(b"%PDF report")) == extract()
    assert cache.get(file_key(b"%PDF other")) is None


def test_the_default_cache_is_in_the_users_cache_folder_private(isolated_user: Path) -> None:
    cache = ExtractCache.default()
    assert cache.folder == Path(os.path.realpath(extracts_dir()))
    assert str(cache.folder).startswith(os.path.realpath(isolated_user))
    cache.put(extract())
    if hasattr(os, "getuid"):
        assert stat.S_IMODE(os.stat(cache.folder).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(cache.folder.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(cache.path(extract().key)).st_mode) == 0o600


def test_the_least_recently_used_entries_go_when_the_folder_is_full(tmp_path: Path) -> None:
    text = "x" * 1000
    cache = ExtractCache(tmp_path, max_total=4000)
    entries = [extract(bytes([n]), text) for n in range(3)]
    for number, entry in enumerate(entries):
        cache.put(entry)
        os.utime(cache.path(entry.key), (time.time() - 100 + number, time.time() - 100 + number))
    assert cache.get(entries[0].key) is not None  # used now: the newest
    cache.put(extract(b"fourth", text))
    assert cache.get(entries[1].key) is None, "the one used longest ago went"
    assert cache.get(entries[0].key) is not None and cache.get(entries[2].key) is not None
    assert cache.size() <= 4000


def test_an_entry_bigger_than_one_may_be_is_not_kept(tmp_path: Path) -> None:
    cache = ExtractCache(tmp_path, max_entry=100)
    assert not cache.put(extract(text="y" * 70_000))
    assert cache.get(extract().key) is None


def test_temporary_files_a_crash_left_are_removed_once_stale(tmp_path: Path) -> None:
    old, new = tmp_path / ".abc.extract.1.tmp", tmp_path / ".abc.extract.2.tmp"
    for path in (old, new):
        path.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    ExtractCache(tmp_path).put(extract())
    assert not old.exists() and new.exists(), "a write under way in another kimi-repl is left alone"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=300),
    cut=st.integers(min_value=0, max_value=10_000),
    flip=st.integers(min_value=0, max_value=10_000),
    mask=st.integers(min_value=1, max_value=255),
    truncate=st.booleans(),
)
def test_an_entry_cut_or_damaged_at_any_byte_never_loads_wrong(
    tmp_path: Path, text: str, cut: int, flip: int, mask: int, truncate: bool
) -> None:
    """A crash at any byte (a cut entry) or a damaged byte anywhere: a miss, the entry removed; never another text."""
    cache = ExtractCache(tmp_path)
    entry = extract(text=text)
    cache.put(entry)
    path = cache.path(entry.key)
    raw = path.read_bytes()
    if truncate:
        damaged = raw[: cut % len(raw)]
    else:
        at = flip % len(raw)
        damaged = raw[:at] + bytes([raw[at] ^ mask]) + raw[at + 1 :]
    path.write_bytes(damaged)
    assert decode(damaged, entry.key) is None
    assert cache.get(entry.key) is None and not path.exists(), "a damaged entry is a miss, and goes"
    cache.put(entry)
    assert cache.get(entry.key) == entry, "extracted again, it is kept again"


def test_an_entry_renamed_to_another_key_is_not_taken_for_it(tmp_path: Path) -> None:
    cache = ExtractCache(tmp_path)
    cache.put(extract())
    other = file_key(b"another file")
    os.replace(cache.path(extract().key), cache.path(other))
    assert cache.get(other) is None


def test_an_entry_is_one_checksummed_file(tmp_path: Path) -> None:
    raw = encode(extract())
    assert raw.startswith(MAGIC) and decode(raw, extract().key) == extract()


@posix_only
def test_a_cache_folder_others_can_write_to_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "extracts"
    folder.mkdir()
    os.chmod(folder, 0o777)
    with pytest.raises(NotPrivate, match=r"can be changed by its group and others.*chmod 700"):
        ExtractCache(folder)


@posix_only
def test_an_entry_others_could_have_changed_or_a_link_is_not_used(tmp_path: Path) -> None:
    cache = ExtractCache(tmp_path)
    cache.put(extract())
    path = cache.path(extract().key)
    os.chmod(path, 0o666)
    assert cache.get(extract().key) is None
    os.chmod(path, 0o600)
    elsewhere = tmp_path / "elsewhere"
    os.replace(path, elsewhere)
    path.symlink_to(elsewhere)
    assert cache.get(extract().key) is None, "a symbolic link is never followed"


def test_keys_that_are_not_hashes_never_name_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ExtractCache(tmp_path).path("../../etc/passwd")


def test_two_writers_of_the_same_entry_at_once_leave_one_whole_entry(tmp_path: Path) -> None:
    """Two copies of kimi-repl extracting the same file: whichever rename lands last, the entry loads whole."""
    folder = tmp_path / "extracts"
    folder.mkdir()
    caches = [ExtractCache(folder), ExtractCache(folder)]
    texts = ["a" * 50_000, "b" * 50_000]
    seen: list[str | None] = []

    def write(number: int) -> None:
        for _ in range(30):
            caches[number].put(extract(text=texts[number]))
            found = caches[1 - number].get(extract().key)
            seen.append(found.text if found else None)

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen) <= {*texts, None} and set(seen) & set(texts)
    assert [p.name for p in folder.iterdir()] == [f"{extract().key}.extract"], "no temporary file is left"
