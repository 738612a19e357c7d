"""``lakeloop models``: list, show, promote and roll back registry versions."""

from __future__ import annotations

import argparse
import json

from lakeloop.registry.describe import print_versions
from lakeloop.registry.model_registry import ModelRegistry, RegistryError
from lakeloop.settings import Settings
from lakeloop.storage import ObjectStore


def enabled_models() -> dict[str, str]:
    """Model (= domain) name -> its kind, for the enabled domains (``LAKELOOP_DOMAINS``)."""
    return {name: d.kind for name, d in Settings.from_env().load_domains().items()}


def _registry(args: argparse.Namespace) -> ModelRegistry:
    settings = Settings.from_env()
    return ModelRegistry(ObjectStore(args.lake or settings.lake_root, settings.s3))


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
