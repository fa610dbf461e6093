"""The mirror's own OpenPGP key, so hosts verify the repository instead of trusting it blindly
(`trusted=yes` would let anyone on the management network feed them packages).

One key per cache: generated on first use, kept in a 0700 GnuPG home under the cache. It is not
passphrase-protected (builds are unattended); a site that needs more supplies its own GnuPG home.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sovplatform.mirror import tools

UID = "sovplatform offline mirror <mirror@sovplatform.invalid>"


class MirrorKey:
    def __init__(self, home: Path) -> None:
        self.home = home

    def _gpg(self, *args: str, what: str) -> str:
        return tools.run(
            [
                "gpg",
                "--batch",
                "--no-tty",
                "--homedir",
                str(self.home),
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                *args,
            ],
            what,
            env={"LC_ALL": "C.UTF-8"},
        )

    def fingerprint(self) -> str | None:
        if not self.home.is_dir():
            return None
        out = self._gpg("--with-colons", "--list-secret-keys", what="gpg list keys")
        for line in out.splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        return None

    def ensure(self) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)  # gpg refuses (warns about) group/world-readable homes
        fpr = self.fingerprint()
        if fpr:
            return fpr
        self._gpg("--quick-generate-key", UID, "ed25519", "sign", "never", what="gpg generate mirror key")
        fpr = self.fingerprint()
        assert fpr, "gpg generated no key"
        return fpr

    def export(self, fpr: str, keyring: Path, armoured: Path) -> None:
        self._gpg("--output", str(keyring), "--yes", "--export", fpr, what="gpg export mirror key")
        self._gpg("--output", str(armoured), "--yes", "--armor", "--export", fpr, what="gpg export mirror key")

    def sign_release(self, fpr: str, repo: Path) -> None:
        release = repo / "Release"
        self._gpg(
            "--local-user",
            fpr,
            "--digest-algo",
            "SHA512",
            "--yes",
            "--output",
            str(repo / "InRelease"),
            "--clearsign",
            str(release),
            what="gpg sign InRelease",
        )
        self._gpg(
            "--local-user",
            fpr,
            "--digest-algo",
            "SHA512",
            "--yes",
            "--armor",
            "--output",
            str(repo / "Release.gpg"),
            "--detach-sign",
            str(release),
            what="gpg sign Release.gpg",
        )

    def close(self) -> None:
        """Stop the gpg-agent this home started, so no process outlives the build."""
        # Never raises: it runs in a finally block and must not hide the build's own error.
        if self.home.is_dir():
            subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True)
