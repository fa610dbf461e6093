"""Kubernetes checks, through the API with the `kubernetes` client, and etcd read directly.

Access: the controller never keeps a cluster credential. Each time it needs the API it asks a
control-plane node over SSH for a short-lived token of the `sovplatform` service account
(`kubectl create token`, one hour, with the node's admin.conf), holds it in memory only, and
talks to that node's API server at its management address, trusting only the cluster CA the
controller made (<state>/kube-pki). Control-plane nodes are tried in plan order; the first that
answers serves every question, so the checks still tell the truth while a site is down.

- ``nodes <site>``: every planned node of the site is registered, Ready, and labelled with its
  region and zone;
- ``apiserver <node>``: each control-plane node's API server answers /readyz (etcd included);
- ``control-plane``: the static pods (API server, controller manager, scheduler) run on every
  control-plane node;
- ``dns``: CoreDNS has every replica available;
- ``dns resolves in pods``, ``pod network across sites``: a probe pod per site resolves the
  API's service name and reaches every CoreDNS pod (one per site) over the overlay
  (checks/kube_probe.py);
- ``secrets-encrypted``: a Secret written through the API is stored in etcd as
  ``k8s:enc:kms:v2:`` (the OpenBao transit key wraps its data key) without its plaintext, and
  reads back intact; it is deleted afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from sovplatform.checks import kube_probe
from sovplatform.checks.etcd import etcdctl
from sovplatform.checks.model import Check, CheckContext
from sovplatform.plan.inventory import REGION_LABEL, ZONE_LABEL

API_PORT = 6443
SERVICE_ACCOUNT = "sovplatform"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
TOKEN_DURATION = "1h"
KMS_PREFIX = b"k8s:enc:kms:v2:"
VERIFY_NAMESPACE = "kube-system"
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


class NoAPI(Exception):
    """No control-plane node gave a token and answered."""


def control_nodes(plan: dict[str, Any]) -> list[str]:
    return [str(h["name"]) for h in plan.get("hosts", []) if "control" in h.get("roles", [])]


def kube_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in plan.get("hosts", []) if {"control", "compute"} & set(h.get("roles", []))]


def cluster_ca_file(ctx: CheckContext) -> str:
    return str(ctx.state / "kube-pki" / "ca" / "ca.crt")


def mint_token(ctx: CheckContext, node: str) -> str | None:
    """A one-hour token of the platform's service account, made by the node's API server."""
    cmd = (
        f"kubectl --kubeconfig {ADMIN_CONF} --request-timeout=10s -n kube-system "
        f"create token {SERVICE_ACCOUNT} --duration {TOKEN_DURATION}"
    )
    done = ctx.ssh(node, cmd, timeout=30)
    token = done.stdout.strip()
    return token if done.returncode == 0 and token.count(".") == 2 else None


def api_client(ctx: CheckContext, node: str, token: str, timeout: float = 10) -> client.ApiClient:
    conf = client.Configuration()
    conf.host = f"https://{_management(ctx.plan)[node]}:{API_PORT}"
    conf.ssl_ca_cert = cluster_ca_file(ctx)
    conf.api_key = {"authorization": f"Bearer {token}"}
    conf.retries = 1
    api = client.ApiClient(conf)
    api.rest_client.pool_manager.connection_pool_kw["timeout"] = timeout
    return api


@dataclass
class Cluster:
    """An API client on one control-plane node, for the duration of one operation."""

    node: str
    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def certificates(self) -> client.CertificatesV1Api:
        return client.CertificatesV1Api(self.api)


@contextlib.contextmanager
def connect(ctx: CheckContext, prefer: list[str] | None = None) -> Iterator[Cluster]:
    """The first control-plane node (``prefer`` first) that gives a token and answers."""
    order = [n for n in (prefer or []) + control_nodes(ctx.plan) if n in ctx.hosts]
    tried: list[str] = []
    for node in dict.fromkeys(order):
        token = mint_token(ctx, node)
        if token is None:
            tried.append(f"{node}: no token")
            continue
        api = api_client(ctx, node, token)
        try:
            client.VersionApi(api).get_code()
        except Exception as exc:  # any failure means: try the next node
            api.close()
            tried.append(f"{node}: {type(exc).__name__}")
            continue
        try:
            yield Cluster(node, api)
        finally:
            api.close()
        return
    raise NoAPI("; ".join(tried) or "the plan has no control-plane node")


def _management(plan: dict[str, Any]) -> dict[str, str]:
    return {str(h["name"]): str(h.get("management_address", "")) for h in plan.get("hosts", [])}


def _ready(node: client.V1Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def node_checks(plan: dict[str, Any], nodes: list[client.V1Node]) -> list[Check]:
    """One row per site: each planned node registered, Ready, and labelled with its site."""
    seen = {n.metadata.name: n for n in nodes}
    regions = {str(s["name"]): str(s.get("region", "")) for s in plan.get("sites", [])}
    by_site: dict[str, list[dict[str, Any]]] = {}
    for h in kube_nodes(plan):
        by_site.setdefault(str(h["site"]), []).append(h)
    out = []
    for site, planned in sorted(by_site.items()):
        problems, ready = [], 0
        for h in planned:
            name = str(h["name"])
            node = seen.get(name)
            if node is None:
                problems.append(f"{name} not registered")
                continue
            labels = node.metadata.labels or {}
            if labels.get(ZONE_LABEL) != site or labels.get(REGION_LABEL) != regions.get(site):
                problems.append(
                    f"{name} labelled zone={labels.get(ZONE_LABEL)} region={labels.get(REGION_LABEL)}, "
                    f"planned zone={site} region={regions.get(site)}"
                )
            if _ready(node):
                ready += 1
            else:
                problems.append(f"{name} not Ready")
        detail = "; ".join(problems) or f"{ready} node(s) Ready, zone {site}"
        out.append(Check("kubernetes", f"nodes {site}", not problems, detail))
    return out


def _apiservers(ctx: CheckContext, cluster: Cluster) -> list[Check]:
    out = []
    token = cluster.api.configuration.api_key["authorization"].removeprefix("Bearer ")
    for node in control_nodes(ctx.plan):
        api = api_client(ctx, node, token, timeout=5)
        try:
            said = api.call_api(
                "GET",
                f"{api.configuration.host}/readyz",
                header_params={"Authorization": f"Bearer {token}"},
                _request_timeout=5,
            )
            said.read()
            body = (said.data or b"").decode(errors="replace").strip()
            ok = said.status == 200 and body == "ok"
            out.append(Check("kubernetes", f"apiserver {node}", ok, f"/readyz: HTTP {said.status} {body[:200]}"))
        except Exception as exc:  # the row says what failed
            out.append(Check("kubernetes", f"apiserver {node}", False, f"/readyz failed: {_why(exc)}"))
        finally:
            api.close()
    return out


def _why(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _static_pods(ctx: CheckContext, cluster: Cluster) -> Check:
    pods = cluster.core.list_namespaced_pod("kube-system").items
    running = {(p.metadata.labels or {}).get("component", ""): set() for p in pods}
    for p in pods:
        if p.status.phase == "Running":
            running[(p.metadata.labels or {}).get("component", "")].add(p.spec.node_name)
    missing = [
        f"{component} on {node}"
        for node in control_nodes(ctx.plan)
        for component in STATIC_PODS
        if node not in running.get(component, set())
    ]
    detail = (
        "not running: " + ", ".join(missing) if missing else f"{', '.join(STATIC_PODS)} on every control-plane node"
    )
    return Check("kubernetes", "control-plane", not missing, detail)


def _dns(cluster: Cluster) -> Check:
    try:
        dep = cluster.apps.read_namespaced_deployment("coredns", "kube-system")
    except ApiException as exc:
        return Check("kubernetes", "dns", False, f"CoreDNS deployment: {_why(exc)}")
    want, have = dep.spec.replicas or 0, dep.status.available_replicas or 0
    return Check("kubernetes", "dns", want > 0 and have == want, f"CoreDNS {have}/{want} replica(s) available")


def _etcd_value(ctx: CheckContext, key: str) -> bytes | None:
    for member in ctx.plan.get("quorums", {}).get("etcd", {}).get("members", []):
        if member not in ctx.hosts:
            continue
        done = ctx.ssh(member, etcdctl("get", key, "--print-value-only") + " | base64 -w0", timeout=20)
        if done.returncode == 0:
            return base64.b64decode(done.stdout.strip())
    return None


def _secrets_encrypted(ctx: CheckContext, cluster: Cluster) -> Check:
    name = f"sovplatform-verify-{secrets.token_hex(4)}"
    marker = secrets.token_hex(16)
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={"canary": marker})
    try:
        cluster.core.create_namespaced_secret(VERIFY_NAMESPACE, body)
    except ApiException as exc:
        return Check("kubernetes", "secrets-encrypted", False, f"cannot write a Secret: {_why(exc)}")
    try:
        stored = _etcd_value(ctx, f"/registry/secrets/{VERIFY_NAMESPACE}/{name}")
        back = cluster.core.read_namespaced_secret(name, VERIFY_NAMESPACE)
        intact = base64.b64decode((back.data or {}).get("canary", "")).decode() == marker
    except ApiException as exc:
        return Check("kubernetes", "secrets-encrypted", False, f"cannot read the Secret back: {_why(exc)}")
    finally:
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespaced_secret(name, VERIFY_NAMESPACE)
    if stored is None:
        return Check("kubernetes", "secrets-encrypted", False, "no etcd member returned the stored Secret")
    if not stored.startswith(KMS_PREFIX):
        return Check("kubernetes", "secrets-encrypted", False, f"stored as {stored[:24]!r}, not {KMS_PREFIX.decode()}")
    if marker.encode() in stored:
        return Check("kubernetes", "secrets-encrypted", False, "the plaintext is in etcd next to the KMS prefix")
    if not intact:
        return Check("kubernetes", "secrets-encrypted", False, "the Secret read back differs from what was written")
    provider = stored[len(KMS_PREFIX) :].split(b":", 1)[0].decode(errors="replace")
    return Check(
        "kubernetes",
        "secrets-encrypted",
        True,
        f"stored in etcd as {KMS_PREFIX.decode()}{provider}:…, no plaintext; read back intact",
    )


def run(ctx: CheckContext) -> list[Check]:
    try:
        with connect(ctx) as cluster:
            checks = node_checks(ctx.plan, cluster.core.list_node().items)
            checks += _apiservers(ctx, cluster)
            checks.append(_static_pods(ctx, cluster))
            checks.append(_dns(cluster))
            sites = sorted({str(h["site"]) for h in kube_nodes(ctx.plan)})
            checks += kube_probe.run(cluster.core, cluster.apps, sites)
            checks.append(_secrets_encrypted(ctx, cluster))
            return checks
    except NoAPI as exc:
        return [Check("kubernetes", "api", False, f"no control-plane node answered: {exc}")]
