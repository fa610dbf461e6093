"""The Kubernetes layer, validated statically: every rendered manifest against the schema of the
pinned Kubernetes version (kubernetes-validate), KubeVirt/CDI objects against KubeVirt's
published API (tests/data/schemas), kubeadm/kubelet/encryption/audit configs against schemas
written from the upstream Go types, and checkov over the manifests. Each validator is also shown
to reject a broken object, so a pass means something.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from sovplatform.blueprint import load_blueprint
from sovplatform.plan.build import build_plan, render_files
from sovplatform.plan.kube_files import documents, network_problems

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests/data/schemas"
BLUEPRINTS = ["lab-3dc", "odc-reference"]
K8S_SCHEMA_VERSION = "1.36.0"  # kubernetes-validate names schemas by minor release
CORE_GROUPS = (
    "v1",
    "apps/v1",
    "storage.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "discovery.k8s.io/v1",
    "networking.k8s.io/v1",
)


@cache
def _plan(name: str) -> Any:
    return build_plan(load_blueprint(ROOT / "blueprints" / f"{name}.yaml"))


@cache
def _docs(name: str) -> dict[str, list[dict[str, Any]]]:
    plan = _plan(name)
    return documents(plan.data, plan.inventory)


def _all(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(path, d) for path, docs in sorted(_docs(name).items()) for d in docs]


def _kind(name: str, kind: str) -> list[dict[str, Any]]:
    return [d for _, d in _all(name) if d.get("kind") == kind]


@cache
def _schema(file_name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / file_name).read_text())


def _check(schema: dict[str, Any], doc: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(schema).validate(doc)


def _kubeadm(kind: str) -> dict[str, Any]:
    base = _schema("kubeadm.k8s.io-v1beta4.json")
    return {**base, "$ref": f"#/definitions/{kind}"}


def test_the_pinned_kubernetes_version_has_a_schema() -> None:
    pinned = _plan("lab-3dc").data["versions"]["kubernetes"]
    assert pinned.rsplit(".", 1)[0] + ".0" == K8S_SCHEMA_VERSION


@pytest.mark.parametrize("name", BLUEPRINTS)
def test_every_core_manifest_is_valid_for_the_pinned_kubernetes(name: str) -> None:
    core = [(p, d) for p, d in _all(name) if d.get("apiVersion") in CORE_GROUPS]
    assert len(core) >= 15
    for _path, doc in core:
        kubernetes_validate.validate(doc, K8S_SCHEMA_VERSION, strict=True)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda sc: sc.update(volumeBindingMode=5),  # wrong type
        lambda sc: sc.update(reclaimPolicyy="Delete"),  # unknown field (strict)
        lambda sc: sc["metadata"].update(name=["not", "a", "string"]),
    ],
)
def test_kubernetes_validate_rejects_a_broken_manifest(break_it: Any) -> None:
    sc = copy.deepcopy(_kind("lab-3dc", "StorageClass")[0])
    break_it(sc)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sc, K8S_SCHEMA_VERSION, strict=True)


@pytest.mark.parametrize(
    ("kind", "schema"),
    [
        ("VirtualMachine", "kubevirt.io-v1-VirtualMachine.json"),
        ("KubeVirt", "kubevirt.io-v1-KubeVirt.json"),
        ("CDI", "cdi.kubevirt.io-v1beta1-CDI.json"),
    ],
)
@pytest.mark.parametrize("name", BLUEPRINTS)
def test_kubevirt_objects_match_kubevirts_api(name: str, kind: str, schema: str) -> None:
    objects = _kind(name, kind)
    assert objects
    for doc in objects:
        _check(_schema(schema), doc)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda vm: vm["spec"].update(runStrategyy="Always"),
        lambda vm: vm["spec"]["template"]["spec"].update(evictionStrategy=["LiveMigrate"]),
        lambda vm: vm["spec"]["dataVolumeTemplates"][0]["spec"]["storage"].update(accessModes=["ReadWriteAll"]),
        lambda vm: vm["spec"].pop("template"),
    ],
)
def test_the_kubevirt_schema_rejects_a_broken_vm(break_it: Any) -> None:
    vm = copy.deepcopy(_kind("lab-3dc", "VirtualMachine")[0])
    break_it(vm)
    with pytest.raises(jsonschema.ValidationError):
        _check(_schema("kubevirt.io-v1-VirtualMachine.json"), vm)


def test_the_vm_survives_node_and_site_loss_by_design() -> None:
    (vm,) = _kind("odc-reference", "VirtualMachine")
    spec = vm["spec"]
    assert spec["runStrategy"] == "Always"
    tmpl = spec["template"]["spec"]
    assert tmpl["evictionStrategy"] == "LiveMigrate"
    (spread,) = tmpl["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    storage = spec["dataVolumeTemplates"][0]["spec"]["storage"]
    assert storage["accessModes"] == ["ReadWriteMany"] and storage["volumeMode"] == "Block"
    classes = {sc["metadata"]["name"]: sc for sc in _kind("odc-reference", "StorageClass")}
    assert storage["storageClassName"] in classes


def test_exactly_one_default_storage_class_and_every_class_encrypts_with_openbao() -> None:
    classes = _kind("odc-reference", "StorageClass")
    defaults = [
        c for c in classes if c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    ]
    assert len(defaults) == 1
    (kms_map,) = [
        c for c in _kind("odc-reference", "ConfigMap") if c["metadata"]["name"] == "ceph-csi-encryption-kms-config"
    ]
    kms = json.loads(kms_map["data"]["config.json"])
    for c in classes:
        assert c["parameters"]["encrypted"] == "true"
        entry = kms[c["parameters"]["encryptionKMSID"]]
        # Only the `volumes` consumer's path in the platform OpenBao (operations/openbao.py policy).
        assert entry["vaultBackend"] == "kv-v2" and entry["vaultBackendPath"].startswith("kv/volumes")
        assert entry["vaultCAVerify"] == "true"


def test_ceph_csi_knows_every_monitor() -> None:
    plan = _plan("odc-reference")
    (cfg,) = [c for c in _kind("odc-reference", "ConfigMap") if c["metadata"]["name"] == "ceph-csi-config"]
    (cluster,) = json.loads(cfg["data"]["config.json"])
    hv = plan.inventory["all"]["hosts"]
    assert cluster["monitors"] == [
        f"{hv[m]['sov_storage_address']}:6789" for m in plan.data["quorums"]["ceph_mon"]["members"]
    ]
    assert all(sc["parameters"]["clusterID"] == cluster["clusterID"] for sc in _kind("odc-reference", "StorageClass"))


@pytest.mark.parametrize("name", BLUEPRINTS)
def test_kubeadm_configs_match_the_v1beta4_types(name: str) -> None:
    plan = _plan(name)
    control = [h["name"] for h in plan.data["hosts"] if "control" in h["roles"]]
    for path, docs in _docs(name).items():
        if not path.startswith("kubeadm/") or path.startswith("kubeadm/patches/"):
            continue
        for doc in docs:
            own = {
                "KubeletConfiguration": "kubelet.config.k8s.io-v1beta1-KubeletConfiguration.json",
                "KubeProxyConfiguration": "kubeproxy.config.k8s.io-v1alpha1-KubeProxyConfiguration.json",
            }
            _check(_schema(own[doc["kind"]]) if doc["kind"] in own else _kubeadm(doc["kind"]), doc)
        kinds = [d["kind"] for d in docs]
        host = path.removeprefix("kubeadm/").removesuffix(".yaml")
        first = ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
        if plan.data["substrate"] == "lab":
            first.append("KubeProxyConfiguration")
        assert kinds == (first if host == control[0] else ["JoinConfiguration"])


def test_kubeadm_uses_our_external_etcd_with_client_tls_and_labels_each_node_with_its_site() -> None:
    plan = _plan("odc-reference")
    hv = plan.inventory["all"]["hosts"]
    (cluster,) = _kind("odc-reference", "ClusterConfiguration")
    ext = cluster["etcd"]["external"]
    members = plan.data["quorums"]["etcd"]["members"]
    assert ext["endpoints"] == [f"https://{hv[m]['sov_management_address']}:2379" for m in members]
    assert {ext["caFile"], ext["certFile"], ext["keyFile"]} == {
        "/etc/sovplatform/pki/ca.crt",
        "/etc/sovplatform/pki/host.crt",
        "/etc/sovplatform/pki/host.key",
    }
    assert cluster["controlPlaneEndpoint"] == "127.0.0.1:7443"  # per-node HAProxy, no VIP
    for path, docs in _docs("odc-reference").items():
        if path.startswith("kubeadm/"):
            host = path.removeprefix("kubeadm/").removesuffix(".yaml")
            args = {a["name"]: a["value"] for a in docs[0]["nodeRegistration"]["kubeletExtraArgs"]}
            assert args["node-labels"] == (
                f"topology.kubernetes.io/region={hv[host]['sov_region']},topology.kubernetes.io/zone={hv[host]['sov_site']}"
            )


def test_lab_kubelets_use_cgroupfs_on_cgroup_v1_each_under_a_root_of_its_own() -> None:
    """Lab hosts are nspawn containers on a cgroup v1 machine (docs/kubernetes.md); real sites
    keep the systemd driver and refuse cgroup v1."""
    (lab,) = _kind("lab-3dc", "KubeletConfiguration")
    (metal,) = _kind("odc-reference", "KubeletConfiguration")
    assert (lab["cgroupDriver"], lab["failCgroupV1"]) == ("cgroupfs", False)
    assert metal["cgroupDriver"] == "systemd" and "failCgroupV1" not in metal
    assert "nodefs.available" not in metal.get("evictionHard", {})  # upstream's percentages
    schema = _schema("kubelet.config.k8s.io-v1beta1-KubeletConfiguration.json")
    patches = {p: d for p, d in _docs("lab-3dc").items() if p.startswith("kubeadm/patches/")}
    nodes = [h["name"] for h in _plan("lab-3dc").data["hosts"] if {"control", "compute"} & set(h["roles"])]
    assert sorted(patches) == sorted(f"kubeadm/patches/{n}/kubeletconfiguration+merge.yaml" for n in nodes)
    roots = {d[0]["cgroupRoot"] for d in patches.values()}
    assert len(roots) == len(nodes)  # never two kubelets under one root
    for (doc,) in patches.values():
        _check(schema, {**lab, **doc})
    assert not [p for p in _docs("odc-reference") if p.startswith("kubeadm/patches/")]


def test_lab_nodes_skip_only_the_cgroup_v1_verification_and_kube_proxy_leaves_conntrack_alone() -> None:
    """Measured on a lab host (docs/kubernetes.md): kubeadm's system verification fails on cgroup
    v1 and kube-proxy may not write the machine's nf_conntrack_max. Real sites skip nothing."""
    for path, docs in _docs("lab-3dc").items():
        if path.startswith("kubeadm/") and not path.startswith("kubeadm/patches/"):
            assert docs[0]["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"], path
    (proxy,) = _kind("lab-3dc", "KubeProxyConfiguration")
    assert proxy["conntrack"] == {"maxPerCore": 0}
    for path, docs in _docs("odc-reference").items():
        if path.startswith("kubeadm/"):
            assert "ignorePreflightErrors" not in docs[0]["nodeRegistration"], path
    assert not _kind("odc-reference", "KubeProxyConfiguration")
    broken = {**proxy, "conntrack": {"maxPercore": 0}}
    with pytest.raises(jsonschema.ValidationError):
        _check(_schema("kubeproxy.config.k8s.io-v1alpha1-KubeProxyConfiguration.json"), broken)


