"""Reads a framelabel export with the importer of the tool that consumes it and prints what that
importer understood, as JSON, for the Rust test to compare with annotations.json.

usage: export_check.py FORMAT EXPORT_PATH DATASET_DIR [--with-scores] [--coco COCO_EXPORT]

Output: {"classes": [names in class order], "images": {file_name: [[class, x0, y0, x1, y1, score]]},
"subsets": {file_name: subset}} with boxes in pixels; score is null where the format has none, and
the subset is the one the consumer read the image in ("default" without a split). Any format error
raises (exit 1).

- yolo: Datumaro's YOLO importer, plus a strict parser with Ultralytics' own label checks
  (five columns, class in range, coordinates normalised, no duplicate rows, one label file per image)
  that reads each subset data.yaml names and finds labels by Ultralytics' images -> labels rule.
- coco: Datumaro's COCO importer, and pycocotools' COCO on each annotations/instances_*.json.
- voc, cvat: an XML Schema check (tests/schemas/*.xsd, with lxml), then Datumaro's importer (the
  library CVAT uses to import datasets).
- label-studio: label-studio-sdk's LabelInterface built from the exported labeling config validates
  every prediction (control names, labels, geometry bounds).
- coco-results: pycocotools' COCO.loadRes against DATASET_DIR/annotations.json; split
  (results_SUBSET.json), against the COCO export's instances_SUBSET.json given by --coco.
"""

import json
import os
import sys
import warnings
from contextlib import redirect_stdout

warnings.filterwarnings("ignore")

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schemas")


def image_size(path):
    import cv2

    im = cv2.imread(path)
    if im is None:
        raise SystemExit(f"{path}: not a readable image")
    return im.shape[1], im.shape[0]


def datumaro_boxes(path, fmt):
    import datumaro as dm

    ds = dm.Dataset.import_from(path, fmt)
    labels = ds.categories()[dm.AnnotationType.label]
    out = {}
    subsets = {}
    for item in ds:
        name = os.path.basename(item.media.path)
        if name in subsets:
            raise SystemExit(f"{name} is in subsets {subsets[name]} and {item.subset}")
        subsets[name] = item.subset
        boxes = out.setdefault(name, [])
        for a in item.annotations:
            if a.type != dm.AnnotationType.bbox:
                raise SystemExit(f"{name}: unexpected annotation type {a.type}")
            x, y, w, h = a.get_bbox()
            score = a.attributes.get("score")
            boxes.append(
                [labels[a.label].name, x, y, x + w, y + h, None if score is None else float(score)]
            )
    return [l.name for l in labels], out, subsets


