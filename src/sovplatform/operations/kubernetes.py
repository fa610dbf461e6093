"""The Kubernetes layer, for `up`: kubeadm on every node, the controller holding every secret.

Controller steps around playbooks/kubernetes.yml keep secrets out of Ansible (ansible-runner
records command lines and variables):
  1. the cluster's keys (pki/kube.py: cluster CA, front-proxy CA, service-account key pair) and
     the KMS plugin's OpenBao token go to every control-plane node over SSH (0600);
  2. pass 1 of the playbook: runtime, kubelet, pod network program and API balancer on every
     node, the KMS plugin and `kubeadm init` on the first control-plane node;
  3. the controller's service account (cluster-admin) is applied with the node's admin.conf;
  4. every node that has not joined gets a discovery file: the cluster CA and a bootstrap token
     that lives 30 minutes, made by `kubeadm token create` on the first node;
  5. pass 2: the other control-plane nodes join one at a time, the workers together;
  6. each node's pod network file (its Node's pod range and every other node's) is written and
     applied; the kubelets' serving-certificate requests are approved after checking that they
     name only the node's own name and addresses;
  7. CoreDNS gets one replica per site, spread by zone, with a disruption budget;
  8. `up` waits until every node is Ready and CoreDNS serves.
A second run ships nothing new, joins nobody, and both passes report no change.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from kubernetes import client
from kubernetes.client.rest import ApiException

from sovplatform.checks import kubernetes as kchecks
from sovplatform.checks.model import CheckContext
from sovplatform.checks.openbao import BaoClient, platform_ca, voter_url
from sovplatform.engine.hostfiles import HostFile, PushError, push
from sovplatform.operations.context import Context
from sovplatform.operations.errors import OperationError
from sovplatform.operations.openbao import consumer_token
from sovplatform.operations.playbook import play
from sovplatform.pki.kube import KubePKI
from sovplatform.pki.secret import platform_passphrase
from sovplatform.plan.inventory import ZONE_LABEL
from sovplatform.plan.kube_cluster import API_LB_HOST, API_LB_PORT, DISCOVERY_FILE

KMS_ENV_FILE = "/etc/sovplatform/kms/plugin.env"
POD_NETWORK_FILE = "/etc/sovplatform/pod-network.json"
POD_NETWORK_UNIT = "sov-pod-network"
JOINED_FILE = "/etc/kubernetes/kubelet.conf"
BOOTSTRAP_TTL = "30m"
# The pod overlay (roles/kube_pod_network): VXLAN on the IANA port, its header taken off a
# 1500-byte management network.
VXLAN_ID = 4096
VXLAN_PORT = 4789
POD_MTU = 1450
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
READY_TIMEOUT_S = 300.0

CONTROLLER_ACCESS = """
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sovplatform
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: sovplatform
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- kind: ServiceAccount
  name: sovplatform
  namespace: kube-system
