"""Upstream artefacts of the Kubernetes layer's add-ons: files fetched from their release pages,
and the container images they run. Kubernetes itself, the runtime, CNI plugins, crictl, CoreDNS
and pause are built from pinned source instead (plan/source_catalog.py).

Every sha256 below is the one upstream publishes for that file, as recorded in Kubespray's
checksum list (kubernetes-sigs/kubespray, roles/kubespray_defaults/vars/main/checksums.yml at
commit 005bdce7f1867958838a2d0bb4f7e67893d98f64). Where no published checksum could be found, sha256 is
None and ``note`` says why: `sovplatform mirror build` then reports the file as missing instead
of publishing it unchecked. Never fill one in without downloading the file from upstream.

The hosts are x86_64 (amd64) only, like the rest of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from sovplatform.plan.source_catalog import CONTROL, NODE_ROLES, STACKS, stack

NO_PUBLISHED_SUM = "upstream publishes no sha256 for this file; pin one after a reviewed download"
IMAGES_NOT_MIRRORED = "upstream add-on image, not built from source yet; preload it into the site's registry by digest"


# Kubernetes releases the catalogue can build, with their companion versions.
KUBERNETES_STACK = STACKS


@dataclass(frozen=True)
class RemoteFile:
    name: str  # logical name in the artefact store (files/<name>/<version>/<file>)
    version: str
    url: str
    sha256: str | None
    roles: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Image:
    name: str
    ref: str  # registry/repository:tag
    roles: tuple[str, ...]


# Add-ons the layer runs on top of kubeadm's cluster. Their files and images are still fetched
# from upstream (not built here yet), so an air-gapped site supplies them in a bundle.
CALICO_VERSION = "3.30.6"
CALICO_SUMS = {"3.30.6": "b0eb83f6d70afac27e8830f22642cd12b0692e4d1a1b5060caa9231a951e736a"}

METRICS_SERVER_VERSION = "0.8.0"
FLUENT_BIT_VERSION = "4.0.3"


def remote_files(versions: dict[str, str]) -> list[RemoteFile]:
    """Upstream files of the layer's add-ons (the Kubernetes binaries and runtime themselves are
    built from source: plan/source_catalog.py). Empty for an uncatalogued Kubernetes release."""
    if stack(versions.get("kubernetes", "")) is None:
        return []
    gh = "https://github.com"
    digest = CALICO_SUMS.get(CALICO_VERSION)
    out = [
        # The Calico source archive (Kubespray's calico_crds); its manifests/calico-vxlan.yaml is applied.
        RemoteFile(
            "calico",
            CALICO_VERSION,
            f"{gh}/projectcalico/calico/archive/v{CALICO_VERSION}.tar.gz",
            digest,
            CONTROL,
            "" if digest else NO_PUBLISHED_SUM,
        )
    ]
    csi, kv, cdi = versions["ceph_csi"], versions["kubevirt"], versions["cdi"]
    unsummed = [
        ("ceph-csi", csi, f"{gh}/ceph/ceph-csi/archive/refs/tags/v{csi}.tar.gz"),
        ("kubevirt-operator", kv, f"{gh}/kubevirt/kubevirt/releases/download/v{kv}/kubevirt-operator.yaml"),
        ("kubevirt-cr", kv, f"{gh}/kubevirt/kubevirt/releases/download/v{kv}/kubevirt-cr.yaml"),
        ("cdi-operator", cdi, f"{gh}/kubevirt/containerized-data-importer/releases/download/v{cdi}/cdi-operator.yaml"),
        ("cdi-cr", cdi, f"{gh}/kubevirt/containerized-data-importer/releases/download/v{cdi}/cdi-cr.yaml"),
        (
            "metrics-server",
            METRICS_SERVER_VERSION,
            f"{gh}/kubernetes-sigs/metrics-server/releases/download/v{METRICS_SERVER_VERSION}/components.yaml",
        ),
    ]
    out.extend(RemoteFile(name, version, url, None, CONTROL, NO_PUBLISHED_SUM) for name, version, url in unsummed)
    return out


def images(versions: dict[str, str]) -> list[Image]:
    """Upstream container images of the add-ons (Calico, ceph-csi, metrics, logs, KubeVirt, CDI).
    kubeadm's own images are built from source (plan/source_catalog.py)."""
    if stack(versions.get("kubernetes", "")) is None:
        return []
    k = "registry.k8s.io"
    cal = f"quay.io/calico/{{}}:v{CALICO_VERSION}"
    kv, cdi, csi = versions["kubevirt"], versions["cdi"], versions["ceph_csi"]
    refs: list[tuple[str, str, tuple[str, ...]]] = [
        ("calico-node", cal.format("node"), NODE_ROLES),
        ("calico-cni", cal.format("cni"), NODE_ROLES),
        ("calico-kube-controllers", cal.format("kube-controllers"), NODE_ROLES),
        ("metrics-server", f"{k}/metrics-server/metrics-server:v{METRICS_SERVER_VERSION}", NODE_ROLES),
        ("fluent-bit", f"cr.fluentbit.io/fluent/fluent-bit:{FLUENT_BIT_VERSION}", NODE_ROLES),
        ("cephcsi", f"quay.io/cephcsi/cephcsi:v{csi}", NODE_ROLES),
        ("csi-provisioner", f"{k}/sig-storage/csi-provisioner:v5.2.0", NODE_ROLES),
        ("csi-attacher", f"{k}/sig-storage/csi-attacher:v4.8.1", NODE_ROLES),
        ("csi-resizer", f"{k}/sig-storage/csi-resizer:v1.13.2", NODE_ROLES),
        ("csi-snapshotter", f"{k}/sig-storage/csi-snapshotter:v8.2.1", NODE_ROLES),
        ("csi-node-driver-registrar", f"{k}/sig-storage/csi-node-driver-registrar:v2.13.0", NODE_ROLES),
    ]
    refs += [
        (f"virt-{c}", f"quay.io/kubevirt/virt-{c}:v{kv}", NODE_ROLES)
        for c in ("operator", "api", "controller", "handler", "launcher", "exportproxy", "exportserver")
    ]
    refs += [
        (f"cdi-{c}", f"quay.io/kubevirt/cdi-{c}:v{cdi}", NODE_ROLES)
        for c in ("operator", "controller", "apiserver", "uploadproxy", "importer", "cloner", "uploadserver")
    ]
    return [Image(name, ref, roles) for name, ref, roles in refs]
