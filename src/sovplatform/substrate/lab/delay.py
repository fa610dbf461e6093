"""WAN delay without sch_netem: hold forwarded packets in NFQUEUE and release them late.

Some kernels (the dev machines' among them) are built without sch_netem, so ``tc netem`` is not
an option. Every such kernel we met still has NFQUEUE. The router's iptables rules send each
directed site pair's traffic to its own queue number; this daemon, running inside the router's
network namespace, receives only packet metadata (never payloads), and gives each packet its
ACCEPT verdict after the pair's one-way delay (plus normally distributed jitter), or DROP with the
pair's loss probability. The kernel keeps the packets meanwhile, so the cost per packet is one
small netlink message each way.

Queued packets have no fallback: if this daemon dies, inter-site traffic stops (fail closed) rather
than silently losing its latency; ``LabSubstrate.up`` notices and restarts it.

Run as ``python -m sovplatform.substrate.lab.delay --config WAN.json --tag PREFIX`` where the
config maps queue numbers to ``{"delay_ms", "jitter_ms", "loss_percent"}``.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import json
import random
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

NETLINK_NETFILTER = 12
NLM_F_REQUEST = 1
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_DROP = 0
NF_ACCEPT = 1
NLMSG_ERROR = 2
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = 33

QUEUE_MAXLEN = 65536


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _message(msg_type: int, queue: int, attrs: bytes, seq: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, NLM_F_REQUEST, seq, 0) + body


def _bind(sock: socket.socket, queue: int) -> None:
    sock.send(_message(NFQNL_MSG_CONFIG, queue, _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))))
    params = _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
    params += _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
    sock.send(_message(NFQNL_MSG_CONFIG, queue, params))


def _verdict(queue: int, packet_id: int, verdict: int) -> bytes:
    return _message(NFQNL_MSG_VERDICT, queue, _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)))


def _packets(data: bytes) -> list[tuple[int, int]]:
    """(queue, packet id) of each packet notification in one netlink datagram."""
    found = []
    offset = 0
    while offset + 16 <= len(data):
        length, msg_type, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        if msg_type == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, offset + 16)
            # ENOENT answers a verdict for a packet the kernel already dropped (its host's veth
            # went away with a power-off): routine during drills, never a reason to stop.
            if error and error != -errno.ENOENT:
                raise OSError(-error, f"nfqueue configuration rejected: {error}")
        elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            queue = socket.ntohs(struct.unpack_from("=H", data, offset + 18)[0])
            pos = offset + 20
            end = offset + length
            while pos + 4 <= end:
                attr_len, attr_type = struct.unpack_from("=HH", data, pos)
                if attr_len < 4:
                    break
                if attr_type & 0x3FFF == NFQA_PACKET_HDR:  # strip the nested/byte-order flags
                    (packet_id,) = struct.unpack_from("!I", data, pos + 4)
                    found.append((queue, packet_id))
                    break
                pos += (attr_len + 3) & ~3
        offset += (length + 3) & ~3
    return found


def serve(config: dict[int, dict[str, float]]) -> None:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 * 1024 * 1024)
    sock.setsockopt(270, NETLINK_NO_ENOBUFS, 1)  # 270 = SOL_NETLINK; overruns must not kill the loop
    sock.bind((0, 0))
    for queue in config:
        _bind(sock, queue)
    rng = random.Random()
    due: list[tuple[float, int, int, int]] = []  # (release time, queue, packet id, verdict)
    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else 1.0
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        if readable:
            while True:
                try:
                    data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                for queue, packet_id in _packets(data):
                    params = config.get(queue)
                    if params is None:
                        heapq.heappush(due, (now, queue, packet_id, NF_ACCEPT))
                        continue
                    if params["loss_percent"] and rng.random() * 100 < params["loss_percent"]:
                        heapq.heappush(due, (now, queue, packet_id, NF_DROP))
                        continue
                    delay = params["delay_ms"]
                    if params["jitter_ms"]:
                        delay = max(0.0, rng.gauss(delay, params["jitter_ms"]))
                    heapq.heappush(due, (now + delay / 1000, queue, packet_id, NF_ACCEPT))
        now = time.monotonic()
        batch = bytearray()
        while due and due[0][0] <= now:
            _when, queue, packet_id, verdict = heapq.heappop(due)
            batch += _verdict(queue, packet_id, verdict)
            if len(batch) > 60000:
                sock.send(bytes(batch))
                batch.clear()
        if batch:
            sock.send(bytes(batch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sovplatform.substrate.lab.delay")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--tag", required=True, help="the platform prefix, so leftovers are attributable")
    args = parser.parse_args(argv)
    raw = json.loads(args.config.read_text())["queues"]
    serve({int(queue): params for queue, params in raw.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
