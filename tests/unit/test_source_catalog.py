"""The source catalogue against the committed wrapper modules (supply/go): every pinned
component can be built from what is in the repository, and nothing else is pinned."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from sovplatform.blueprint import BlueprintError, validate_text
from sovplatform.plan.source_catalog import STACKS, TOOLS, Component, all_components
from sovplatform.supply import sbom
from sovplatform.supply.images import write_layer
from tests.helpers import dump, lab_dict

ROOT = Path(__file__).resolve().parents[2]
GO_INSTALLED = (1, 26, 8)  # the newest Go a wrapper may ask for (builds run with GOTOOLCHAIN=local)


def _gomod(c: Component) -> str:
    return (ROOT / c.wrapper / "go.mod").read_text()


@pytest.mark.parametrize("component", all_components(), ids=lambda c: f"{c.name}-{c.version}")
def test_every_component_has_a_pinned_wrapper(component: Component) -> None:
    wrapper = ROOT / component.wrapper
    gomod = _gomod(component)
    assert (wrapper / "go.sum").is_file(), f"{component.wrapper}: go.sum is the pin and must be committed"
    go = re.search(r"^go (\d+)\.(\d+)(?:\.(\d+))?$", gomod, re.M)
    assert go is not None
    assert tuple(int(x or 0) for x in go.groups()) <= GO_INSTALLED, f"{component.wrapper} needs a newer Go"
    if component.module.startswith("sovplatform.build/"):
        return
    assert re.search(
        rf"^\s*(require )?{re.escape(component.module)} {re.escape(component.pinned)}( // indirect)?$", gomod, re.M
    )
    if component.language == "go":
        for p in component.programs:
            assert re.search(rf"^tool {re.escape(p.package)}$", gomod, re.M), f"{p.package} not a tool of the wrapper"


@pytest.mark.parametrize("version", sorted(STACKS))
def test_kubernetes_staging_modules_are_the_matching_releases(version: str) -> None:
    gomod = _gomod(STACKS[version].components()[0])
    replaces = re.findall(r"^\s+(k8s\.io/[\w-]+) => (k8s\.io/[\w-]+) (v\S+)$", gomod, re.M)
    assert len(replaces) >= 30
    minor, patch = version.split(".")[1:]
    assert {(a == b, v) for a, b, v in replaces} == {(True, f"v0.{minor}.{patch}")}


def test_no_wrapper_is_left_without_a_catalogue_entry() -> None:
    """A pinned module nothing builds is an unreviewed dependency in the tree."""
    pinned = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "supply").rglob("go.mod")}
    assert pinned == {c.wrapper for c in all_components()}


def test_images_are_made_of_programs_the_stack_builds() -> None:
    for s in STACKS.values():
        programs = {p.name for c in s.components() for p in c.programs}
        for r in s.images():
            assert {name for name, _ in r.programs} <= programs, r.name
            assert r.ref.endswith(f":{r.version}")


def test_stack_versions_stamp_the_binaries() -> None:
    k8s = STACKS["1.36.3"].components()[0]
    assert "k8s.io/component-base/version.gitVersion=v1.36.3" in k8s.ldflags
    assert "k8s.io/component-base/version.gitMinor=36" in k8s.ldflags
    assert TOOLS["opentofu"].licence == "MPL-2.0"


def test_containerd_pin_must_be_the_one_built_with_kubernetes() -> None:
    data = lab_dict()
    data["versions"]["kubernetes"] = "1.36.3"
    data["versions"]["containerd"] = "1.7.24"
    with pytest.raises(BlueprintError) as info:
        validate_text(dump(data))
    [problem] = [p.render() for p in info.value.problems]
    assert problem.startswith(
        "versions.containerd: 1.7.24 is not the containerd built with Kubernetes 1.36.3 "
        "(the artefact catalogue pairs it with 2.4.2) (line "
    )
    data["versions"]["containerd"] = "2.4.2"
    assert validate_text(dump(data)).versions.containerd == "2.4.2"


def test_layers_are_canonical(tmp_path: Path) -> None:
    """Same content, same layer bytes: owner, time and order come from nowhere but the content."""
    a, b = tmp_path / "a", tmp_path / "b"
    for d, mode in ((a, 0o700), (b, 0o755)):
        d.mkdir()
        (d / "prog").write_bytes(b"\x7fELF demo")
        (d / "prog").chmod(mode)
    write_layer(tmp_path / "1.tar", [("/usr/local/bin/prog", a / "prog")])
    write_layer(tmp_path / "2.tar", [("/usr/local/bin/prog", b / "prog")])
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()
    with tarfile.open(tmp_path / "1.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/prog"]
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 0)}
    assert members[-1].mode == 0o755


def test_licences_are_read_from_the_sbom(tmp_path: Path) -> None:
    doc = tmp_path / "x.cdx.json"
    doc.write_text(
        '{"metadata": {"component": {"name": "k", "licenses": [{"license": {"id": "Apache-2.0"}}]}},'
        ' "components": [{"name": "a", "evidence": {"licenses": [{"license": {"id": "MIT"}}]}},'
        ' {"name": "b", "licenses": [{"expression": "BSD-3-Clause OR MIT"}]}, {"name": "c"}]}'
    )
    assert sbom.licences(doc) == {"Apache-2.0": 1, "BSD-3-Clause OR MIT": 1, "MIT": 1, "unknown": 1}