"""


def kube_pki(ctx: Context) -> KubePKI:
    passphrase = platform_passphrase(ctx.state, ctx.blueprint.substrate.kind)
    return KubePKI(ctx.state / "kube-pki", ctx.blueprint.name, passphrase)


def _cctx(ctx: Context, hosts: list[dict[str, Any]]) -> CheckContext:
    return CheckContext({str(h["name"]): h for h in hosts}, ctx.plan.data, ctx.state, ctx.state / "ssh" / "known_hosts")


def _push(ctx: Context, hosts: list[dict[str, Any]], files: dict[str, list[HostFile]]) -> dict[str, list[str]]:
    targets = [h for h in hosts if h["name"] in files]
    try:
        return push(targets, files, ctx.state / "ssh" / "known_hosts")
    except PushError as exc:
        raise OperationError([f"kubernetes: {p}" for p in exc.problems]) from None


def _play(ctx: Context, inventory: Path, extravars: dict[str, Any], tags: str | None = None, **more: Any) -> int:
    return play(ctx, "kubernetes.yml", inventory, {**extravars, **more}, tags=tags)


def ship_keys(ctx: Context, hosts: list[dict[str, Any]]) -> list[str]:
    """Cluster keys and the KMS token to every control-plane node; the hosts whose files changed."""
    pki = kube_pki(ctx)
    made = pki.ensure()
    if made:
        ctx.progress.update(f"kubernetes: made the cluster's {', '.join(made)}")
    token = consumer_token(ctx, "kubernetes")
    files = [*pki.control_plane_files(), HostFile(KMS_ENV_FILE, f"OPENBAO_TOKEN={token}\n".encode(), mode=0o600)]
    control = kchecks.control_nodes(ctx.plan.data)
    changed = _push(ctx, hosts, {n: files for n in control})
    # A periodic token lives as long as it is renewed within its period.
    by_name = {str(h["name"]): h for h in hosts}
    voter = by_name[str(ctx.plan.data["quorums"]["openbao"]["members"][0])]
    renewed = BaoClient(voter_url(str(voter["address"])), platform_ca(ctx.state), token=token).post(
        "auth/token/renew-self", {}
    )
    if not renewed.ok:
        ctx.progress.update(f"kubernetes KMS token not renewed ({renewed.status}); it holds until its period ends")
    return [n for n, paths in changed.items() if paths]


def discovery_kubeconfig(platform: str, ca_pem: bytes, token: str) -> bytes:
    """What a joining node trusts (the cluster CA) and proves itself with (the bootstrap token),
    pointed at its own API balancer."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": platform,
                "cluster": {
                    "server": f"https://{API_LB_HOST}:{API_LB_PORT}",
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "tls-bootstrap-token-user", "user": {"token": token}}],
        "contexts": [{"name": "join", "context": {"cluster": platform, "user": "tls-bootstrap-token-user"}}],
        "current-context": "join",
    }
    return yaml.safe_dump(doc, sort_keys=False).encode()


def _unjoined(cctx: CheckContext, nodes: list[str]) -> list[str]:
    out = []
    for node in nodes:
        if cctx.ssh(node, f"test -e {JOINED_FILE}", timeout=20).returncode != 0:
            out.append(node)
    return out


def _run_on(cctx: CheckContext, node: str, command: str, what: str, data: bytes | None = None) -> str:
    done = cctx.ssh(node, command, timeout=60, data=data)
    if done.returncode != 0:
        raise OperationError([f"kubernetes: {what} on {node} failed: {done.stderr.strip()[-300:]}"])
    return done.stdout


def ship_join_credentials(ctx: Context, hosts: list[dict[str, Any]], cctx: CheckContext) -> list[str]:
    nodes = [str(h["name"]) for h in kchecks.kube_nodes(ctx.plan.data)]
    first = kchecks.control_nodes(ctx.plan.data)[0]
    waiting = [n for n in _unjoined(cctx, nodes) if n != first]
    if not waiting:
        return []
    token = _run_on(
        cctx,
        first,
        f"kubeadm token create --ttl {BOOTSTRAP_TTL} --description 'sovplatform up: join {len(waiting)} node(s)'",
        "making a bootstrap token",
    ).strip()
    conf = discovery_kubeconfig(ctx.blueprint.name, kube_pki(ctx).ca_cert(), token)
    _push(ctx, hosts, {n: [HostFile(DISCOVERY_FILE, conf, mode=0o600)] for n in waiting})
    return waiting


def pod_network_files(plan: dict[str, Any], pod_cidrs: dict[str, str]) -> dict[str, bytes]:
    """Each node's share of the overlay (roles/kube_pod_network): pure, for a unit test."""
    addresses = {str(h["name"]): str(h["management_address"]) for h in kchecks.kube_nodes(plan)}
    out = {}
    for node, cidr in sorted(pod_cidrs.items()):
        peers = [
            {"node": other, "address": addresses[other], "pod_cidr": pod_cidrs[other]}
            for other in sorted(pod_cidrs)
            if other != node
        ]
        doc = {
            "address": addresses[node],
            "pod_cidr": cidr,
            "vni": VXLAN_ID,
            "port": VXLAN_PORT,
            "mtu": POD_MTU,
            "peers": peers,
        }
        out[node] = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    return out


def _wait(what: str, probe: Any, timeout: float, ctx: Context, interval: float = 2.0) -> float:
    started = time.monotonic()
    last = ""
    while True:
        done, status = probe()
        if done:
            return round(time.monotonic() - started, 1)
        if status != last:
            ctx.progress.update(f"kubernetes: waiting {what}: {status}")
            last = status
        if time.monotonic() - started > timeout:
            raise OperationError([f"kubernetes: gave up after {timeout:.0f} s waiting {what}: {status}"])
        time.sleep(interval)


