"""Evaluation suites as data: YAML files in ``configs/eval/`` mapped onto typed dataclasses.

``load_suite("demo")`` reads ``configs/eval/demo.yaml``; any other argument ending in ``.yaml``/``.yml`` (or an
existing file) is read as a path. Unknown keys are fatal with the closest valid names (``medclip.config``).
The schema is documented in ``docs/evaluation.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from medclip.config import ConfigError, from_dict, read_yaml
from medclip.resources import config_dir

MODALITIES = ("xray", "ct", "mri", "ultrasound", "pathology", "fundus", "other")
MODALITY_ALIASES = {"us": "ultrasound", "histo": "pathology", "histopathology": "pathology", "x-ray": "xray"}
LAYOUTS = ("imagefolder", "csv", "shards", "npz")
METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auc", "top5", "multilabel_auc")
CONFIG_DIR = config_dir("eval")  # shipped with the package (medclip_configs/eval), see medclip.resources


def normalize_modality(name: str) -> str:
    """Canonical modality name (accepts the aliases ``us``, ``histo``); unknown names raise ConfigError."""
    m = MODALITY_ALIASES.get(str(name).lower(), str(name).lower())
    if m not in MODALITIES and m != "mixed":
        raise ConfigError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)} or mixed")
    return m


@dataclass
class ClassSpec:
    """One class: its display name, prompt synonyms and how it is recognised in the data."""

    name: str  # display name; also the first prompt name
    synonyms: list[str] = field(default_factory=list)  # more names, each combined with every template
    prompts: list[str] = field(default_factory=list)  # explicit prompts for this class (replace templates)
    match: list[str] = field(default_factory=list)  # folder names / CSV values / shard labels; default [name]
    modality: str | None = None  # shards only: the sample's modality must also equal this

    def validate(self) -> None:
        if not self.name:
            raise ConfigError("a class has an empty name")
        if self.modality is not None:
            self.modality = normalize_modality(self.modality)

    @property
    def match_values(self) -> list[str]:
        return self.match or [self.name]


@dataclass
class CsvSpec:
    """Columns of a CSV layout. Image paths are relative to the CSV's folder."""

    file: str = "labels.csv"  # relative to the dataset path
    image_column: str = "image"
    label_column: str = "label"
    label_separator: str = "|"  # multi-label values inside one cell
    split_column: str | None = None
    split_value: str | None = None