def test_kubeadm_schema_rejects_v1beta3_style_extra_args_and_unknown_fields() -> None:
    (cluster,) = _kind("lab-3dc", "ClusterConfiguration")
    old = copy.deepcopy(cluster)
    old["apiServer"]["extraArgs"] = {"profiling": "false"}  # a map was v1beta3; v1beta4 wants a list
    with pytest.raises(jsonschema.ValidationError):
        _check(_kubeadm("ClusterConfiguration"), old)
    typo = copy.deepcopy(cluster)
    typo["etcd"]["external"]["certfile"] = typo["etcd"]["external"].pop("certFile")
    with pytest.raises(jsonschema.ValidationError):
        _check(_kubeadm("ClusterConfiguration"), typo)


def test_secrets_are_encrypted_through_kms_v2_with_identity_only_as_read_fallback() -> None:
    (enc,) = _kind("lab-3dc", "EncryptionConfiguration")
    schema = _schema("apiserver.config.k8s.io-v1-EncryptionConfiguration.json")
    _check(schema, enc)
    (rule,) = enc["resources"]
    assert rule["resources"] == ["secrets"]
    first, last = rule["providers"][0], rule["providers"][-1]
    assert first["kms"]["apiVersion"] == "v2" and last == {"identity": {}}
    broken = copy.deepcopy(enc)
    broken["resources"][0]["providers"][0]["identity"] = {}  # two providers in one entry
    with pytest.raises(jsonschema.ValidationError):
        _check(schema, broken)
    (cluster,) = _kind("lab-3dc", "ClusterConfiguration")
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args["encryption-provider-config"] == "/etc/kubernetes/encryption/config.yaml"


