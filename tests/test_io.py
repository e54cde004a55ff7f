import json
import os
import subprocess
import sys

import numpy as np
import pytest

from denoscope.errors import OutputError
from denoscope.io import atomic_write, check_writable, remove_stale_temps, write_json, write_npz, write_text


def test_writes_land_whole_and_leave_no_temporary_files(tmp_path):
    write_text(tmp_path / "a.txt", "hello")
    write_json(tmp_path / "m.json", {"x": 1.5, "bad": float("inf"), "nested": [float("nan"), 2]})
    write_npz(tmp_path / "arr.npz", a=np.arange(3))
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1.5, "bad": None, "nested": [None, 2]}
    assert np.load(tmp_path / "arr.npz")["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "arr.npz", "m.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "a.txt", "w") as f:
            f.write("half")
            raise RuntimeError("killed")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_killed_writer_leaves_the_old_file_and_its_stale_temporary_is_cleaned(tmp_path):
    write_text(tmp_path / "a.txt", "old")
    code = (
        "import os, sys\nfrom denoscope.io import atomic_write\n"
        f"with atomic_write({str(tmp_path / 'a.txt')!r}, 'w') as f:\n"
        "    f.write('half'); f.flush(); os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / "a.txt").read_text() == "old"
    stale = [p for p in tmp_path.iterdir() if p.name != "a.txt"]
    assert len(stale) == 1 and stale[0].name.startswith(".a.txt.tmp")
    assert remove_stale_temps(tmp_path) == stale
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_unwritable_places_are_refused_in_one_sentence(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="which is a file, not a folder"):
        check_writable(tmp_path / "file" / "out")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        with pytest.raises(OutputError, match="not writable"):
            check_writable(locked / "out")
    finally:
        os.chmod(locked, 0o700)