@dataclass
class DatasetSpec:
    """One evaluation dataset of a suite."""

    name: str
    modality: str  # one of MODALITIES, or "mixed" (per-sample modality read from shards)
    layout: str  # imagefolder | csv | shards
    path: str  # relative to the suite's data root (absolute paths are used as they are)
    classes: list[ClassSpec] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)  # inline templates with "{}"
    template_set: str | None = None  # or the name of one of the suite's template_sets
    n_templates: int | None = None  # declared template count; checked against the templates
    metric: str = "accuracy"  # the headline metric (all metrics are computed and reported)
    multilabel: bool = False
    csv: CsvSpec = field(default_factory=CsvSpec)
    shift_of: str | None = None  # this dataset is a distribution-shifted copy of another one
    breakdown: bool = False  # also report metrics per sample modality (mixed shard datasets)
    probe_train: str | None = None  # optional linear-probe train / validation data (same layout)
    probe_val: str | None = None
    label_set: list[str] = field(default_factory=list)  # multi-label: labels of the headline mean AUC (clinical)
    label_scoring: str = "cosine"  # multi-label clinical protocol: cosine | pos_neg (CheXzero prompt pair)
    negative_templates: list[str] = field(default_factory=list)  # pos_neg: negative prompts, e.g. "no {}"
    threshold_rule: str = "youden"  # clinical thresholds on probe_val: youden | sensitivity
    target_sensitivity: float = 0.9  # threshold_rule sensitivity: the val sensitivity to reach
    fixed_specificity: float = 0.9  # clinical report: sensitivity at this specificity
    source: str = ""  # where the data comes from (documentation)
    license: str = ""
    layout_doc: str = ""  # the expected folder / CSV layout, shown when the data is missing

    def validate(self) -> None:
        self.modality = normalize_modality(self.modality)
        if self.layout not in LAYOUTS:
            raise ConfigError(f"dataset {self.name!r}: layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if self.metric not in METRICS:
            raise ConfigError(f"dataset {self.name!r}: metric {self.metric!r} is not one of {', '.join(METRICS)}")
        if len(self.classes) < 2:
            raise ConfigError(f"dataset {self.name!r}: needs at least 2 classes, got {len(self.classes)}")
        names = [c.name for c in self.classes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"dataset {self.name!r}: duplicate class names {dup}")
        if self.metric == "multilabel_auc" and not self.multilabel:
            raise ConfigError(f"dataset {self.name!r}: metric multilabel_auc needs multilabel: true")
        if self.templates and self.template_set:
            raise ConfigError(f"dataset {self.name!r}: give either templates or template_set, not both")
        unknown = sorted(set(self.label_set) - {c.name for c in self.classes})
        if unknown:
            raise ConfigError(f"dataset {self.name!r}: label_set names unknown classes {unknown}")
        if self.label_scoring not in ("cosine", "pos_neg"):
            raise ConfigError(f"dataset {self.name!r}: label_scoring must be cosine or pos_neg")
        if self.label_scoring == "pos_neg" and not self.negative_templates:
            raise ConfigError(f"dataset {self.name!r}: label_scoring pos_neg needs negative_templates")
        if self.threshold_rule not in ("youden", "sensitivity"):
            raise ConfigError(f"dataset {self.name!r}: threshold_rule must be youden or sensitivity")


@dataclass
class SuiteSpec:
    """A named collection of datasets, template sets and optional retrieval sets."""

    name: str
    description: str = ""
    data_root: str | None = None  # default root (relative to the working directory); --data-root overrides
    template_sets: dict = field(default_factory=dict)  # name -> list of templates
    datasets: list[DatasetSpec] = field(default_factory=list)
    retrieval: list[dict] = field(default_factory=list)  # {name, path, max_samples}: shard folders
    training_templates_note: str = ""  # how the eval templates relate to the training captions
    npz_size: int = 224  # npz layout: image size of MedMNIST+ files ({size} in dataset paths; 28, 64, 128, 224)

    def validate(self) -> None:
        if not self.datasets:
            raise ConfigError(f"suite {self.name!r} has no datasets")
        for k, v in self.template_sets.items():
            if not isinstance(v, list) or not v or not all(isinstance(t, str) for t in v):
                raise ConfigError(f"suite {self.name!r}: template_sets.{k} must be a non-empty list of strings")
        names = [d.name for d in self.datasets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"suite {self.name!r}: duplicate dataset names {dup}")
        for d in self.datasets:
            if d.template_set is not None:
                if d.template_set not in self.template_sets:
                    raise ConfigError(
                        f"dataset {d.name!r}: unknown template_set {d.template_set!r}; "
                        f"defined: {', '.join(self.template_sets) or 'none'}"
                    )
                d.templates = list(self.template_sets[d.template_set])
            if not d.templates and not all(c.prompts for c in d.classes):
                raise ConfigError(f"dataset {d.name!r}: no templates (and not every class has explicit prompts)")
            if d.n_templates is not None and d.templates and d.n_templates != len(d.templates):
                raise ConfigError(
                    f"dataset {d.name!r}: n_templates is {d.n_templates} but {len(d.templates)} templates are given"
                )
            if d.shift_of is not None and d.shift_of not in names:
                raise ConfigError(f"dataset {d.name!r}: shift_of names unknown dataset {d.shift_of!r}")
        for r in self.retrieval:
            if not isinstance(r, dict) or "name" not in r or "path" not in r:
                raise ConfigError(f"suite {self.name!r}: retrieval entries need 'name' and 'path', got {r!r}")


def class_prompts(ds: DatasetSpec) -> list[list[str]]:
    """The prompt list of every class: explicit ``prompts``, else (name + synonyms) x templates."""
    from .classifier import expand_prompts

    return [list(c.prompts) if c.prompts else expand_prompts([c.name, *c.synonyms], ds.templates) for c in ds.classes]


def negative_prompts(ds: DatasetSpec) -> list[list[str]]:
    """Per label, (name + synonyms) x ``negative_templates`` (the CheXzero negative prompt of ``pos_neg``)."""
    from .classifier import expand_prompts

    return [expand_prompts([c.name, *c.synonyms], ds.negative_templates) for c in ds.classes]


def suite_path(name_or_path: str | Path) -> Path:
    """Resolve ``demo`` to ``configs/eval/demo.yaml``; paths are returned as they are."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise ConfigError(f"suite file not found: {p}")
        return p
    builtin = CONFIG_DIR / f"{name_or_path}.yaml"
    if not builtin.is_file():
        known = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml"))
        import difflib

        close = difflib.get_close_matches(str(name_or_path), known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else f" Built-in suites: {', '.join(known)}."
        raise ConfigError(f"unknown suite {str(name_or_path)!r}.{hint}")
    return builtin


def list_suites() -> list[tuple[str, str]]:
    """``(name, description)`` of every built-in suite, sorted by name."""
    out = []
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        out.append((path.stem, str(read_yaml(path).get("description", "")).strip()))
    return out


def load_suite(name_or_path: str | Path, data_root: str | Path | None = None) -> SuiteSpec:
    """Load and validate a suite; ``data_root`` overrides the suite's own root."""
    path = suite_path(name_or_path)
    data = read_yaml(path)
    try:
        suite = from_dict(SuiteSpec, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    if data_root is not None:
        suite.data_root = str(data_root)
    return suite


def dataset_dir(suite: SuiteSpec, ds: DatasetSpec, path: str | None = None) -> Path:
    """Absolute location of a dataset (``path`` defaults to ``ds.path``) under the suite's data root."""
    p = Path(path if path is not None else ds.path).expanduser()
    if p.is_absolute() or suite.data_root is None:
        return p
    return Path(suite.data_root).expanduser() / p


def select(suite: SuiteSpec, names: list[str] | None) -> list[DatasetSpec]:
    """The datasets named in ``names`` (all when None); unknown names raise ConfigError."""
    if not names:
        return list(suite.datasets)
    by_name = {d.name: d for d in suite.datasets}
    out = []
    for n in names:
        if n not in by_name:
            import difflib

            close = difflib.get_close_matches(n, list(by_name), n=3, cutoff=0.4)
            raise ConfigError(
                f"suite {suite.name!r} has no dataset {n!r}." + (f" Did you mean: {', '.join(close)}?" if close else "")
            )
        out.append(by_name[n])
    return out


def replace_path(ds: DatasetSpec, path: str) -> DatasetSpec:
    """A copy of ``ds`` reading from ``path`` (e.g. the demo val split for in-training evaluation)."""
    return dataclasses.replace(ds, path=path)
