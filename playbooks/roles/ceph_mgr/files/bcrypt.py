"""bcrypt for ceph-mgr's module interpreters, placed ahead of the system's by the ceph_mgr role.

ceph-mgr runs every module in a Python subinterpreter, and Debian 13's python3-bcrypt is a PyO3
extension, which refuses to load in one. mgr_util imports bcrypt at its top, so without this
module every manager module that imports mgr_util (balancer, pg_autoscaler, progress, volumes,
status, crash...) fails to load. mgr only hashes passwords with it (dashboard and cephadm users):
the functions below do that with the real bcrypt in a separate Python process, so the result is
the same; the password travels on a pipe, never on a command line.
"""

from __future__ import annotations

import json
import subprocess

__all__ = ["checkpw", "gensalt", "hashpw"]

_PROGRAM = """
import json, sys, bcrypt
req = json.load(sys.stdin)
op = req["op"]
if op == "gensalt":
    out = bcrypt.gensalt(req["rounds"], bytes.fromhex(req["prefix"])).hex()
elif op == "hashpw":
    out = bcrypt.hashpw(bytes.fromhex(req["password"]), bytes.fromhex(req["salt"])).hex()
else:
    out = bcrypt.checkpw(bytes.fromhex(req["password"]), bytes.fromhex(req["hashed"]))
json.dump(out, sys.stdout)
"""


def _call(request: dict[str, object]) -> object:
    done = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", _PROGRAM],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "bcrypt failed")
    return json.loads(done.stdout)


def gensalt(rounds: int = 12, prefix: bytes = b"2b") -> bytes:
    return bytes.fromhex(str(_call({"op": "gensalt", "rounds": rounds, "prefix": prefix.hex()})))


def hashpw(password: bytes, salt: bytes) -> bytes:
    return bytes.fromhex(str(_call({"op": "hashpw", "password": password.hex(), "salt": salt.hex()})))


def checkpw(password: bytes, hashed_password: bytes) -> bool:
    return bool(_call({"op": "checkpw", "password": password.hex(), "hashed": hashed_password.hex()}))
