"""``lakeloop models``: list, show, promote and roll back registry versions."""

from __future__ import annotations

import argparse
import json

from lakeloop.registry import ModelRegistry, RegistryError
from lakeloop.settings import Settings
from lakeloop.storage import ObjectStore

HEADLINE = {"classification": ("pr_auc", "higher is better"),
            "forecast": ("mase", "lower is better")}


def enabled_models() -> dict[str, str]:
    """Model (= domain) name -> its kind, for the enabled domains (``LAKELOOP_DOMAINS``)."""
    return {name: d.kind for name, d in Settings.from_env().load_domains().items()}


def _registry(args: argparse.Namespace) -> ModelRegistry:
    settings = Settings.from_env()
    return ModelRegistry(ObjectStore(args.lake or settings.lake_root, settings.s3))


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


def print_versions(registry: ModelRegistry, models: dict[str, str] | None = None) -> None:
    """Each model's versions with family, headline metric and decision; * marks the champion,
    and a line says which family serves and why."""
    for model, kind in (models or enabled_models()).items():
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


def cmd_list(args: argparse.Namespace) -> int:
    models = enabled_models()
    if args.model and args.model not in models:
        raise ValueError(f"no model {args.model!r}: the enabled domains are {sorted(models)}")
    print_versions(_registry(args), {args.model: models[args.model]} if args.model else models)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    meta = _registry(args).get(args.model, args.version).meta
    if not args.full:
        meta = {k: v for k, v in meta.items() if k not in ("preprocessor", "scales")}
    print(json.dumps(meta, indent=2, sort_keys=True, default=str))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    _registry(args).promote(args.model, args.version, args.reason)
    print(f"{args.model}: {args.version} is champion ({args.reason})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    restored = _registry(args).rollback(args.model, args.reason)
    print(f"{args.model}: rolled back to {restored} ({args.reason})")
    return 0


def add_models_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list / show / promote / roll back model versions")
    models.add_argument("--lake", help="lake root holding registry/ (default: $LAKELOOP_LAKE)")
    msub = models.add_subparsers(dest="models_command", required=True)
    p = msub.add_parser("list", help="versions, metrics and decisions; * marks the champion")
    p.add_argument("model", nargs="?", help="a domain name (default: every enabled domain)")
    p.set_defaults(func=cmd_list)
    p = msub.add_parser("show", help="a version's metadata (config, metrics, lineage)")
    p.add_argument("model", help="a domain name, e.g. fraud")
    p.add_argument("version")
    p.add_argument("--full", action="store_true", help="include preprocessing state")
    p.set_defaults(func=cmd_show)
    p = msub.add_parser("promote", help="make a version the champion (operator override)")
    p.add_argument("model", help="a domain name, e.g. fraud")
    p.add_argument("version")
    p.add_argument("--reason", default="manual promotion")
    p.set_defaults(func=cmd_promote)
    p = msub.add_parser("rollback", help="undo the promotion of the current champion")
    p.add_argument("model", help="a domain name, e.g. fraud")
    p.add_argument("--reason", default="manual rollback")
    p.set_defaults(func=cmd_rollback)


__all__ = ["RegistryError", "add_models_parser"]
