"""Layouts for the day-2 decision tests: the shipped blueprints, and random valid topologies.

The generator builds blueprints that pass every topology rule by construction (3 to 5 sites,
quorums placed by count patterns that keep each site below half, pools that fit the OSD
sites), and checks that the rules agree before handing the plan's layout over.
"""

from __future__ import annotations

import copy
import itertools
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from sovplatform.blueprint import Blueprint, load_blueprint
from sovplatform.blueprint.rules import check_topology
from sovplatform.plan.build import build_plan
from sovplatform.plan.layout import PlatformLayout, layout_from_plan
from tests.helpers import LAB, ODC, lab_dict


@cache
def lab_layout() -> PlatformLayout:
    return layout_from_plan(build_plan(load_blueprint(LAB)))


@cache
def odc_layout() -> PlatformLayout:
    return layout_from_plan(build_plan(load_blueprint(Path(ODC))))


_LAB = lab_dict()
CUSTOMER_KMS: dict[str, Any] = {
    **_LAB["customer_kms"],
    "endpoint": "https://192.0.2.10:8200",
    "custodians": _LAB["customer_kms"]["custodians"][:1],
    "recovery_threshold": 1,
}


@cache
def quorum_patterns(n_sites: int) -> tuple[tuple[int, ...], ...]:
    """Members per site (0-2 each) that the quorum rule accepts: odd, at least 3, no site half."""
    return tuple(
        c
        for c in itertools.product(range(3), repeat=n_sites)
        if sum(c) >= 3 and sum(c) % 2 == 1 and 2 * max(c) < sum(c)
    )


@st.composite
def valid_blueprint_dicts(draw: st.DrawFn, min_sites: int = 3, max_sites: int = 5) -> dict[str, Any]:
    n = draw(st.integers(min_sites, max_sites))
    # at least three sites with OSD hosts: pools of size 3 need three datacenters
    storage = draw(
        st.permutations([draw(st.integers(1, 2)) for _ in range(3)] + [draw(st.integers(0, 2)) for _ in range(n - 3)])
    )
    etcd = draw(st.sampled_from(quorum_patterns(n)))
    kms = draw(st.sampled_from(quorum_patterns(n)))
    mons = draw(
        st.sampled_from([p for p in quorum_patterns(n) if all(c <= s for c, s in zip(p, storage, strict=True))])
    )
    gateway_sites = draw(st.sets(st.integers(0, n - 1), min_size=2))
    sites: list[dict[str, Any]] = []
    monitors: list[str] = []
    for i in range(n):
        name = f"dc{i + 1}"
        count = max(1, storage[i], etcd[i], kms[i]) + draw(st.integers(0, 1))
        hosts = []
        for j in range(count):
            roles: list[str] = []
            if j == 0:
                roles += ["control", "compute"]
            if j < storage[i]:
                roles.append("storage")
            if j < etcd[i]:
                roles.append("etcd")
            if j < kms[i]:
                roles.append("kms")
            if j == 0 and i in gateway_sites:
                roles.append("gateway")
            host: dict[str, Any] = {
                "name": f"{name}-{'abcd'[j]}",
                "roles": roles or ["compute"],
                "addresses": {"management": f"10.{i + 1}.0.{10 + j}"},
            }
            if "storage" in roles:
                host["disks"] = [{"size_gb": 1000}]
                if j < mons[i]:
                    monitors.append(host["name"])
            hosts.append(host)
        links = {f"dc{k + 1}": {"rtt_ms": draw(st.integers(1, 20))} for k in range(i + 1, n)}
        sites.append(
            {
                "name": name,
                "region": "eu",
                "networks": {"management": {"cidr": f"10.{i + 1}.0.0/24"}},
                "links": links,
                "hosts": hosts,
            }
        )
    n_osd = sum(1 for s in storage if s)
    pools = []
    for name in draw(
        st.lists(st.sampled_from(["rbd", "images", "default.rgw.buckets.data"]), min_size=1, max_size=2, unique=True)
    ):
        size = draw(st.integers(3, min(5, n_osd)))
        pools.append(
            {
                "name": name,
                "application": "rgw" if "rgw" in name else "rbd",
                "size": size,
                "min_size": draw(st.integers(2, size - 1)),
                "failure_domain": "datacenter",
                "capacity_gb": draw(st.integers(0, 50)),
            }
        )
    return {
        "apiVersion": "sovplatform/v1",
        "kind": "Platform",
        "name": "ops-prop",
        "substrate": {"kind": "lab"},
        "versions": copy.deepcopy(_LAB["versions"]),
        "sites": sites,
        "ceph": {"monitors": monitors, "pools": pools},
        "openbao": {},
        "customer_kms": copy.deepcopy(CUSTOMER_KMS),
    }


def layout_of(data: dict[str, Any]) -> PlatformLayout:
    bp = Blueprint.model_validate(data)
    problems = check_topology(bp)
    assert not problems, f"the generator made an invalid blueprint: {problems}"
    return layout_from_plan(build_plan(bp))


valid_layouts = valid_blueprint_dicts().map(layout_of)
three_site_layouts = valid_blueprint_dicts(3, 3).map(layout_of)