def apply_pod_network(
    ctx: Context, hosts: list[dict[str, Any]], cctx: CheckContext, cluster: kchecks.Cluster
) -> list[str]:
    planned = [str(h["name"]) for h in kchecks.kube_nodes(ctx.plan.data)]
    cidrs: dict[str, str] = {}

    def allocated() -> tuple[bool, str]:
        cidrs.clear()
        for node in cluster.core.list_node().items:
            if node.metadata.name in planned and node.spec.pod_cidr:
                cidrs[node.metadata.name] = node.spec.pod_cidr
        missing = [n for n in planned if n not in cidrs]
        return not missing, f"no pod range yet for {', '.join(missing)}"

    _wait("for every node's pod range", allocated, 120, ctx)
    files = pod_network_files(ctx.plan.data, cidrs)
    changed = _push(ctx, hosts, {n: [HostFile(POD_NETWORK_FILE, content)] for n, content in files.items()})
    applied = []
    for node, paths in sorted(changed.items()):
        if paths:
            apply = (
                f"systemctl restart {POD_NETWORK_UNIT} && journalctl -q -o cat -n 40 -t {POD_NETWORK_UNIT} --since=-30s"
            )
            said = _run_on(cctx, node, apply, "applying the pod network")
            applied.append(node)
            for line in said.strip().splitlines()[-3:]:
                ctx.progress.update(f"kubernetes: {node}: {line}")
    return applied


def _csr_names(pem: bytes) -> tuple[set[str], set[str]]:
    req = x509.load_pem_x509_csr(pem)
    try:
        san = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(san.get_values_for_type(x509.DNSName)), {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def serving_request_problem(username: str, pem: bytes, allowed: dict[str, set[str]]) -> str | None:
    """Why a kubelet serving-certificate request must not be approved (None: approve). It must
    come from a planned node and name only that node and its planned addresses."""
    node = username.removeprefix("system:node:")
    if not username.startswith("system:node:") or node not in allowed:
        return f"requested by {username}, not a planned node"
    dns, ips = _csr_names(pem)
    foreign = sorted((dns - {node}) | {i for i in ips if i not in allowed[node]})
    if foreign:
        return f"{node} asks for names that are not its own: {', '.join(foreign)}"
    if not ips:
        return f"{node} asks for no address"
    return None


def approve_serving_certificates(ctx: Context, hosts: list[dict[str, Any]], cluster: kchecks.Cluster) -> list[str]:
    planned = {str(h["name"]): str(h["management_address"]) for h in ctx.plan.data["hosts"]}
    allowed: dict[str, set[str]] = {}
    for h in hosts:
        addrs = {str(h.get("address", "")), str(h.get("storage_address", "")), planned.get(str(h["name"]), "")}
        allowed[str(h["name"])] = {a for a in addrs if a and _is_ip(a)}
    approved = []
    for csr in cluster.certificates.list_certificate_signing_request().items:
        if csr.spec.signer_name != KUBELET_SERVING or (csr.status and csr.status.conditions):
            continue
        problem = serving_request_problem(csr.spec.username, base64.b64decode(csr.spec.request), allowed)
        if problem:
            ctx.progress.update(f"kubernetes: left {csr.metadata.name} unapproved: {problem}")
            continue
        csr.status = client.V1CertificateSigningRequestStatus(
            conditions=[
                client.V1CertificateSigningRequestCondition(
                    type="Approved",
                    status="True",
                    reason="SovplatformApproved",
                    message="names only the node's own name and planned addresses",
                )
            ]
        )
        try:
            cluster.certificates.replace_certificate_signing_request_approval(csr.metadata.name, csr)
            approved.append(csr.metadata.name)
        except ApiException as exc:
            ctx.progress.update(f"kubernetes: approving {csr.metadata.name} failed: HTTP {exc.status}")
    return approved


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def spread_dns(cluster: kchecks.Cluster, sites: list[str]) -> bool:
    """One CoreDNS replica per site, spread by zone, and at most one down at a time by choice:
    kubeadm's default (two replicas, spread only over hosts) can put both in one site, and DNS
    would go with it. Returns whether the Deployment changed (a second run changes nothing)."""
    before = cluster.apps.read_namespaced_deployment("coredns", "kube-system")
    patch = {
        "spec": {
            "replicas": max(len(sites), 2),
            "template": {
                "spec": {
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": ZONE_LABEL,
                            # A lost site must not keep its replica from starting elsewhere.
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ]
                }
            },
        }
    }
    after = cluster.apps.patch_namespaced_deployment("coredns", "kube-system", patch)
    budget = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="coredns", namespace="kube-system"),
        spec=client.V1PodDisruptionBudgetSpec(
            max_unavailable=1, selector=client.V1LabelSelector(match_labels={"k8s-app": "kube-dns"})
        ),
    )
    policy = client.PolicyV1Api(cluster.api)
    try:
        policy.read_namespaced_pod_disruption_budget("coredns", "kube-system")
        made = False
    except ApiException as exc:
        if exc.status != 404:
            raise
        policy.create_namespaced_pod_disruption_budget("kube-system", budget)
        made = True
    return made or after.metadata.generation != before.metadata.generation


