"""The model card (``README.md``) of a ``medclip-export`` folder, from the config, manifest and eval report."""

from __future__ import annotations


def _towers(model_cfg: dict) -> tuple[str, str]:
    v, t = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    if v.get("timm_model_name"):
        vision = f"timm `{v['timm_model_name']}`, {v.get('image_size')} px"
    else:
        vision = (
            f"open_clip ViT, {v.get('image_size')} px, patch {v.get('patch_size')}, width {v.get('width')}, "
            f"{v.get('layers')} layers"
        )
    if t.get("hf_model_name"):
        text = (
            f"Hugging Face `{t['hf_model_name']}` (config and tokenizer in this folder), "
            f"{t.get('hf_pooler_type', 'default')} pooling, {t.get('hf_proj_type', 'linear')} projection, "
            f"context {t.get('context_length')}"
        )
    else:
        text = (
            f"open_clip causal transformer, width {t.get('width')}, {t.get('layers')} layers, "
            f"context {t.get('context_length')}"
        )
    return vision, text


def _medclip_only(model_cfg: dict) -> list[str]:
    timm_name = model_cfg.get("vision_cfg", {}).get("timm_model_name", "")
    if timm_name.startswith("medclip_"):
        return [f"- note: `{timm_name}` is a timm architecture registered by medclip; loading needs `import medclip`"]
    return []


def _counts(counts: dict, limit: int = 30) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} {v:,}" for k, v in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _data_section(manifest: dict | None) -> list[str]:
    if manifest is None:
        return ["Not recorded (export with `--manifest <train shards>/manifest.json`)."]
    counts = manifest.get("counts", {})
    lines = [
        f"- shards: `{manifest.get('name', '?')}` split `{manifest.get('split', '?')}` "
        f"({manifest.get('format', '?')}), {manifest.get('num_samples', 0):,} samples in "
        f"{manifest.get('num_shards', 0)} shards",
    ]
    if counts.get("source"):
        lines.append(f"- sources: {_counts(counts['source'])}")
    if counts.get("modality"):
        lines.append(f"- modalities: {_counts(counts['modality'])}")
    if counts.get("label"):
        lines.append(f"- labels: {_counts(counts['label'])}")
    backend = (manifest.get("captions") or {}).get("backend")
    if backend:
        lines.append(f"- captions: `{backend}` backend")
    return lines


def _report_section(report: dict | None) -> list[str]:
    if report is None:
        return ["Not recorded (export with `--report <medclip-eval report>/report.json`)."]
    suite = report.get("suite", {}).get("name", "?")
    lines = [
        f"`medclip-eval` suite `{suite}`:",
        "",
        "| dataset | modality | metric | score (%) | n |",
        "|---|---|---|---|---|",
    ]
    for d in report.get("datasets", []):
        if d.get("status") != "ok":
            lines.append(f"| {d['name']} | {d.get('modality', '')} | {d.get('metric', '')} | missing | |")
            continue
        score = d.get("metrics", {}).get(d["metric"])
        shown = "" if score is None else f"{100 * score:.2f}"
        lines.append(f"| {d['name']} | {d['modality']} | {d['metric']} | {shown} | {d.get('n_samples', '')} |")
    agg = report.get("aggregate", {})
    if agg.get("mean_over_datasets") is not None:
        lines += [
            "",
            f"Mean over datasets {100 * agg['mean_over_datasets']:.2f} %, mean of per-modality means "
            f"{100 * agg['mean_of_modality_means']:.2f} %.",
        ]
    return lines


def model_card(config: dict, n_params: int, manifest: dict | None, report: dict | None) -> str:
    """Markdown model card with hub front matter.

    Args:
        config: the exported ``open_clip_config.json`` content (``model_cfg``, ``preprocess_cfg``, ``medclip``).
        n_params: number of model parameters.
        manifest: the training shards' manifest, or None.
        report: a ``medclip-eval`` report, or None.
    """
    meta = config.get("medclip", {})
    model_cfg = config["model_cfg"]
    vision, text = _towers(model_cfg)
    name = meta.get("name", "model")
    where = f"hf-hub:{meta['hub_id']}" if meta.get("hub_id") else "local-dir:<this folder>"
    lines = [
        "---",
        "library_name: open_clip",
        "pipeline_tag: zero-shot-image-classification",
        "tags: [clip, medical-imaging, medclip]",
        "---",
        "",
        f"# {name} (medclip export)",
        "",
        "## Architecture",
        "",
        f"- `{name}`: CLIP dual encoder, embedding dimension {model_cfg.get('embed_dim')}, {n_params:,} parameters",
        f"- image tower: {vision}",
        f"- text tower: {text}",
        f"- trained {meta.get('step')} steps ({meta.get('epoch')} epochs)",
        *_medclip_only(model_cfg),
        "",
        "## Usage",
        "",
        "```python",
        "import open_clip",
        f'model, preprocess = open_clip.create_model_from_pretrained("{where}")',
        f'tokenizer = open_clip.get_tokenizer("{where}")',
        "```",
        "",
        "## Training data",
        "",
        *_data_section(manifest),
        "",
        "## Zero-shot evaluation",
        "",
        *_report_section(report),
        "",
        "## Intended use",
        "",
        "Research on medical vision-language models: zero-shot and few-shot classification, retrieval and",
        "benchmarking. Not a medical device; not for diagnosis, triage or any clinical decision.",
        "",
        "## Limitations",
        "",
        "- Scores hold only for the data and prompts above; expect lower accuracy on other scanners, sites,",
        "  populations and image conditions (the suite's shifted sets give one measure of that).",
        "- Zero-shot predictions depend on the prompt wording; use the evaluation suite's templates.",
        "- Captions used in training may be generated from labels; the model can learn their phrasing",
        "  rather than the images' content.",
        "- A model trained on the procedural demo data is a pipeline check, not a medical model.",
        "",
    ]
    return "\n".join(lines)
