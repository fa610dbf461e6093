"""The pure parts of the Kubernetes layer: pod network files, which serving-certificate requests
the controller approves, the join credentials' shape, and the per-site node rows of verify."""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client

from sovplatform.blueprint import validate_text
from sovplatform.checks.kube_probe import Seen, judge, parse
from sovplatform.checks.kubernetes import node_checks
from sovplatform.operations.kubernetes import discovery_kubeconfig, pod_network_files, serving_request_problem
from sovplatform.plan.build import build_plan
from tests.helpers import dump, lab_dict


def _plan() -> dict[str, Any]:
    return build_plan(validate_text(dump(lab_dict()))).data


def _kube_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in plan["hosts"] if {"control", "compute"} & set(h["roles"])]


def test_every_node_gets_its_own_range_and_every_other_node_as_a_peer() -> None:
    plan = _plan()
    nodes = _kube_nodes(plan)
    cidrs = {h["name"]: f"192.168.{i}.0/24" for i, h in enumerate(nodes)}
    files = {n: json.loads(c) for n, c in pod_network_files(plan, cidrs).items()}
    assert set(files) == set(cidrs)
    address = {h["name"]: h["management_address"] for h in nodes}
    for name, doc in files.items():
        assert doc["address"] == address[name] and doc["pod_cidr"] == cidrs[name]
        peers = {p["node"]: p for p in doc["peers"]}
        assert set(peers) == set(cidrs) - {name}
        assert all(p["address"] == address[p["node"]] and p["pod_cidr"] == cidrs[p["node"]] for p in peers.values())
        assert doc["mtu"] == 1450 and doc["port"] == 4789
    # The same input gives the same bytes: a second `up` pushes nothing.
    assert pod_network_files(plan, cidrs) == pod_network_files(plan, dict(reversed(list(cidrs.items()))))


def _csr(cn: str, dns: list[str], ips: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


ALLOWED = {"dc1-a": {"198.18.1.11"}, "dc2-a": {"198.18.2.11"}}


def test_a_node_asking_for_its_own_name_and_address_is_approved() -> None:
    pem = _csr("system:node:dc1-a", ["dc1-a"], ["198.18.1.11"])
    assert serving_request_problem("system:node:dc1-a", pem, ALLOWED) is None


def test_requests_naming_anything_else_are_left_alone() -> None:
    other_ip = _csr("system:node:dc1-a", ["dc1-a"], ["198.18.2.11"])
    assert "not its own: 198.18.2.11" in (serving_request_problem("system:node:dc1-a", other_ip, ALLOWED) or "")
    other_name = _csr("system:node:dc1-a", ["dc1-a", "kubernetes.default"], ["198.18.1.11"])
    assert "kubernetes.default" in (serving_request_problem("system:node:dc1-a", other_name, ALLOWED) or "")
    stranger = _csr("system:node:dc9-z", ["dc9-z"], ["198.18.9.11"])
    assert "not a planned node" in (serving_request_problem("system:node:dc9-z", stranger, ALLOWED) or "")
    user = _csr("system:node:dc1-a", ["dc1-a"], ["198.18.1.11"])
    assert "not a planned node" in (serving_request_problem("admin", user, ALLOWED) or "")
    no_address = _csr("system:node:dc1-a", ["dc1-a"], [])
    assert "no address" in (serving_request_problem("system:node:dc1-a", no_address, ALLOWED) or "")


def test_join_credentials_trust_the_cluster_ca_through_the_local_balancer() -> None:
    conf = yaml.safe_load(discovery_kubeconfig("p", b"PEM", "abcdef.0123456789abcdef"))
    (cluster,) = conf["clusters"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:7443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == b"PEM"
    assert conf["users"][0]["user"] == {"token": "abcdef.0123456789abcdef"}
    assert conf["contexts"][0]["context"] == {"cluster": "p", "user": conf["users"][0]["name"]}


def _node(name: str, zone: str, region: str, ready: bool) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name, labels={"topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": region}
        ),
        status=client.V1NodeStatus(
            conditions=[client.V1NodeCondition(type="Ready", status="True" if ready else "False")]
        ),
    )


def test_node_rows_per_site_name_what_is_missing_unready_or_mislabelled() -> None:
    plan = _plan()
    nodes = _kube_nodes(plan)
    region = {s["name"]: s["region"] for s in plan["sites"]}
    live = [_node(h["name"], h["site"], region[h["site"]], True) for h in nodes]
    rows = node_checks(plan, live)
    assert [r.name for r in rows] == [f"nodes {s}" for s in sorted({h["site"] for h in nodes})]
    assert all(r.ok for r in rows), rows
    first, second = nodes[0], nodes[1]
    broken = [_node(first["name"], "elsewhere", region[first["site"]], True)] + [
        n for n in live if n.metadata.name not in (first["name"], second["name"])
    ]
    rows = {r.name: r for r in node_checks(plan, broken)}
    assert not rows[f"nodes {first['site']}"].ok
    assert f"{first['name']} labelled zone=elsewhere" in rows[f"nodes {first['site']}"].detail
    assert f"{second['name']} not registered" in rows[f"nodes {second['site']}"].detail
    unready = [_node(h["name"], h["site"], region[h["site"]], h["name"] != first["name"]) for h in nodes]
    assert (
        f"{first['name']} not Ready" in {r.name: r for r in node_checks(plan, unready)}[f"nodes {first['site']}"].detail
    )


def test_probe_logs_give_a_dns_row_and_a_site_pair_row() -> None:
    targets = {"192.168.0.2": "dc1", "192.168.3.2": "dc2", "192.168.5.2": "dc3"}
    all_ok = "dns ok\n" + "".join(f"reach {ip} ok\n" for ip in targets)
    seen: dict[str, Seen | str] = {s: parse(all_ok) for s in ("dc1", "dc2", "dc3")}
    dns, net = judge(["dc1", "dc2", "dc3"], targets, seen)
    assert dns.ok and net.ok, (dns, net)
    assert net.detail.startswith("9 site pair(s)"), net.detail
    seen["dc2"] = parse("dns fail\nreach 192.168.0.2 ok\nreach 192.168.3.2 ok\nreach 192.168.5.2 fail\n")
    seen["dc3"] = "probe pod still Pending after 90 s"
    dns, net = judge(["dc1", "dc2", "dc3"], targets, seen)
    assert not dns.ok and "dc2: kubernetes.default.svc.cluster.local did not resolve" in dns.detail
    assert "dc3: probe pod still Pending" in dns.detail
    assert not net.ok and "dc2 -> 192.168.5.2 (dc3) failed" in net.detail and "dc3: probe pod" in net.detail


def test_a_site_without_a_dns_pod_is_named_not_passed_over() -> None:
    targets = {"192.168.0.2": "dc1", "192.168.0.3": "dc1"}
    ok = parse("dns ok\nreach 192.168.0.2 ok\nreach 192.168.0.3 ok\n")
    _, net = judge(["dc1", "dc2"], targets, {"dc1": ok, "dc2": ok})
    assert not net.ok and "no CoreDNS pod runs in dc2" in net.detail
