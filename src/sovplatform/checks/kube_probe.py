"""Pods that look at the cluster from the inside: DNS and pod-to-pod traffic across the sites.

One short-lived pod per site (pinned there by its zone label, tolerating any taint) runs a
shell script in the kube-proxy image, which every node already holds (the DaemonSet pulled it
from the mirror's registry): it resolves the API's service name through the cluster DNS, then
opens TCP to the health port of every CoreDNS pod, wherever it runs. CoreDNS is spread one
replica per site, so together the probes cover pod-to-pod traffic between every pair of sites,
over the VXLAN overlay and the WAN. The pods are deleted afterwards, whatever happened.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from sovplatform.checks.model import Check
from sovplatform.plan.inventory import ZONE_LABEL

NAMESPACE = "sovplatform-verify"
DNS_NAME = "kubernetes.default.svc.cluster.local"
HEALTH_PORT = 8080  # CoreDNS's health plugin (kubeadm's Corefile)
WAIT_S = 90.0

SCRIPT = f"""
set -u
if getent hosts {DNS_NAME} >/dev/null; then echo "dns ok"; else echo "dns fail"; fi
for t in $TARGETS; do
  if timeout 5 bash -c "exec 3<>/dev/tcp/$t/{HEALTH_PORT}; printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3" \\
      | grep -q '^OK'; then
    echo "reach $t ok"
  else
    echo "reach $t fail"
  fi
done
"""


@dataclass(frozen=True)
class Seen:
    """What one site's probe said: DNS answered, and which CoreDNS pod IPs it reached."""

    dns: bool
    reached: dict[str, bool]


def parse(log: str) -> Seen:
    dns = False
    reached: dict[str, bool] = {}
    for line in log.splitlines():
        words = line.split()
        if words[:1] == ["dns"]:
            dns = words[-1] == "ok"
        elif len(words) == 3 and words[0] == "reach":
            reached[words[1]] = words[2] == "ok"
    return Seen(dns, reached)


def judge(sites: list[str], targets: dict[str, str], seen: dict[str, Seen | str]) -> list[Check]:
    """targets: CoreDNS pod IP -> its site. Two rows: DNS from every site, and every site
    reaching every CoreDNS pod (every pair of sites when CoreDNS runs in each)."""
    dns_bad, net_bad, pairs = [], [], set()
    for site in sites:
        said = seen.get(site, "no probe ran")
        if isinstance(said, str):
            dns_bad.append(f"{site}: {said}")
            net_bad.append(f"{site}: {said}")
            continue
        if not said.dns:
            dns_bad.append(f"{site}: {DNS_NAME} did not resolve")
        for ip, where in sorted(targets.items()):
            if said.reached.get(ip):
                pairs.add((site, where))
            else:
                net_bad.append(f"{site} -> {ip} ({where}) failed")
    covered = sorted({w for w in targets.values()})
    missing_sites = [s for s in sites if s not in covered]
    dns = Check(
        "kubernetes",
        "dns resolves in pods",
        not dns_bad,
        "; ".join(dns_bad) or f"{DNS_NAME} resolves from a pod in every site ({', '.join(sites)})",
    )
    if missing_sites:
        net_bad.append(f"no CoreDNS pod runs in {', '.join(missing_sites)}: pairs to it are not tested")
    detail = "; ".join(net_bad) or (
        f"{len(pairs)} site pair(s) pod-to-pod over the overlay: " + ", ".join(f"{a}->{b}" for a, b in sorted(pairs))
    )
    return [dns, Check("kubernetes", "pod network across sites", not net_bad, detail)]


def _pod(name: str, site: str, image: str, targets: list[str]) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/name": "sovplatform-probe"}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            node_selector={ZONE_LABEL: site},
            tolerations=[client.V1Toleration(operator="Exists")],
            termination_grace_period_seconds=0,
            automount_service_account_token=False,
            containers=[
                client.V1Container(
                    name="probe",
                    image=image,
                    image_pull_policy="IfNotPresent",
                    command=["bash", "-c", SCRIPT],
                    env=[client.V1EnvVar(name="TARGETS", value=" ".join(targets))],
                )
            ],
        ),
    )


def _ensure_namespace(core: client.CoreV1Api) -> None:
    try:
        core.read_namespace(NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))


def run(core: client.CoreV1Api, apps: client.AppsV1Api, sites: list[str]) -> list[Check]:
    image = apps.read_namespaced_daemon_set("kube-proxy", "kube-system").spec.template.spec.containers[0].image
    nodes = {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL, "") for n in core.list_node().items}
    targets = {
        p.status.pod_ip: nodes.get(p.spec.node_name, "?")
        for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
        if p.status.pod_ip and p.status.phase == "Running"
    }
    _ensure_namespace(core)
    suffix = secrets.token_hex(3)
    names = {site: f"probe-{site}-{suffix}"[:63].lower() for site in sites}
    seen: dict[str, Seen | str] = {}
    try:
        for site, name in names.items():
            core.create_namespaced_pod(NAMESPACE, _pod(name, site, image, sorted(targets)))
        deadline = time.monotonic() + WAIT_S
        pending = dict(names)
        while pending and time.monotonic() < deadline:
            for site, name in list(pending.items()):
                phase = core.read_namespaced_pod(name, NAMESPACE).status.phase
                if phase in ("Succeeded", "Failed"):
                    seen[site] = parse(core.read_namespaced_pod_log(name, NAMESPACE))
                    del pending[site]
            time.sleep(1)
        for site, name in pending.items():
            phase = core.read_namespaced_pod(name, NAMESPACE).status.phase
            seen[site] = f"probe pod still {phase} after {WAIT_S:.0f} s"
    finally:
        for name in names.values():
            with contextlib.suppress(ApiException):
                core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)
    return judge(sites, targets, seen)