def wait_ready(ctx: Context, cluster: kchecks.Cluster, timeout: float = READY_TIMEOUT_S) -> float:
    plan = ctx.plan.data

    def ready() -> tuple[bool, str]:
        rows = kchecks.node_checks(plan, cluster.core.list_node().items)
        bad = [f"{c.name}: {c.detail}" for c in rows if not c.ok]
        try:
            dep = cluster.apps.read_namespaced_deployment("coredns", "kube-system")
            want, have = dep.spec.replicas or 0, dep.status.available_replicas or 0
            if have < want or want == 0:
                bad.append(f"CoreDNS {have}/{want} available")
        except ApiException as exc:
            bad.append(f"CoreDNS: HTTP {exc.status}")
        return not bad, "; ".join(bad)

    return _wait("until every node is Ready and CoreDNS serves", ready, timeout, ctx)


def converge(ctx: Context, hosts: list[dict[str, Any]], inventory: Path, extravars: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    cctx = _cctx(ctx, hosts)
    kube_vars = {**extravars, "sov_kube_plan_dir": str(ctx.state / "plan" / "kubernetes")}
    t = time.monotonic()
    detail["keys_shipped_to"] = ship_keys(ctx, hosts)
    changed = _play(ctx, inventory, kube_vars, kube_control_plane_join=False, kube_worker_join=False)
    detail["init_pass_s"] = round(time.monotonic() - t, 1)
    first = kchecks.control_nodes(ctx.plan.data)[0]
    _run_on(
        cctx,
        first,
        f"kubectl --kubeconfig {kchecks.ADMIN_CONF} apply --server-side --field-manager=sovplatform -f - "
        "| grep -v ' serverside-applied$' || true",
        "granting the controller's service account",
        data=CONTROLLER_ACCESS.encode(),
    )
    t = time.monotonic()
    detail["joined"] = ship_join_credentials(ctx, hosts, cctx)
    if detail["joined"]:
        ctx.progress.update(f"kubernetes: joining {', '.join(detail['joined'])}")
    changed += _play(
        ctx, inventory, kube_vars, tags="control-plane,worker", kube_control_plane_join=True, kube_worker_join=True
    )
    detail["join_pass_s"] = round(time.monotonic() - t, 1)
    try:
        with kchecks.connect(cctx, prefer=[first]) as cluster:
            detail["pod_network_applied_on"] = apply_pod_network(ctx, hosts, cctx, cluster)
            detail["serving_certificates_approved"] = approve_serving_certificates(ctx, hosts, cluster)
            sites = sorted({str(h["site"]) for h in kchecks.kube_nodes(ctx.plan.data)})
            detail["dns_spread_changed"] = spread_dns(cluster, sites)
            detail["ready_after_s"] = wait_ready(ctx, cluster)
            # Kubelets that started late ask for their serving certificate after the first round.
            detail["serving_certificates_approved"] += approve_serving_certificates(ctx, hosts, cluster)
    except kchecks.NoAPI as exc:
        raise OperationError([f"kubernetes: no control-plane node answered: {exc}"]) from None
    detail["changed"] = (
        changed + len(detail["keys_shipped_to"]) + len(detail["joined"]) + len(detail["pod_network_applied_on"])
    )
    return detail
