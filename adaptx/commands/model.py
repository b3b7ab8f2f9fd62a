"""`adaptx model export NAME DIR`: base-model utilities (adaptx.models)."""

from __future__ import annotations

from .arguments import add_action, add_actions, run_action

TAKES_OVERRIDES = False
main = run_action


def _export(args) -> int:
    from ..models import export_model

    out = export_model(args.name, args.out_dir)
    print(f"exported {args.name!r} to {out} (load it with transformers.AutoModel/AutoTokenizer.from_pretrained)")
    return 0


def add_parser(subparsers):
    model = subparsers.add_parser("model", help="base-model utilities")
    actions = add_actions(model, "model_command")
    export = add_action(actions, "export", _export, help="write a base model as a plain Hugging Face folder")
    export.add_argument("name", help="'embedded', a hub id or a local folder")
    export.add_argument("out_dir")
    return model
