"""What the registry holds, in words: why the champion serves, and each model's versions.

Shared by ``lakeloop models list``, the demo's report and the forecast model's metadata."""

from __future__ import annotations

from lakeloop.registry.model_registry import ModelRegistry

HEADLINE = {"classification": ("pr_auc", "higher is better"),
            "forecast": ("mase", "lower is better")}



def serving_reason(registry: ModelRegistry, model: str) -> str:
    """Why the champion serves: the reason of the pointer's last move (the promotion
    decision, or an operator's promote / rollback), and, where the retrain recorded it, why
    its family was the candidate (e.g. a baseline rule that beat the network)."""
    champion = registry.champion(model)
    if champion is None:
        return "no champion: nothing is scored or forecast"
    moves = registry.history(model)
    why = moves[-1]["reason"] if moves else champion.meta.get("decision", {}).get("reason", "")
    chosen = champion.meta.get("family_reason")
    return why + (f"; {chosen}" if chosen else "")


def print_versions(registry: ModelRegistry, models: dict[str, str]) -> None:
    """Each model's versions with family, headline metric and decision; * marks the champion,
    and a line says which family serves and why. ``models``: model (= domain) name -> kind."""
    for model, kind in models.items():
        champion = registry.champion_version(model)
        metric, sense = HEADLINE[kind]
        print(f"{model} (champion: {champion or 'none'}; {metric}, {sense})")
        serving = registry.champion(model)
        print(f"  serving: {'nothing' if serving is None else serving.version} "
              f"({'-' if serving is None else serving.family}) - "
              f"{serving_reason(registry, model)}")
        for version in registry.versions(model):
            mv = registry.get(model, version)
            meta = mv.meta
            mark = "*" if version == champion else " "
            value = meta.get("metrics", {}).get(metric, float("nan"))
            decision = meta.get("decision", {}).get("reason", "")
            print(f" {mark} {version}  {mv.family:<14s} {metric}={value:.4f}  "
                  f"{meta.get('created_at', '')}  {decision}")
