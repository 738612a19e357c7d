"""infra/ as it deploys, checked without docker, helm or a cluster.

- The Helm values validate against the official chart's own JSON schema (vendored at
  ``infra/helm/values.schema.json``), and that check rejects what Helm would refuse.
- The run pod config and the training steps' ``dagster-k8s/config`` tag become real Kubernetes
  Job specs through dagster-k8s's own builder (the code its executor runs), so a key the
  Kubernetes models do not know fails here, not at 2 a.m. on the cluster.
- Only the training steps ask for a GPU node; the cluster entry point runs every step as a
  Kubernetes Job while the local Definitions keep the default executor.
- docker compose wires PostgreSQL, MinIO, the code server, the webserver and the daemon, takes
  every secret from the environment, and agrees with the Dockerfile and the workspace.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import jsonschema
import pytest
import sqlalchemy
import yaml
from dagster_k8s import DagsterK8sJobConfig, construct_dagster_k8s_job
from dagster_k8s.job import UserDefinedDagsterK8sConfig, get_user_defined_k8s_config

from assets.k8s_tags import GPU_NODE_LABEL, GPU_RESOURCE, GPU_TRAINING_TAGS, K8S_CONFIG_TAG
from lakeloop.settings import Settings
from pipelines.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SECRET_NAMES = {"lakeloop-aws", "lakeloop-alerts"}
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|WEBHOOK|ACCESS_KEY", re.IGNORECASE)
SUBSTITUTION = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+)(?P<op>:[-?])?(?P<rest>.*)\}$")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _without_required(schema: Any) -> Any:
    """The chart schema for an *override* file: Helm validates the merge of these values over
    the chart's defaults, which supply every required key; every key set here must still exist
    and have the right type. The chart's conditionals (``allOf``: "type K8sRunLauncher needs
    config.k8sRunLauncher") stay whole."""
    if isinstance(schema, dict):
        return {k: v if k == "allOf" else _without_required(v)
                for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def chart_validator() -> jsonschema.protocols.Validator:
    schema = yaml.safe_load((INFRA / "helm" / "values.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(_without_required(schema))


@pytest.fixture(scope="module")
def helm_values() -> dict[str, Any]:
    return _yaml(INFRA / "helm" / "values.yaml")


def _errors(validator: jsonschema.protocols.Validator, values: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(values)]


def test_helm_values_validate_against_the_chart_schema(chart_validator, helm_values) -> None:
    assert _errors(chart_validator, helm_values) == []


def _typo_in_launcher(v: dict) -> None:
    v["runLauncher"]["config"]["k8sRunLauncher"]["envSecret"] = [{"name": "lakeloop-aws"}]


def _unknown_launcher(v: dict) -> None:
    v["runLauncher"]["type"] = "K8sLauncher"


def _launcher_without_its_config(v: dict) -> None:
    v["runLauncher"]["config"] = {"customRunLauncher": {"module": "m", "class": "C", "config": {}}}


def _bad_toleration(v: dict) -> None:  # checked by the embedded Kubernetes definitions
    v["dagsterDaemon"]["tolerations"] = [{"key": "nvidia.com/gpu", "effect": 3}]


def _string_replicas(v: dict) -> None:
    v["dagsterWebserver"]["replicaCount"] = "one"


def _port_as_text(v: dict) -> None:
    v["dagster-user-deployments"]["deployments"][0]["port"] = "4000"


@pytest.mark.parametrize("break_it", [_typo_in_launcher, _unknown_launcher,
                                      _launcher_without_its_config, _bad_toleration,
                                      _string_replicas, _port_as_text])
def test_the_schema_check_rejects_what_helm_would_refuse(chart_validator, helm_values,
                                                         break_it) -> None:
    broken = copy.deepcopy(helm_values)
    break_it(broken)
    assert _errors(chart_validator, broken), f"{break_it.__name__} passed the chart schema"


def test_helm_values_deploy_lakeloop_on_kubernetes(helm_values) -> None:
    v = helm_values
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    assert v["dagsterDaemon"]["enabled"] is True
    # external PostgreSQL, its password only in the Kubernetes Secret the chart reads
    assert v["postgresql"]["enabled"] is False and v["postgresql"]["postgresqlHost"]
    assert "postgresqlPassword" not in v["postgresql"]
    assert v["generatePostgresqlPasswordSecret"] is False
    assert v["global"]["postgresqlSecretName"]
    [deployment] = v["dagster-user-deployments"]["deployments"]
    launcher = v["runLauncher"]["config"]["k8sRunLauncher"]
    for env_secrets in (deployment["envSecrets"], launcher["envSecrets"]):
        assert {s["name"] for s in env_secrets} == SECRET_NAMES
        # alert channels are optional: a cluster without the Secret still starts its pods
        assert [s.get("optional", False) for s in env_secrets
                if s["name"] == "lakeloop-alerts"] == [True]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    # the code server serves the k8s_job_executor entry point, at the path the image has it
    args = deployment["codeServerArgs"]
    entry = Path(args[args.index("-f") + 1])
    dockerfile = (INFRA / "Dockerfile").read_text()
    copies = dict(re.findall(r"^COPY (\S+) (\S+)$", dockerfile, re.MULTILINE))
    assert copies["infra/k8s_definitions.py"] == str(entry)
    assert (ROOT / "infra" / entry.name).is_file()


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [item for k, v in node.items() for item in [(f"{path}/{k}", v),
                                                           *_walk(v, f"{path}/{k}")]]
    if isinstance(node, list):
        return [item for i, v in enumerate(node) for item in _walk(v, f"{path}/{i}")]
    return []


def test_helm_values_hold_no_secret(helm_values) -> None:
    leaks = [p for p, value in _walk(helm_values)
             if SECRETISH.search(p.rsplit("/", 1)[-1]) and not p.endswith("SecretName")
             and isinstance(value, str)]
    assert leaks == []  # secrets come from envSecrets / postgresqlSecretName, never values
    env = helm_values["dagster-user-deployments"]["deployments"][0]["env"]
    assert not [k for k in env if SECRETISH.search(k) or k.startswith("AWS_ACCESS")]


def _job(user_config: UserDefinedDagsterK8sConfig) -> Any:
    """The Kubernetes Job dagster-k8s would create (raises on a key its models do not know)."""
    config = DagsterK8sJobConfig(job_image="registry.example.com/lakeloop:test",
                                 dagster_home="/opt/dagster/dagster_home",
                                 instance_config_map="lakeloop-instance")
    return construct_dagster_k8s_job(config, ["dagster", "api", "execute_step"], "step",
                                     user_defined_k8s_config=user_config)


def test_run_pod_config_builds_a_kubernetes_job(helm_values) -> None:
    run_config = helm_values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    # the chart writes these under dagster-k8s's snake_case names into the instance config
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in run_config.items()}
    job = _job(UserDefinedDagsterK8sConfig.from_dict(snake))
    container = job.spec.template.spec.containers[0]
    assert container.resources.requests == {"cpu": "250m", "memory": "512Mi"}
    assert job.spec.ttl_seconds_after_finished == 86400


@pytest.fixture(scope="module")
def local_defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    tmp = tmp_path_factory.mktemp("infra")
    return build_definitions(Settings(lake_root=str(tmp / "lake"), landing_root=str(tmp / "in"),
                                      dagster_home=tmp / "home"))


def test_only_training_steps_ask_kubernetes_for_a_gpu(local_defs: dg.Definitions) -> None:
    assets = [a for a in local_defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    tagged = {a.key.to_user_string() for a in assets if K8S_CONFIG_TAG in a.op.tags}
    assert tagged == {"fraud_model", "demand_model"}
    untagged = {a.key.to_user_string() for a in assets} - tagged
    assert {"transactions_raw", "fraud_features", "fraud_scores",
            "fraud_training_set", "demand_training_set"} <= untagged
    for name in sorted(tagged):
        tags = local_defs.resolve_assets_def(name).op.tags
        # what k8s_job_executor reads from the step's tags, turned into the step's Job
        job = _job(get_user_defined_k8s_config(tags))
        pod = job.spec.template.spec
        assert pod.node_selector == {GPU_NODE_LABEL: "true"}
        assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [
            (GPU_RESOURCE, "Exists", "NoSchedule")]
        assert pod.containers[0].resources.limits[GPU_RESOURCE] == "1"


def _cluster_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lakeloop_k8s_definitions",
                                                  INFRA / "k8s_definitions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cluster_runs_each_step_as_a_kubernetes_job(local_defs: dg.Definitions,
                                                        tmp_path: Path) -> None:
    cluster = _cluster_module()
    defs = cluster.cluster_definitions(Settings(lake_root=str(tmp_path / "lake"),
                                                landing_root=str(tmp_path / "in"),
                                                dagster_home=tmp_path / "home"))
    for name in ("nightly_fraud", "retrain_fraud", "nightly_demand", "retrain_demand"):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "k8s", name
        dg.validate_run_config(job)  # the executor's own config passes its schema
        # locally the same job keeps Dagster's default executor: the tag above is inert there
        assert local_defs.resolve_job_def(name).executor_def.name != "k8s"
    # the step defaults are valid pod config too, and the GPU tag is what training adds
    default_pod = _job(UserDefinedDagsterK8sConfig.from_dict(cluster.STEP_DEFAULTS))
    assert GPU_RESOURCE not in (default_pod.spec.template.spec.containers[0].resources.limits
                                or {})
    assert GPU_TRAINING_TAGS[K8S_CONFIG_TAG]["container_config"]["resources"]["limits"][
        GPU_RESOURCE] == "1"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml(INFRA / "docker-compose.yaml")


DAGSTER_PROCESSES = ("code-server", "webserver", "daemon")


def test_compose_wires_the_five_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "minio", *DAGSTER_PROCESSES} <= set(services)
    for name in ("webserver", "daemon"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["code-server"]["condition"] == "service_healthy", name
    assert services["code-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # one image for the three Dagster processes, built from infra/Dockerfile
    assert len({services[n]["image"] for n in DAGSTER_PROCESSES}) == 1
    build = services["code-server"]["build"]
    assert (INFRA / build["context"] / build["dockerfile"]).resolve() == INFRA / "Dockerfile"
    # the workspace the webserver and daemon load points at the code server's gRPC port
    workspace = _yaml(INFRA / "workspace.yaml")
    [server] = [entry["grpc_server"] for entry in workspace["load_from"]]
    command = services["code-server"]["command"]
    assert server["host"] == "code-server"
    assert str(server["port"]) == command[command.index("-p") + 1]
    dockerfile = (INFRA / "Dockerfile").read_text()
    copies = dict(re.findall(r"^COPY (\S+) (\S+)$", dockerfile, re.MULTILINE))
    for name in ("webserver", "daemon"):
        cmd = services[name]["command"]
        assert cmd[cmd.index("-w") + 1] == copies["infra/workspace.yaml"], name
    # all of them on the same PostgreSQL instance (infra/dagster.yaml reads these variables)
    instance = _yaml(INFRA / "dagster.yaml")["storage"]["postgres"]["postgres_db"]
    for name in DAGSTER_PROCESSES:
        env = services[name]["environment"]
        assert {f["env"] for f in instance.values() if isinstance(f, dict)} <= set(env), name
        assert env["DAGSTER_PG_HOST"] == "postgres"
        assert env["LAKELOOP_LAKE"].startswith("s3://") and env["AWS_ENDPOINT_URL"] == (
            "http://minio:9000")
    assert copies["infra/dagster.yaml"] == "${DAGSTER_HOME}/dagster.yaml"


def test_compose_takes_every_secret_from_the_environment(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if not SECRETISH.search(key):
                continue
            match = SUBSTITUTION.match(str(value))
            assert match, f"{name}: {key} is a literal, not ${{VAR}} substitution"
            # a password/key is required (`:?`), never defaulted; alert channels may be empty
            if not key.startswith("LAKELOOP_"):
                assert match["op"] == ":?", f"{name}: {key} has a default"
            else:
                assert match["op"] == ":-" and match["rest"] == "", f"{name}: {key}"
            checked += 1
    assert checked >= 10  # postgres, minio and the three Dagster processes were all looked at


def test_instance_reads_every_connection_field_from_env(helm_values) -> None:
    instance = _yaml(INFRA / "dagster.yaml")
    fields = dict(instance["storage"]["postgres"]["postgres_db"])
    scheme = fields.pop("scheme")
    assert set(fields) == {"username", "password", "hostname", "db_name", "port"}
    assert all(set(v) == {"env"} for v in fields.values()), fields
    # the driver named is one that is installed (a bare postgresql:// means psycopg 3 to
    # SQLAlchemy 2.1, which nothing installs), and the cluster's instance uses the same one
    sqlalchemy.engine.make_url(f"{scheme}://u@h/db").get_dialect().import_dbapi()
    assert helm_values["postgresql"]["postgresqlScheme"] == scheme


def test_dockerfile_builds_a_cpu_and_a_cuda_image() -> None:
    dockerfile = (INFRA / "Dockerfile").read_text()
    assert "ARG TORCH_VARIANT=cuda" in dockerfile
    assert "https://download.pytorch.org/whl/cpu" in dockerfile
    # dagster-k8s too: run and step pods of the cluster run this image
    assert 'pip install -c constraints.txt ".[k8s]"' in dockerfile
    # every file the image copies exists and is in the build context infra's dockerignore
    # (an allow-list) sends
    patterns = [line for line in (INFRA / "Dockerfile.dockerignore").read_text().splitlines()
                if line and not line.startswith("#")]

    def sent(path: str) -> bool:
        included = True
        for pattern in patterns:  # the last matching pattern decides, as in Docker
            if fnmatch.fnmatch(path, pattern.lstrip("!")):
                included = pattern.startswith("!")
        return included

    sources = [src for line in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE)
               for src in line.split()]
    assert {"lakeloop", "infra/dagster.yaml", "pyproject.toml"} <= set(sources)
    for source in sources:
        path = ROOT / source
        files = [f for f in path.rglob("*.py")] if path.is_dir() else [path]
        assert files and all(f.is_file() for f in files), source
        assert all(sent(str(f.relative_to(ROOT))) for f in files
                   if "__pycache__" not in f.parts), source
    assert not sent(".venv/bin/python") and not sent(".lakeloop/lake/x")
