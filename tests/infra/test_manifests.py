"""The deployment manifests validate against the schemas of what consumes them: KubeRay's CRDs
(RayCluster, RayJob), Kubernetes' own API schemas (Secret, PVC, Deployment, Service, via
kubernetes-validate's bundled schemas, offline), Ray's cluster-launcher schema from the installed
wheel; and every sweep in sweeps/ fits the KubeRay worker group it would run on."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "infra" / "kuberay"
LAUNCHER = ROOT / "infra" / "launcher"
CRDS = ROOT.parent / "shared" / "kuberay"  # beside the repository, as in tests/conftest.py
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
KUBERNETES_VERSION = "1.33.0"


def _documents(directory: Path) -> list[tuple[str, dict]]:
    found = []
    for path in sorted(directory.glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                found.append((f"{path.name}#{index}:{doc['kind']}", doc))
    return found


MANIFESTS = _documents(KUBERAY)


def _closed(schema):
    """The schema with unknown fields refused, as the API server's field validation (strict)
    does: a structural CRD schema lists every field, and KubeRay's leaves open only the places
    marked x-kubernetes-preserve-unknown-fields."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@functools.cache
def crd_validator(kind: str) -> jsonschema.Validator:
    if not CRDS.is_dir():
        pytest.fail(f"KubeRay CRDs not found at {CRDS} (the shared reference data beside the repository)")
    crd = yaml.safe_load((CRDS / CRD_FILES[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(_closed(version["schema"]["openAPIV3Schema"]))


def crd_errors(doc: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:160]}"
            for e in crd_validator(doc["kind"]).iter_errors(doc)]


def core_errors(doc: dict) -> list[str]:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [str(err)[:300]]
    return []


def test_every_manifest_kind_is_covered():
    kinds = sorted({doc["kind"] for _, doc in MANIFESTS})
    assert kinds == ["Deployment", "Kustomization", "PersistentVolumeClaim", "RayCluster", "RayJob", "Service"]


@pytest.mark.parametrize("name,doc", [m for m in MANIFESTS if m[1]["kind"] in CRD_FILES], ids=lambda v: v if isinstance(v, str) else "")
def test_kuberay_objects_match_the_crds(name, doc):
    assert doc["apiVersion"] == "ray.io/v1"
    assert crd_errors(doc) == []


@pytest.mark.parametrize("name,doc", [m for m in MANIFESTS if m[1]["kind"] not in (*CRD_FILES, "Kustomization")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_core_objects_match_the_kubernetes_schemas(name, doc):
    assert core_errors(doc) == []


def test_the_validators_refuse_a_misspelled_field():
    cluster = copy.deepcopy(next(doc for _, doc in MANIFESTS if doc["kind"] == "RayCluster"))
    cluster["spec"]["workerGroupSpecs"][0]["maxReplica"] = 3
    assert any("maxReplica" in e for e in crd_errors(cluster))
    deployment = copy.deepcopy(next(doc for _, doc in MANIFESTS if doc["kind"] == "Deployment"))
    deployment["spec"]["replica"] = 1
    assert core_errors(deployment) != []


def test_kustomization_lists_every_resource_but_the_job():
    kustomization = yaml.safe_load((KUBERAY / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERAY.glob("*.yaml")} - {"kustomization.yaml", "rayjob.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_secrets_are_referenced_not_written():
    """Credentials come from Secrets created with kubectl; no manifest carries a value."""
    text = "\n".join(p.read_text() for p in KUBERAY.glob("*.yaml"))
    assert "kind: Secret" not in text
    refs = {(ref["name"], ref["key"]) for _, doc in MANIFESTS for ref in _secret_refs(doc)}
    assert refs == {("snapsweep-mlflow", "username"), ("snapsweep-mlflow", "password"),
                    ("snapsweep-mlflow", "secret-key"), ("snapsweep-postgres", "password")}


def _secret_refs(node):
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]
        for value in node.values():
            yield from _secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_refs(value)


def test_rayjob_runs_snapsweep_on_the_raycluster():
    job = next(doc for _, doc in MANIFESTS if doc["kind"] == "RayJob")
    cluster = next(doc for _, doc in MANIFESTS if doc["kind"] == "RayCluster")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    command = job["spec"]["entrypoint"].split()
    assert command[:2] == ["snapsweep", "run"]
    assert (ROOT / "sweeps" / Path(command[2]).name).is_file()
    assert cluster["spec"]["rayVersion"] == ray.__version__


# -- sweeps fit their worker group -------------------------------------------------------------

def _quantity(value) -> float:
    """A Kubernetes CPU or memory quantity as a number (cores, bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


def worker_groups() -> dict[str, dict[str, float]]:
    """Per worker group: what one worker offers Ray (CPU from rayStartParams, accelerators and
    memory from the container's limits, as KubeRay passes them to `ray start`)."""
    cluster = next(doc for _, doc in MANIFESTS if doc["kind"] == "RayCluster")
    groups = {}
    for group in cluster["spec"]["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        groups[group["groupName"]] = {
            "cpu": float(group["rayStartParams"].get("num-cpus", _quantity(limits["cpu"]))),
            "gpu": float(limits.get("nvidia.com/gpu", 0)),
            "tpu": float(limits.get("google.com/tpu", 0)),
            "memory": _quantity(limits["memory"]),
            "max": group["maxReplicas"],
        }
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    return groups


def target_group(resources) -> str:
    return "tpu-workers" if resources.tpu else "gpu-workers" if resources.gpu else "cpu-workers"


SPECS = sorted((ROOT / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_each_sweep_fits_the_worker_group_it_targets(path):
    from snapsweep.spec.load import load

    resources = load(path).resources
    group = worker_groups()[target_group(resources)]
    assert resources.cpu <= group["cpu"]
    assert resources.gpu <= group["gpu"]
    assert resources.tpu <= group["tpu"]
    assert (resources.memory or 0) <= group["memory"]
    # An accelerator group offers none of the other kind: a GPU sweep cannot land on TPU hosts.
    assert (group["gpu"] > 0) == (resources.gpu > 0) and (group["tpu"] > 0) == (resources.tpu > 0)


def test_every_worker_group_serves_some_sweep_or_the_tpu_extra():
    """Each group exists for a reason: CPU and GPU groups for the sweeps in sweeps/, TPU for
    specs with `resources.tpu` (the tpu image variant)."""
    assert set(worker_groups()) == {"cpu-workers", "gpu-workers", "tpu-workers"}
    assert worker_groups()["tpu-workers"]["tpu"] == 4


# -- Ray cluster launcher --------------------------------------------------------------------

def launcher_schema() -> dict:
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


@pytest.mark.parametrize("path", sorted(LAUNCHER.glob("*.yaml")), ids=lambda p: p.name)
def test_launcher_configs_match_rays_schema(path):
    config = yaml.safe_load(path.read_text())
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:160]}"
              for e in jsonschema.Draft7Validator(launcher_schema()).iter_errors(config)]
    assert errors == []
    assert config["head_node_type"] in config["available_node_types"]
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}


def test_launchers_cover_a_gpu_cloud_and_tpu_vms():
    kinds = {}
    for path in sorted(LAUNCHER.glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        for node in config["available_node_types"].values():
            for name in ("GPU", "TPU"):
                if node["resources"].get(name):
                    kinds[name] = config["provider"]["type"]
    assert kinds == {"GPU": "aws", "TPU": "gcp"}