def test_apiserver_liveness_excludes_the_kms_check() -> None:
    patch = _docs("lab-3dc")["control-plane/patches/kube-apiserver+strategic.yaml"][0]
    (container,) = patch["spec"]["containers"]
    assert container["name"] == "kube-apiserver"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez?exclude=kms-providers"


def test_audit_policy_matches_the_audit_v1_types() -> None:
    (policy,) = [d for _, d in _all("lab-3dc") if d.get("kind") == "Policy"]
    _check(_schema("audit.k8s.io-v1-Policy.json"), policy)
    assert {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]} in policy[
        "rules"
    ]


@pytest.mark.parametrize("name", BLUEPRINTS)
def test_site_networks_do_not_clash_with_the_cluster_networks(name: str) -> None:
    assert network_problems(_plan(name).data) == []
    data = copy.deepcopy(_plan(name).data)
    data["sites"][0]["management"]["cidr"] = "10.100.0.0/24"
    site = data["sites"][0]["name"]
    assert network_problems(data) == [
        f"sites.{site}.management: 10.100.0.0/24 overlaps the Kubernetes service network 10.96.0.0/12"
    ]


def test_plan_writes_what_the_roles_apply_and_is_deterministic() -> None:
    files = render_files(_plan("lab-3dc"))
    again = render_files(build_plan(load_blueprint(ROOT / "blueprints/lab-3dc.yaml")))
    assert files == again
    yaml = YAML(typ="safe", pure=True)
    for path, docs in _docs("lab-3dc").items():
        assert list(yaml.load_all(files[f"kubernetes/{path}"].decode())) == docs


