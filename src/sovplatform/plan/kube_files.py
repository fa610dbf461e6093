"""Every Kubernetes configuration file and manifest of a plan, as documents and as files.

`sovplatform plan` writes them under kubernetes/ in the plan directory; the kube_* roles copy
them to the hosts unchanged, so what the tests validate is exactly what is applied.
"""

from __future__ import annotations

import uuid
from ipaddress import IPv4Network
from typing import Any

from sovplatform.plan import kube_cluster as kc
from sovplatform.plan import kube_workloads as kw
from sovplatform.plan.kube_catalog import FLUENT_BIT_VERSION, KUBERNETES_STACK

Documents = dict[str, list[dict[str, Any]]]


# Ansible's to_uuid filter namespace: the ceph_common role derives the fsid with
# `('sovplatform/ceph/' ~ sov_platform) | to_uuid`, and both sides must agree.
ANSIBLE_UUID_NAMESPACE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")


def ceph_fsid(platform: str) -> str:
    """The Ceph cluster's fsid, fixed by the platform name so ceph-csi's clusterID is known at
    plan time (the ceph_common role bootstraps its monitors with the same value)."""
    return str(uuid.uuid5(ANSIBLE_UUID_NAMESPACE, f"sovplatform/ceph/{platform}"))


def _hostvars(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(inventory["all"]["hosts"])


def documents(data: dict[str, Any], inventory: dict[str, Any]) -> Documents:
    """Relative path -> YAML documents. Empty when the platform has no control-plane hosts or
    pins a Kubernetes release the catalogue does not carry."""
    versions = data["versions"]
    if versions.get("kubernetes") not in KUBERNETES_STACK:
        return {}
    hv = _hostvars(inventory)
    control = [h["name"] for h in data["hosts"] if "control" in h["roles"]]
    nodes = [h["name"] for h in data["hosts"] if {"control", "compute"} & set(h["roles"])]
    if not control:
        return {}
    platform = data["platform"]
    substrate = data.get("substrate", "metal")
    etcd = [hv[m]["sov_management_address"] for m in data["quorums"]["etcd"]["members"]]
    out: Documents = {}
    cluster = kc.cluster_configuration(platform, versions["kubernetes"], etcd)
    for name in nodes:
        v = hv[name]
        addr, region, zone = v["sov_management_address"], v["sov_region"], v["sov_site"]
        if name == control[0]:
            docs = [
                kc.init_configuration(name, addr, region, zone, substrate),
                cluster,
                kc.kubelet_configuration(substrate),
            ]
            proxy = kc.kube_proxy_configuration(substrate)
            if proxy is not None:
                docs.append(proxy)
        else:
            docs = [kc.join_configuration(name, addr, region, zone, control=name in control, substrate=substrate)]
        out[f"kubeadm/{name}.yaml"] = docs
        patch = kc.kubelet_node_patch(name, substrate)
        if patch is not None:
            out[f"kubeadm/patches/{name}/{kc.KUBELET_PATCH_FILE}"] = [patch]
    out["control-plane/encryption-config.yaml"] = [kc.encryption_configuration()]
    out["control-plane/audit-policy.yaml"] = [kc.audit_policy()]
    out["control-plane/patches/kube-apiserver+strategic.yaml"] = [kc.apiserver_liveness_patch()]

    voters = [hv[m]["sov_management_address"] for m in data["quorums"]["openbao"]["members"]]
    gateways = [hv[h["name"]]["sov_management_address"] for h in data["hosts"] if "gateway" in h["roles"]]
    out["manifests/platform-services.yaml"] = [
        kw.namespace(kw.PLATFORM_NS, kw.RESTRICTED),
        *kw.service_endpoints("openbao", voters, {"https": kw.OPENBAO_PORT}),
        *kw.service_endpoints("s3", gateways, {"https": kw.S3_PORT}),
    ]
    mons = [hv[m]["sov_storage_address"] for m in data["quorums"]["ceph_mon"]["members"]]
    rbd = next((p["name"] for p in data["pools"] if p["application"] == "rbd"), "rbd")
    out["manifests/storage.yaml"] = [
        kw.namespace(kw.CSI_NS, kw.PRIVILEGED),
        *kw.ceph_csi_config(ceph_fsid(platform), mons, rbd),
    ]
    out["manifests/kubevirt-cr.yaml"] = [kw.kubevirt_cr()]
    out["manifests/cdi-cr.yaml"] = [kw.cdi_cr()]
    out["manifests/vm-template.yaml"] = [kw.vm_template("example-vm", "default")]
    out["manifests/logging.yaml"] = [
        kw.namespace(kw.LOGGING_NS, kw.PRIVILEGED),
        *kw.log_shipping(platform, f"cr.fluentbit.io/fluent/fluent-bit:{FLUENT_BIT_VERSION}"),
    ]
    return out


def network_problems(data: dict[str, Any]) -> list[str]:
    """Site networks that clash with the cluster's pod or service range."""
    nets: dict[str, IPv4Network] = {}
    for site in data["sites"]:
        nets[f"sites.{site['name']}.management"] = IPv4Network(site["management"]["cidr"])
        if site.get("storage"):
            nets[f"sites.{site['name']}.storage"] = IPv4Network(site["storage"]["cidr"])
    return kc.overlap_problems(nets)
