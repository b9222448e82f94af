"""The real-scale recipes load and build from small fixture files written in each release's on-disk layout:
configs/data/unimed.yaml (label CSVs, RadImageNet folders, MIMIC-CXR-JPG + reports, ROCOv2, PMC-OA,
Quilt-1M, LLaVA-Med) and configs/data/pmc_pairs.yaml (BIOMEDICA-style webdataset shards)."""

import csv
import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from data_pipelines.build import build
from data_pipelines.config import load_build_config

REPO = Path(__file__).resolve().parents[1]
_RNG = np.random.default_rng(11)


def _jpg(path: Path, rgb=False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (48, 56, 3) if rgb else (48, 56)
    Image.fromarray(_RNG.integers(0, 256, shape, dtype=np.uint8)).save(path, format="JPEG", quality=90)


def _csv(path: Path, header: list[str], rows: list[list], opener=open) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _unimed_fixtures(d: Path) -> None:
    d = d / "data" / "unimed"
    # CheXpert-v1.0-small: train.csv with Path relative to the folder above it, 14 label columns
    labels = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
              "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
              "Fracture", "Support Devices"]  # fmt: skip
    rows = []
    for i, pos in enumerate(["No Finding", "Cardiomegaly"]):
        p = f"CheXpert-v1.0-small/train/patient0000{i + 1}/study1/view1_frontal.jpg"
        _jpg(d / p)
        rows.append([p, "Female", 60, "Frontal", "PA"] + ["1.0" if c == pos else "" for c in labels])
    _csv(d / "CheXpert-v1.0-small" / "train.csv", ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *labels], rows)
    # NIH ChestX-ray14: Data_Entry_2017.csv
    for n in ("00000001_000.png", "00000002_000.png"):
        _jpg(d / "nih-cxr14" / "images" / n)
    _csv(d / "nih-cxr14" / "Data_Entry_2017.csv", ["Image Index", "Finding Labels", "Follow-up #", "Patient ID"],
         [["00000001_000.png", "Cardiomegaly", 0, 1], ["00000002_000.png", "No Finding", 0, 2]])  # fmt: skip
    # RadImageNet: radiology_ai/<modality>/<anatomy>/<label>/
    for mod, anat in (("CT", "abd"), ("MR", "knee"), ("US", "thyroid")):
        _jpg(d / "radiology_ai" / mod / anat / "normal" / f"{mod}-{anat}-1.png")
    # MIMIC-CXR-JPG: gzipped metadata, files/pXX/pSUBJECT/sSTUDY/DICOM.jpg; reports files/pXX/pSUBJECT/sSTUDY.txt
    meta = [["a1b2-01", "10000032", "50414267", "PA"], ["a1b2-02", "10000032", "50414267", "LATERAL"],
            ["c3d4-01", "11000011", "53189527", "AP"]]  # fmt: skip
    for dicom, sub, study, _ in meta:
        _jpg(d / "mimic-cxr-jpg" / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{study}" / f"{dicom}.jpg")
        rp = d / "mimic-cxr-reports" / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{study}.txt"
        rp.parent.mkdir(parents=True, exist_ok=True)
        rp.write_text("FINAL REPORT\n EXAMINATION: CHEST (PA AND LAT)\n FINDINGS: There is a small left pleural "
                      "effusion. No pneumothorax.\n IMPRESSION: Small left pleural effusion. Dr. John Smith was "
                      "paged at 555-123-4567 on 03/04/2021.\n")  # fmt: skip
    cols = ["dicom_id", "subject_id", "study_id", "ViewPosition"]
    _csv(d / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz", cols, meta, opener=gzip.open)
    # ROCOv2: train_captions.csv (ID, Caption), train/<ID>.jpg
    ids = ["ROCOv2_2023_train_000001", "ROCOv2_2023_train_000002"]
    for i in ids:
        _jpg(d / "rocov2" / "train" / f"{i}.jpg")
    _csv(d / "rocov2" / "train_captions.csv", ["ID", "Caption"],
         [[ids[0], "Axial CT showing a renal mass."], [ids[1], "Chest X-ray: right lower lobe opacity."]])  # fmt: skip
    # PMC-OA: train.jsonl + images/
    with open(_mk(d / "pmc_oa" / "train.jsonl"), "w") as f:
        for i in range(2):
            name = f"PMC21231{i}_Fig3_{i}.jpg"
            _jpg(d / "pmc_oa" / "images" / name, rgb=True)
            f.write(json.dumps({"image": name, "caption": f"A. Immunostaining of panel {i}.", "pmcid": "PMC212319",
                                "url_name": f"1471-2121-4-13-{i}.jpg"}) + "\n")  # fmt: skip
    # Quilt-1M: quilt_1M_lookup.csv + images/
    for n in ("q1.jpg", "q2.jpg"):
        _jpg(d / "quilt_1m" / "images" / n, rgb=True)
    _csv(d / "quilt_1m" / "quilt_1M_lookup.csv", ["caption", "image_path", "subset", "split", "pathology"],
         [["nests of atypical cells", "q1.jpg", "quilt", "train", "['Dermatopathology']"],
          ["glands in the stroma", "q2.jpg", "quilt", "val", "['Gastrointestinal']"]])  # fmt: skip
    # LLaVA-Med alignment: a JSON list of conversations
    conv = []
    for i in range(2):
        _jpg(d / "llava_med" / "images" / f"34{i}.jpg", rgb=True)
        conv.append({"id": f"PMC-{i}", "image": f"34{i}.jpg", "conversations": [
            {"from": "human", "value": "<image>\nDescribe the figure."},
            {"from": "gpt", "value": f"Histology of sample {i} showing necrosis."}]})  # fmt: skip
    (d / "llava_med" / "llava_med_alignment_500k.json").write_text(json.dumps(conv))


def _mk(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def test_unimed_recipe_builds_from_release_layouts(tmp_path, monkeypatch):
    _unimed_fixtures(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = load_build_config(str(REPO / "configs" / "data" / "unimed.yaml"), ["image.min_side=8"])
    rep = build(cfg, out=tmp_path / "out", workers=1, progress=False, log=lambda *a: None)
    man = json.loads((tmp_path / "out" / "train" / "manifest.json").read_text())
    assert man["counts"]["source"] == {
        "chexpert": 2, "nih_cxr14": 2, "radimagenet_ct_abd": 1, "radimagenet_mr_knee": 1, "radimagenet_us_thyroid": 1,
        "mimic_cxr": 2, "rocov2": 2, "pmc_oa": 2, "quilt": 1, "llava_med_alignment": 2,
    }  # fmt: skip
    assert rep.splits["val"]["samples"] == 1  # the Quilt row with split=val
    assert man["skipped"]["by_reason"] == {"filtered": 1}  # the MIMIC lateral view
    assert man["near_duplicates"]["pairs"] == {} and man["near_duplicates"]["mode"] == "drop"
    metas = []
    for tar in (tmp_path / "out" / "train").glob("*.tar"):
        with tarfile.open(tar) as tf:
            metas += [json.loads(tf.extractfile(m).read()) for m in tf if m.name.endswith(".json")]
    by = {}
    for m in metas:
        by.setdefault(m["source"], []).append(m)
    mimic = by["mimic_cxr"][0]
    assert set(mimic["caption_kinds"]) == {"report"} and "pleural effusion" in " ".join(mimic["captions"]).lower()
    assert "Smith" not in json.dumps(metas) and "555-123-4567" not in json.dumps(metas)
    assert {m["source_id"] for m in by["mimic_cxr"]} == {"a1b2-01", "c3d4-01"}
    assert by["llava_med_alignment"][0]["captions"][0].startswith("Histology of sample")
    assert sorted(m["labels"] for m in by["chexpert"]) == [["cardiomegaly"], ["normal"]]  # "No Finding" -> normal
    assert {k for m in by["chexpert"] for k in m["caption_kinds"]} == {"llm_template"}


def test_pmc_pairs_recipe_reshards_webdataset(tmp_path, monkeypatch):
    d = tmp_path / "data" / "pmc_pairs" / "shards"
    d.mkdir(parents=True)
    with tarfile.open(d / "biomedica-000000.tar", "w") as tf:
        rows = [("Figure 1. CT of the abdomen.", True), ("No caption found", True),
                ("Figure 3. MRI of the knee.", False), ("Figure 4. H&E stain.", True)]  # fmt: skip
        for i, (cap, img) in enumerate(rows):
            buf = io.BytesIO()
            Image.fromarray(_RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, format="PNG")
            members = {"txt": cap.encode(), "json": json.dumps({"license": "CC BY", "pmid": i}).encode()}
            if img:
                members["png"] = buf.getvalue()
            for ext, data in members.items():
                ti = tarfile.TarInfo(f"PMC{i}_fig{i}.{ext}")
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    monkeypatch.chdir(tmp_path)
    cfg = load_build_config(str(REPO / "configs" / "data" / "pmc_pairs.yaml"), [])
    rep = build(cfg, out=tmp_path / "out", workers=1, progress=False, log=lambda *a: None)
    assert rep.splits["train"]["samples"] == 2
    assert rep.splits["train"]["skipped"] == {"empty_text": 1, "missing_image": 1}
    with tarfile.open(next((tmp_path / "out" / "train").glob("*.tar"))) as tf:
        metas = [json.loads(tf.extractfile(m).read()) for m in tf if m.name.endswith(".json")]
        exts = sorted(m.name.rsplit(".", 1)[1] for m in tf)
    assert {m["license"] for m in metas} == {"CC BY"} and exts.count("png") == 2  # original bytes kept
    assert sorted(m["captions"][0] for m in metas) == ["Figure 1. CT of the abdomen.", "Figure 4. H&E stain."]
