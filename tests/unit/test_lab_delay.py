"""The WAN delay daemon's netlink parsing: errors that must and must not stop it."""

from __future__ import annotations

import errno
import struct

import pytest

from sovplatform.substrate.lab.delay import NLMSG_ERROR, _packets


def _error_message(error: int) -> bytes:
    # nlmsghdr (len, type, flags, seq, pid) + nlmsgerr.error + the echoed header
    body = struct.pack("=i", error) + struct.pack("=IHHII", 16, 0, 0, 0, 0)
    return struct.pack("=IHHII", 16 + len(body), NLMSG_ERROR, 0, 0, 0) + body


def test_verdict_for_a_vanished_packet_is_ignored() -> None:
    assert _packets(_error_message(-errno.ENOENT)) == []


def test_acknowledgement_is_ignored() -> None:
    assert _packets(_error_message(0)) == []


def test_real_configuration_errors_stop_the_daemon() -> None:
    with pytest.raises(OSError) as info:
        _packets(_error_message(-errno.EPERM))
    assert info.value.errno == errno.EPERM
