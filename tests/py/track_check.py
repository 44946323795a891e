"""Reads the exports of `framelabel run --track` with the tools that consume them and prints, as JSON,
what each understood, for the Rust test to compare with tracks.jsonl, annotations.json and review.json.

    track_check.py mot DIR/export/mot          motmetrics' MOT reader (+ a self-evaluation)
    track_check.py cvat-video DIR/export/cvat-video   Datumaro's CVAT importer, one task per video
    track_check.py cvat DIR/export/cvat        Datumaro's CVAT importer (box attributes)
    track_check.py label-studio DIR/export/label-studio   label-studio-sdk's LabelInterface
"""

import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")


def videos(path):
    """The per-video folders of an export (not its marker file)."""
    return sorted(v for v in os.listdir(path) if os.path.isdir(os.path.join(path, v)))


def mot(path):
    import numpy as np

    # motmetrics 1.4.0, its latest release (2022), calls np.asfarray, which NumPy 2 removed.
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)
    import motmetrics as mm

    out = {}
    for video in videos(path):
        gt_path = os.path.join(path, video, "gt", "gt.txt")
        labels = [l.strip() for l in open(os.path.join(path, video, "gt", "labels.txt")) if l.strip()]
        gt = mm.io.loadtxt(gt_path, fmt="mot16")
        rows = [
            [int(f), int(i), float(r.X), float(r.Y), float(r.Width), float(r.Height),
             labels[int(r.ClassId) - 1]]
            for (f, i), r in gt.iterrows()
        ]
        # The tracks scored against themselves, and against themselves less one box.
        drop = gt.index[len(gt) // 2]
        scores = {}
        for name, hyp in [("self", gt), ("one_missing", gt.drop(drop))]:
            acc = mm.utils.compare_to_groundtruth(gt, hyp, "iou", distth=0.5)
            summary = mm.metrics.create().compute(
                acc, metrics=["num_frames", "mota", "num_misses", "num_switches", "num_objects"])
            scores[name] = {k: float(v) for k, v in summary.iloc[0].items()}
        ini = open(os.path.join(path, video, "seqinfo.ini")).read()
        out[video] = {"rows": rows, "scores": scores, "seqinfo": ini}
    return out


def cvat_video(path):
    import datumaro as dm

    out = {}
    for video in videos(path):
        ds = dm.Dataset.import_from(os.path.join(path, video), "cvat")
        labels = ds.categories()[dm.AnnotationType.label]
        rows, outside = [], 0
        for item in ds:
            frame = item.attributes["frame"]
            for a in item.annotations:
                if a.attributes.get("outside"):
                    outside += 1
                    continue
                x, y, w, h = a.get_bbox()
                rows.append([frame, a.attributes["track_id"], labels[a.label].name, x, y, w, h])
        out[video] = {"rows": sorted(rows), "outside": outside}
    return out


def cvat(path):
    import datumaro as dm

    ds = dm.Dataset.import_from(path, "cvat")
    out = {}
    for item in ds:
        name = os.path.basename(item.media.path)
        out[name] = [
            [a.attributes.get("track_id"), a.attributes.get("reasons")] for a in item.annotations
        ]
    return out


def label_studio(path):
    from label_studio_sdk.label_interface import LabelInterface

    li = LabelInterface(open(os.path.join(path, "labeling_config.xml")).read())
    tasks = json.load(open(os.path.join(path, "tasks.json")))
    out = []
    for t in tasks:
        url = t["data"]["image"]
        for pred in t["predictions"]:
            errors = li.validate_prediction(pred, return_errors=True)
            if errors:
                raise SystemExit(f"{url}: {errors}")
        detections = t["predictions"][0]
        suggestions = t["predictions"][1]["result"] if len(t["predictions"]) > 1 else []
        out.append({
            "image": url.rsplit("/", 1)[-1].rsplit("=", 1)[-1],
            "priority": t["data"]["priority"],
            "reasons": t["data"]["reasons"],
            "meta": [r.get("meta", {}).get("text", [""])[0] for r in detections["result"]],
            "suggestions": [r["meta"]["text"][0] for r in suggestions],
        })
    return out


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    run = {"mot": mot, "cvat-video": cvat_video, "cvat": cvat, "label-studio": label_studio}[fmt]
    print(json.dumps(run(path)))


if __name__ == "__main__":
    main()
