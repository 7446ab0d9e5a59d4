"""The pure parts of exec/attach/debug: stream options, the error channel of each protocol
version, SPDY's expected streams and resize stream, the shim's attach frames, and the
ephemeral-containers strategy."""

from __future__ import annotations

import json

import pytest

from orchestrator.api import ephemeral
from orchestrator.api.errors import BadRequest
from orchestrator.runtime.attachsock import STDIN, STDOUT, FrameReader, frame
from orchestrator.server.remotecommand import Options, status_for
from orchestrator.server.remotecommand_spdy import _Sizes, expected_streams

FAILED = json.dumps({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                     "message": "command terminated with non-zero exit code: exit status 3",
                     "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}).encode()
SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()


def test_options_follow_pod_exec_options_defaults() -> None:
    assert Options.from_query({}) == Options(False, True, True, False)
    assert Options.from_query({"stdin": "true", "stderr": "false", "tty": "1"}) == \
        Options(True, True, False, True)
    with pytest.raises(BadRequest, match="at least 1 of stdin, stdout, stderr"):
        Options.from_query({"stdout": "0", "stderr": "false"})


def test_status_channel_per_protocol_version() -> None:
    for v in ("v5.channel.k8s.io", "v4.channel.k8s.io"):
        assert status_for(v, FAILED) == FAILED
    for v in ("v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"):
        assert status_for(v, FAILED) == \
            b"command terminated with non-zero exit code: exit status 3"
        assert status_for(v, SUCCESS) == b""


def test_spdy_streams_expected_per_options() -> None:
    tty = Options(True, True, True, True)
    assert expected_streams("v4.channel.k8s.io", tty) == {"error", "stdin", "stdout", "resize"}
    assert expected_streams("v2.channel.k8s.io", tty) == {"error", "stdin", "stdout"}
    assert expected_streams("v4.channel.k8s.io", Options(False, True, True, False)) == \
        {"error", "stdout", "stderr"}


def test_resize_stream_sizes_arrive_in_pieces() -> None:
    sizes = _Sizes()
    assert sizes.feed(b'{"Width":80,"Hei') == []
    assert [json.loads(s) for s in sizes.feed(b'ght":24}\n{"Width":100,"Height":30}\n')] == \
        [{"Width": 80, "Height": 24}, {"Width": 100, "Height": 30}]


def test_attach_frames_are_reassembled() -> None:
    reader = FrameReader()
    data = frame(STDIN, b"hello") + frame(STDOUT, b"")
    assert reader.feed(data[:3]) == []
    assert reader.feed(data[3:]) == [(STDIN, b"hello"), (STDOUT, b"")]
    with pytest.raises(ValueError, match="too large"):
        FrameReader().feed(bytes([STDIN]) + (1 << 30).to_bytes(4, "big"))


def _pod(*ephemeral_containers: dict[str, object], **meta: object) -> dict[str, object]:
    return {"metadata": {"name": "p", **meta},
            "spec": {"containers": [{"name": "c", "image": "i"}],
                     "ephemeralContainers": list(ephemeral_containers)}}


def test_ephemeral_update_keeps_everything_else() -> None:
    current = _pod()
    wanted = _pod({"name": "d", "image": "busybox"}, labels={"new": "1"})
    wanted["spec"]["containers"][0]["image"] = "changed"  # type: ignore[index]
    merged = ephemeral.prepare_update(current, wanted)
    assert merged["metadata"] == current["metadata"]
    assert merged["spec"]["containers"] == [{"name": "c", "image": "i"}]
    assert merged["spec"]["ephemeralContainers"] == [{
        "name": "d", "image": "busybox", "imagePullPolicy": "Always",
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}]
    assert ephemeral.validate_update(merged, current) == []


def test_ephemeral_containers_cannot_be_removed_changed_or_added_to_static_pods() -> None:
    one = {"name": "d", "image": "busybox", "imagePullPolicy": "Always",
           "terminationMessagePolicy": "File"}
    old = _pod(one)
    removed = ephemeral.validate_update(_pod(), old)
    assert [c.message for c in removed] == [
        'Forbidden: existing ephemeral containers "d" may not be removed']
    changed = ephemeral.validate_update(_pod({**one, "image": "other"}), old)
    assert [c.message for c in changed] == [
        'Forbidden: existing ephemeral containers "d" may not be changed']
    static = _pod(annotations={"kubernetes.io/config.mirror": "x"})
    assert [c.message for c in ephemeral.validate_update(_pod(one), static)] == [
        "Forbidden: static pods do not support ephemeral containers"]
    odd = ephemeral.validate_update(_pod({**one, "name": ["x"], "targetContainerName": ["c"]}),
                                    _pod())
    assert [c.field for c in odd] == ["spec.ephemeralContainers[0].name",
                                      "spec.ephemeralContainers[0].targetContainerName"]
