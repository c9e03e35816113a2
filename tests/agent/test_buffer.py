"""The disk buffer: frames survive a restart until acknowledged; a torn frame is cut off."""

from __future__ import annotations

from pathlib import Path

from kubetrail.agent.buffer import DiskBuffer, Pointer


def fill(buf: DiskBuffer, count: int) -> None:
    for i in range(count):
        buf.append({"id": "f", "end": (i + 1) * 100}, b"line-%d-a\nline-%d-b" % (i, i))


def test_frames_come_back_in_order_and_ack_frees_them(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 20, None)
    fill(buf, 3)
    got = []
    while (frame := buf.next(0.01)) is not None:
        got.append(frame.header["end"])
        assert frame.body.split(b"\n")[0].startswith(b"line-")
        buf.acknowledge(frame)
    assert got == [100, 200, 300]
    assert buf.pending_bytes == 0


def test_unacknowledged_frames_survive_a_restart(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 20, None)
    fill(buf, 4)
    first = buf.next(0.01)
    assert first is not None
    buf.acknowledge(first)
    ack = buf.ack
    buf.close()  # as after kill -9: nothing but the files and the checkpointed pointer
    again = DiskBuffer(tmp_path, 1 << 20, ack)
    assert [h["end"] for h in again.recovered] == [200, 300, 400]
    frame = again.next(0.01)
    assert frame is not None and frame.body == b"line-1-a\nline-1-b"


def test_a_torn_frame_is_cut_off_and_appends_continue(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 20, None)
    fill(buf, 2)
    buf.close()
    segment = next(tmp_path.glob("*.seg"))
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-5])  # a crash in the middle of the last write
    again = DiskBuffer(tmp_path, 1 << 20, Pointer(1, 0))
    assert [h["end"] for h in again.recovered] == [100]
    again.append({"id": "f", "end": 300}, b"after")
    ends = []
    while (frame := again.next(0.01)) is not None:
        ends.append(frame.header["end"])
        again.acknowledge(frame)
    assert ends == [100, 300]


def test_segments_roll_and_acknowledged_ones_are_deleted(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 4 << 20, None)  # 1 MiB segments
    body = b"x" * 100_000
    for i in range(30):
        buf.append({"id": "f", "end": i}, body)
    assert len(list(tmp_path.glob("*.seg"))) >= 3
    assert buf.full is False
    while (frame := buf.next(0.01)) is not None:
        buf.acknowledge(frame)
    buf.release(buf.ack)
    assert len(list(tmp_path.glob("*.seg"))) == 1
