"""Pinned artefacts of the Kubernetes layer: files fetched from their upstream release pages,
and the container images the layer runs.

Every sha256 below is the one upstream publishes for that file, as recorded in Kubespray's
checksum list (kubernetes-sigs/kubespray, roles/kubespray_defaults/vars/main/checksums.yml at
commit 005bdce7f1867958838a2d0bb4f7e67893d98f64), which copies them from the projects' own
release checksum files (dl.k8s.io/<version>/bin/linux/amd64/<binary>.sha256, the containerd,
runc, CNI and cri-tools release assets). Where no published checksum could be found, sha256 is
None and ``note`` says why: `sovplatform mirror build` then reports the file as missing instead
of publishing it unchecked. Never fill one in without downloading the file from upstream.

The hosts are x86_64 (amd64) only, like the rest of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_PUBLISHED_SUM = "upstream publishes no sha256 for this file; pin one after a reviewed download"
IMAGES_NOT_MIRRORED = (
    "container image: the mirror carries no OCI registry yet; preload it into the site's registry by digest"
)


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


# Companion versions that go with a Kubernetes minor release (runtime, CNI, tools). They are not
# blueprint inputs: changing Kubernetes picks the set tested with it.
KUBERNETES_STACK: dict[str, dict[str, str]] = {
    "1.33.8": {"runc": "1.3.4", "cni_plugins": "1.7.1", "crictl": "1.33.0", "calico": "3.30.6"},
}

NODE_ROLES = ("compute", "control")
CONTROL = ("control",)


def _k8s(version: str) -> list[RemoteFile]:
    base = f"https://dl.k8s.io/release/v{version}/bin/linux/amd64"
    sums = K8S_SUMS.get(version, {})
    return [
        RemoteFile(
            name,
            version,
            f"{base}/{name}",
            sums.get(name),
            roles,
            "" if sums.get(name) else NO_PUBLISHED_SUM,
        )
        for name, roles in (("kubeadm", NODE_ROLES), ("kubelet", NODE_ROLES), ("kubectl", NODE_ROLES))
    ]


K8S_SUMS: dict[str, dict[str, str]] = {
    "1.33.8": {
        "kubeadm": "8259af514dc3655e8abec1a69b637f31cce2ecb940a80ae4a268e5287890f009",
        "kubelet": "1caa69c5328cfa774218f75f0621a6f10a1b97e095af85015f468aeb8fdf956a",
        "kubectl": "7f9c3faab7c9f9cc3f318d49eb88efc60eb3b3a7ce9eee5feb39b1280e108a29",
    },
}

CONTAINERD_SUMS = {"1.7.24": "c42230baff057c606cd4eb9b71007fb8e2e55e951ad901f0ae0d96bc55ccf85e"}
RUNC_SUMS = {"1.3.4": "5966ca40b6187b30e33bfc299c5f1fe72e8c1aa01cf3fefdadf391668f47f103"}
CNI_SUMS = {"1.7.1": "1a28a0506bfe5bcdc981caf1a49eeab7e72da8321f1119b7be85f22621013098"}
CRICTL_SUMS = {"1.33.0": "8307399e714626e69d1213a4cd18c8dec3d0201ecdac009b1802115df8973f0f"}
# The Calico source archive (Kubespray's calico_crds); its manifests/calico-vxlan.yaml is applied.
CALICO_SUMS = {"3.30.6": "b0eb83f6d70afac27e8830f22642cd12b0692e4d1a1b5060caa9231a951e736a"}

# The KMS v2 plugin that speaks to OpenBao's transit engine (its API is Vault's).
KMS_PLUGIN_VERSION = "1.4.0"
METRICS_SERVER_VERSION = "0.8.0"
FLUENT_BIT_VERSION = "4.0.3"


def _pinned(table: dict[str, str], version: str) -> tuple[str | None, str]:
    digest = table.get(version)
    return digest, "" if digest else NO_PUBLISHED_SUM


def remote_files(versions: dict[str, str]) -> list[RemoteFile]:
    """Every file the Kubernetes layer needs for these blueprint versions (empty when the
    blueprint pins a Kubernetes release this catalogue does not know)."""
    k8s = versions.get("kubernetes", "")
    stack = KUBERNETES_STACK.get(k8s)
    if stack is None:
        return []
    out = _k8s(k8s)
    gh = "https://github.com"
    ctd = versions["containerd"]
    entries = [
        (
            "containerd",
            ctd,
            f"{gh}/containerd/containerd/releases/download/v{ctd}/containerd-static-{ctd}-linux-amd64.tar.gz",
            CONTAINERD_SUMS,
            NODE_ROLES,
        ),
        (
            "runc",
            stack["runc"],
            f"{gh}/opencontainers/runc/releases/download/v{stack['runc']}/runc.amd64",
            RUNC_SUMS,
            NODE_ROLES,
        ),
        (
            "cni-plugins",
            stack["cni_plugins"],
            f"{gh}/containernetworking/plugins/releases/download/v{stack['cni_plugins']}/"
            f"cni-plugins-linux-amd64-v{stack['cni_plugins']}.tgz",
            CNI_SUMS,
            NODE_ROLES,
        ),
        (
            "crictl",
            stack["crictl"],
            f"{gh}/kubernetes-sigs/cri-tools/releases/download/v{stack['crictl']}/"
            f"crictl-v{stack['crictl']}-linux-amd64.tar.gz",
            CRICTL_SUMS,
            NODE_ROLES,
        ),
        (
            "calico",
            stack["calico"],
            f"{gh}/projectcalico/calico/archive/v{stack['calico']}.tar.gz",
            CALICO_SUMS,
            CONTROL,
        ),
    ]
    for name, version, url, table, roles in entries:
        digest, note = _pinned(table, version)
        out.append(RemoteFile(name, version, url, digest, roles, note))
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
    """Container images the layer runs; kubeadm, Calico, ceph-csi, KubeVirt and CDI pull them."""
    k8s = versions.get("kubernetes", "")
    stack = KUBERNETES_STACK.get(k8s)
    if stack is None:
        return []
    k = "registry.k8s.io"
    cal = f"quay.io/calico/{{}}:v{stack['calico']}"
    kv, cdi, csi = versions["kubevirt"], versions["cdi"], versions["ceph_csi"]
    refs: list[tuple[str, str, tuple[str, ...]]] = [
        ("kube-apiserver", f"{k}/kube-apiserver:v{k8s}", CONTROL),
        ("kube-controller-manager", f"{k}/kube-controller-manager:v{k8s}", CONTROL),
        ("kube-scheduler", f"{k}/kube-scheduler:v{k8s}", CONTROL),
        ("kube-proxy", f"{k}/kube-proxy:v{k8s}", NODE_ROLES),
        ("coredns", f"{k}/coredns/coredns:v1.12.0", NODE_ROLES),
        ("pause", f"{k}/pause:3.10", NODE_ROLES),
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
