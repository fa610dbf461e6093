"""Kernel object names for one lab platform.

Linux caps interface names at 15 characters and they share one namespace per host, so every name
starts with a short prefix derived from the platform name: two platforms on one machine never
collide, and anything left behind after a crash is recognisable as ours by that prefix alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

IFNAMSIZ = 15  # usable characters, the kernel's limit minus the NUL


@dataclass(frozen=True)
class LabNames:
    platform: str

    @property
    def prefix(self) -> str:
        # "sv" keeps names readable in `ip link`; 4 hex digits make collisions between the few
        # platforms one machine runs vanishingly unlikely while leaving room for suffixes.
        return "sv" + hashlib.sha256(self.platform.encode()).hexdigest()[:4]

    def _ifname(self, suffix: str) -> str:
        name = self.prefix + suffix
        if len(name) > IFNAMSIZ:
            raise ValueError(f"interface name {name!r} exceeds {IFNAMSIZ} characters")
        return name

    @property
    def router_netns(self) -> str:
        return f"{self.prefix}-router"

    @property
    def controller_link(self) -> str:
        """The root-namespace end of the controller's link into the router."""
        return self._ifname("ctl")

    @property
    def controller_peer(self) -> str:
        return self._ifname("rtr")

    def management_bridge(self, site_index: int) -> str:
        return self._ifname(f"m{site_index}")

    def storage_bridge(self, site_index: int) -> str:
        return self._ifname(f"s{site_index}")

    @property
    def external_bridge(self) -> str:
        return self._ifname("x")

    def host_port(self, host_index: int, network: str) -> str:
        """Router-side veth end of a host's interface; network is 'm' (management) or 's' (storage)."""
        return self._ifname(f"h{host_index}{network}")

    def machine(self, host: str) -> str:
        """nspawn machine name; carries the prefix so stray processes are attributable."""
        return f"{self.prefix}-{host}"

    def owns(self, name: str) -> bool:
        return name.startswith(self.prefix)