CHECKOV_SKIPS = {
    # Graph check: checkov pairs a pod with a NetworkPolicy only when the policy selects every one
    # of the pod's labels; ours (fluent-bit in logging.yaml) selects the app.kubernetes.io/name one.
    "CKV2_K8S_6": "NetworkPolicy present, matched on a subset of the pod labels",
}
NEGATIVE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bad", "namespace": "default"},
    "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
}


def test_checkov_finds_nothing_unjustified_in_the_manifests(tmp_path: Path) -> None:
    ours = tmp_path / "manifests"
    ours.mkdir()
    yaml = YAML(typ="safe", pure=True)
    for path, docs in _docs("odc-reference").items():
        if path.startswith("manifests/"):
            with (ours / Path(path).name).open("w") as fh:
                yaml.dump_all(docs, fh)
    negative = tmp_path / "negative"
    negative.mkdir()
    with (negative / "privileged.yaml").open("w") as fh:
        yaml.dump(NEGATIVE_POD, fh)
    checkov = Path(sys.executable).parent / "checkov"
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
            "--skip-download",
            "-o",
            "json",
            "--skip-check",
            ",".join(sorted(CHECKOV_SKIPS)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f for r in reports for f in r["results"]["failed_checks"]]
    ours_failed = [f"{f['check_id']} {f['resource']}" for f in failed if f["file_path"].startswith("/manifests/")]
    assert ours_failed == []
    negative_failed = {f["check_id"] for f in failed if f["file_path"].startswith("/negative/")}
    assert "CKV_K8S_16" in negative_failed  # privileged container: the scan does find things
