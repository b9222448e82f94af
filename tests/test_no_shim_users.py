"""No module of the project imports the deprecated ``medclip.prompt`` / ``medclip.adapters`` paths (ast).

Only the shims themselves (and ``tests/test_fewshot_shims.py``, which checks that they still forward) may
name them; everything else imports from ``medclip.fewshot``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("medclip", "zeroshot", "data_pipelines", "bench")
SHIMS = ("medclip.prompt", "medclip.adapters")
SHIM_DIRS = (ROOT / "medclip" / "prompt", ROOT / "medclip" / "adapters")


def imported(source: str, package: str) -> set[str]:
    """Absolute names a module's source imports anywhere in it (``from X import y`` gives ``X`` and ``X.y``).

    ``package`` is the package the module sits in (for relative imports).
    """
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def is_shim(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in SHIMS)


def shim_users() -> dict[str, list[str]]:
    found = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if any(d in path.parents for d in SHIM_DIRS):
                continue
            package = ".".join(path.relative_to(ROOT).parent.parts)
            bad = sorted(n for n in imported(path.read_text(encoding="utf-8"), package) if is_shim(n))
            if bad:
                found[str(path.relative_to(ROOT))] = bad
    return found


def test_no_module_imports_the_deprecated_shims():
    assert shim_users() == {}


@pytest.mark.parametrize(
    ("source", "package", "flagged"),
    [
        ("import medclip.prompt.fit\n", "bench", True),
        ("from medclip.adapters.valsplit import ValSplit\n", "zeroshot", True),
        ("from medclip import prompt\n", "zeroshot", True),
        ("def f():\n    from medclip.prompt.config import METHODS\n", "zeroshot", True),
        ("from .. import adapters\n", "medclip.fewshot", True),
        ("from ..prompt.fit import fit_fewshot\n", "medclip.fewshot", True),
        ("from medclip.fewshot.fit import fit_fewshot\n", "bench", False),
        ("from medclip import fewshot\n", "zeroshot", False),
        ("from .prompt import load_prompt\n", "data_pipelines.captions", False),
        ("from medclip.zeroshot_head import prompts\n", "zeroshot", False),
    ],
)
def test_scan_sees_every_import_form(source, package, flagged):
    assert any(is_shim(n) for n in imported(source, package)) is flagged
