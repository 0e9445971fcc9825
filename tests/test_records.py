"""Crash-safe record files: appended, fsynced lines; a torn last line is dropped on reading."""

import math

import pytest

import sgdm
from sgdm.records import RecordWriter, lock_for_writing, read_records, record_format, rewrite

ROWS = [{"epoch": 0, "lr": 0.1, "grad_norm_sq": 1.5, "diverged": False, "name": "a"},
        {"epoch": 1, "lr": 0.05, "grad_norm_sq": math.inf, "diverged": True, "name": "b,c"}]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_write_then_read_round_trips(tmp_path, suffix):
    path = tmp_path / f"h{suffix}"
    with RecordWriter(path) as w:
        for r in ROWS:
            w.write(r)
    back = read_records(path)
    assert [r["epoch"] for r in back] == [0, 1] and back[1]["name"] == "b,c"
    assert back[0]["lr"] == 0.1 and back[0]["diverged"] is False and back[1]["diverged"] is True
    # Non-finite values: null in JSON lines (strict JSON), inf in CSV.
    assert back[1]["grad_norm_sq"] in (None, math.inf)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@pytest.mark.parametrize("cut", [1, 5, -2])
def test_torn_last_line_is_dropped(tmp_path, suffix, cut):
    path = tmp_path / f"h{suffix}"
    with RecordWriter(path) as w:
        for r in ROWS:
            w.write(r)
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_start + cut] if cut > 0 else data[:cut])
    assert [r["epoch"] for r in read_records(path)] == [0]


def test_append_continues_a_csv_with_its_header(tmp_path):
    path = tmp_path / "h.csv"
    with RecordWriter(path) as w:
        w.write(ROWS[0])
    with RecordWriter(path, append=True) as w:
        w.write(ROWS[1])
    assert path.read_text().count("epoch") == 1
    assert len(read_records(path)) == 2


def test_rewrite_replaces_atomically(tmp_path):
    path = tmp_path / "h.jsonl"
    rewrite(path, ROWS)
    rewrite(path, ROWS[:1])
    assert read_records(path) == [dict(ROWS[0])]
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]


def test_corruption_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"epoch": 0}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(sgdm.SgdmError, match="line 2"):
        read_records(path)


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(sgdm.SgdmError, match=".jsonl or .csv"):
        record_format(tmp_path / "h.parquet")


def test_lock_for_writing_refuses_a_second_writer_and_cleans_up(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "r.jsonl"
    lock = tmp_path / "r.jsonl.lock"
    with lock_for_writing(out):
        assert lock.read_text().strip() == str(os.getpid())
        # Another process (and another open of the file in this one) is refused, naming us.
        code = f"from sgdm.records import lock_for_writing\nwith lock_for_writing({str(out)!r}): pass"
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0
        assert f"is being written by another process (pid {os.getpid()})" in other.stderr
        with pytest.raises(sgdm.SgdmError, match="another process"):
            with lock_for_writing(out):
                pass
    assert not lock.exists()
    with lock_for_writing(out):  # free again
        pass


def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "r.jsonl"
    code = (f"import os\nfrom sgdm.records import lock_for_writing\n"
            f"with lock_for_writing({str(out)!r}): os._exit(9)")  # dies holding the lock
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / "r.jsonl.lock").exists()
    with lock_for_writing(out):  # the kernel released the dead process's lock
        pass