def strict_yolo(path, with_scores):
    import yaml

    data = yaml.safe_load(open(os.path.join(path, "data.yaml")))
    for key in ("train", "val", "names"):
        if key not in data:
            raise SystemExit(f"data.yaml: no '{key}'")
    names = data["names"]
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise SystemExit(f"data.yaml: names keys are not 0..n-1: {sorted(names)}")
        names = [names[i] for i in range(len(names))]
    if data.get("nc", len(names)) != len(names):
        raise SystemExit("data.yaml: nc disagrees with names")
    # Every image of each subset data.yaml names, its label file found as Ultralytics finds it
    # (the last /images/ of the path replaced by /labels/); no label file without an image.
    images = []
    subsets = {}
    split = data["val"] != data["train"]
    for key in ("train", "val", "test") if split else ("train",):
        if key not in data:
            continue
        root = os.path.join(path, data[key])
        for f in sorted(os.listdir(root)):
            if f in subsets:
                raise SystemExit(f"{f} is in subsets {subsets[f]} and {key}")
            subsets[f] = key if split else "default"
            images.append(os.path.join(root, f))
    labelled = set()
    for im in images:
        a, b = os.sep + "images" + os.sep, os.sep + "labels" + os.sep
        labelled.add(b.join(im.rsplit(a, 1)).rsplit(".", 1)[0] + ".txt")
    for dirpath, _, files in os.walk(os.path.join(path, "labels")):
        for lf in files:
            if os.path.join(dirpath, lf) not in labelled:
                raise SystemExit(f"{os.path.join(dirpath, lf)}: no image")
    cols = 6 if with_scores else 5
    out = {}
    for im in images:
        f = os.path.basename(im)
        w, h = image_size(im)
        a, b = os.sep + "images" + os.sep, os.sep + "labels" + os.sep
        lf = b.join(im.rsplit(a, 1)).rsplit(".", 1)[0] + ".txt"
        if not os.path.isfile(lf):
            raise SystemExit(f"{lf}: missing (negatives need an empty file)")
        rows = []
        seen = set()
        for n, line in enumerate(open(lf).read().splitlines(), 1):
            parts = line.split()
            if len(parts) != cols:
                raise SystemExit(f"{lf}:{n}: {len(parts)} columns, want {cols}")
            v = [float(p) for p in parts]
            if v[0] != int(v[0]) or not 0 <= v[0] < len(names):
                raise SystemExit(f"{lf}:{n}: class {parts[0]} out of range")
            if not all(0.0 <= c <= 1.0 for c in v[1:5]):
                raise SystemExit(f"{lf}:{n}: coordinates not normalised")
            if v[3] <= 0 or v[4] <= 0:
                raise SystemExit(f"{lf}:{n}: empty box")
            if line in seen:
                raise SystemExit(f"{lf}:{n}: duplicate row")
            seen.add(line)
            cx, cy, bw, bh = v[1] * w, v[2] * h, v[3] * w, v[4] * h
            rows.append(
                [names[int(v[0])], cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2,
                 v[5] if with_scores else None]
            )
        out[f] = rows
    return names, out, subsets


def schema_check(xml_files, xsd):
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(os.path.join(SCHEMAS, xsd)))
    for f in xml_files:
        doc = etree.parse(f)
        if not schema.validate(doc):
            raise SystemExit(f"{f}: {schema.error_log.last_error}")


def coco_boxes(gt, res):
    """{file_name: rows} of pycocotools' COCO `gt` with the boxes of `res` (gt itself if None)."""
    cats = {c["id"]: c["name"] for c in gt.loadCats(gt.getCatIds())}
    src = gt if res is None else res
    out = {}
    for img in gt.loadImgs(gt.getImgIds()):
        rows = []
        for a in src.loadAnns(src.getAnnIds(imgIds=[img["id"]])):
            x, y, w, h = a["bbox"]
            rows.append([cats[a["category_id"]], x, y, x + w, y + h, a.get("score")])
        out[img["file_name"]] = rows
    return [cats[i] for i in sorted(cats)], out


def load_coco(path):
    from pycocotools.coco import COCO

    with redirect_stdout(sys.stderr):
        return COCO(path)


