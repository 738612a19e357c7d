"""Op tags that place a step on Kubernetes: one place for the GPU request of the training steps.

Dagster's ``k8s_job_executor`` (the cluster deployment, ``infra/helm``) launches every step as its
own Kubernetes Job and reads the step's ``dagster-k8s/config`` tag to shape that pod. Training is
the only work that profits from a GPU, so only ``<domain>_model`` carries this tag: its pod asks
for one ``nvidia.com/gpu``, is pinned to GPU nodes and tolerates their taint, while ingest,
features, scoring and monitoring steps stay on ordinary CPU nodes.

Everywhere else (``make dev``, ``make demo``, tests, docker compose) the tag is inert metadata:
only the k8s executor reads it, and the model code picks CUDA wherever the process sees one
(``LAKELOOP_DEVICE=auto``), so nothing local depends on it.
"""

from __future__ import annotations

from typing import Any

K8S_CONFIG_TAG = "dagster-k8s/config"  # the key dagster-k8s reads on an op / asset step
GPU_RESOURCE = "nvidia.com/gpu"  # extended resource advertised by NVIDIA's device plugin
# Label set by NVIDIA GPU Feature Discovery (GPU operator) on every node with a GPU; a cluster
# that labels its GPU pool otherwise changes it here, in one place.
GPU_NODE_LABEL = "nvidia.com/gpu.present"

GPU_TRAINING_TAGS: dict[str, Any] = {
    K8S_CONFIG_TAG: {
        "container_config": {
            "resources": {
                # a GPU is requested through limits only; CPU/memory sized for a retrain
                # (the 400k-row fraud retrain and the N-HiTS fit fit in 16 GiB)
                "requests": {"cpu": "4", "memory": "16Gi"},
                "limits": {GPU_RESOURCE: "1", "memory": "24Gi"},
            },
        },
        "pod_spec_config": {
            "node_selector": {GPU_NODE_LABEL: "true"},
            # GPU pools are usually tainted so that CPU work stays off them
            "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        },
    },
}
