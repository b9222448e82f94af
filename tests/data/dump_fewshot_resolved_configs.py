"""Write ``tests/data/fewshot_resolved_configs.json``: the resolved config of every method x preset.

The file pins what ``medclip-fewshot --method M [--preset P]`` resolves (``method_config``), so the test
``tests/test_fewshot_presets.py`` catches any change in how presets compose. It was written once from the
former per-preset files (``configs/fewshot/<method>_<preset>.yaml``, 48 of them) before they became the
overlays ``configs/fewshot/presets/<preset>.yaml``; rerun it only when a preset value changes on purpose::

    PYTHONPATH=. python tests/data/dump_fewshot_resolved_configs.py
"""

from __future__ import annotations

import json
from pathlib import Path

PRESETS = (None, "demo", "original", "biomedcoop")
OUT = Path(__file__).with_name("fewshot_resolved_configs.json")


def method_names() -> list[str]:
    """Every few-shot method name."""
    from zeroshot.fewshot.cli import load_plugins, method_names

    load_plugins()
    return method_names()


def key(method: str, preset: str | None) -> str:
    return method if preset is None else f"{method}+{preset}"


def resolve(method: str, preset: str | None) -> dict:
    """The resolved config of ``--method method [--preset preset]`` as a plain dict."""
    from medclip.config import to_dict
    from zeroshot.fewshot.cli import method_config

    cfg, _ = method_config(method, preset, None, [])
    return to_dict(cfg)


def resolved_configs() -> dict[str, dict]:
    """``{"<method>" or "<method>+<preset>": resolved config dict}`` for every method x preset."""
    return {key(m, p): resolve(m, p) for m in method_names() for p in PRESETS}


if __name__ == "__main__":
    OUT.write_text(json.dumps(resolved_configs(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