def main():
    fmt, path, dataset = sys.argv[1], sys.argv[2], sys.argv[3]
    with_scores = "--with-scores" in sys.argv
    if fmt == "yolo":
        names, strict, subsets = strict_yolo(path, with_scores)
        if with_scores:
            # Six columns are for review tools; Datumaro and `yolo train` read five.
            print(json.dumps({"classes": names, "images": strict, "subsets": subsets}))
            return
        dm_names, dm_boxes, dm_subsets = datumaro_boxes(path, "yolo")
        if dm_names != names:
            raise SystemExit(f"Datumaro reads classes {dm_names}, the strict parser {names}")
        if dm_subsets != subsets:
            raise SystemExit(f"Datumaro reads subsets {dm_subsets}, the strict parser {subsets}")
        for f, rows in strict.items():
            got = sorted(b[:5] for b in dm_boxes.get(f, []))
            want = sorted(b[:5] for b in rows)
            if len(got) != len(want) or any(
                g[0] != w[0] or max(abs(a - b) for a, b in zip(g[1:], w[1:])) > 0.01
                for g, w in zip(got, want)
            ):
                raise SystemExit(f"{f}: Datumaro and the strict parser disagree")
        print(json.dumps({"classes": names, "images": strict, "subsets": subsets}))
    elif fmt == "coco":
        ann = os.path.join(path, "annotations")
        names, boxes, subsets = None, {}, {}
        for f in sorted(os.listdir(ann)):
            subset = f[len("instances_"):-len(".json")]
            gt = load_coco(os.path.join(ann, f))
            n, b = coco_boxes(gt, None)
            names = names or n
            for name, rows in b.items():
                if name in subsets:
                    raise SystemExit(f"{name} is in {subsets[name]} and {subset}")
                subsets[name] = subset
                boxes[name] = rows
        dm_names, dm_boxes, dm_subsets = datumaro_boxes(path, "coco_instances")
        if dm_names != names or dm_subsets != subsets or set(dm_boxes) != set(boxes):
            raise SystemExit("Datumaro and pycocotools read different classes, subsets or images")
        print(json.dumps({"classes": names, "images": boxes, "subsets": subsets}))
    elif fmt == "voc":
        ann = os.path.join(path, "Annotations")
        schema_check([os.path.join(ann, f) for f in sorted(os.listdir(ann))], "voc.xsd")
        names, boxes, subsets = datumaro_boxes(path, "voc_detection")
        # Datumaro adds VOC's "background" class in front of a custom label map.
        names = [n for n in names if n != "background"]
        print(json.dumps({"classes": names, "images": boxes, "subsets": subsets}))
    elif fmt == "cvat":
        schema_check([os.path.join(path, "annotations.xml")], "cvat.xsd")
        names, boxes, subsets = datumaro_boxes(path, "cvat")
        print(json.dumps({"classes": names, "images": boxes, "subsets": subsets}))
    elif fmt == "label-studio":
        from label_studio_sdk.label_interface import LabelInterface

        li = LabelInterface(open(os.path.join(path, "labeling_config.xml")).read())
        names = li.get_control("label").labels
        tasks = json.load(open(os.path.join(path, "tasks.json")))
        out = {"classes": names, "images": {}, "urls": [], "subsets": {}}
        for t in tasks:
            url = t["data"]["image"]
            out["urls"].append(url)
            (pred,) = t["predictions"]
            errors = li.validate_prediction(pred, return_errors=True)
            if errors:
                raise SystemExit(f"{url}: {errors}")
            if not pred.get("model_version"):
                raise SystemExit(f"{url}: no model_version")
            rows = []
            for r in pred["result"]:
                v, w, h = r["value"], r["original_width"], r["original_height"]
                (label,) = v["rectanglelabels"]
                x0, y0 = v["x"] / 100 * w, v["y"] / 100 * h
                rows.append(
                    [label, x0, y0, x0 + v["width"] / 100 * w, y0 + v["height"] / 100 * h, r["score"]]
                )
            name = url.rsplit("/", 1)[-1].rsplit("=", 1)[-1]
            out["images"][name] = rows
            out["subsets"][name] = t["data"].get("subset", "default")
        print(json.dumps(out))
    elif fmt == "coco-results":
        files = sorted(f for f in os.listdir(path) if f.startswith("results"))
        if files == ["results.json"]:
            pairs = [("default", "results.json", os.path.join(dataset, "annotations.json"))]
        else:
            coco = sys.argv[sys.argv.index("--coco") + 1]
            pairs = [
                (f[len("results_"):-len(".json")], f,
                 os.path.join(coco, "annotations", "instances_" + f[len("results_"):]))
                for f in files
            ]
        out = {"classes": None, "images": {}, "subsets": {}}
        for subset, f, gt_path in pairs:
            gt = load_coco(gt_path)
            # loadRes fails on an empty list (it reads element 0): no box, nothing to load.
            empty = json.load(open(os.path.join(path, f))) == []
            with redirect_stdout(sys.stderr):
                res = None if empty else gt.loadRes(os.path.join(path, f))
            names, boxes = coco_boxes(gt, res)
            if empty:
                boxes = {k: [] for k in boxes}
            out["classes"] = names
            out["images"].update(boxes)
            out["subsets"].update({k: subset for k in boxes})
        print(json.dumps(out))
    else:
        raise SystemExit(f"unknown format {fmt}")


if __name__ == "__main__":
    main()
