"""Checks DIR/report against the records it was made from, independently of framelabel's code.

Recomputes from frames.jsonl, run.json, annotations.json and predictions.json: the per-video counts,
the per-class table (COCO small/medium/large), the histograms' totals, the threshold curves at the
thresholds used; compares them with summary.json and with the numbers in index.html's tables; checks
that every file the page references exists, that every plot is a PNG, and that the annotated
previews have boxes drawn where there are boxes and nothing drawn where there are none.
Prints a JSON line of what it checked; exits non-zero with a message on the first mismatch.
"""

import json
import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote

import cv2
import numpy as np

REASONS = ["dark", "bright", "noisy", "blurry", "still", "duplicate", "empty", "missing"]


def fail(msg):
    sys.exit(f"report_check: {msg}")


def close(a, b, tol=1e-3):
    return abs(a - b) <= tol


def load(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables = {}
        self.table = None
        self.row = None
        self.cell = None
        self.refs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
            self.tables[self.table] = []
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        for key in ("src", "href"):
            v = a.get(key)
            if v and not v.startswith("#"):
                self.refs.append(v)

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.table].append(self.row)
            self.row = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def cell_number(text):
    return None if text in ("–", "") else float(text)


def main():
    d = sys.argv[1]
    rep = os.path.join(d, "report")
    s = load(os.path.join(rep, "summary.json"))
    if s is None:
        fail("no report/summary.json")
    run = load(os.path.join(d, "run.json"), {})
    with open(os.path.join(d, "frames.jsonl")) as f:
        frames = [json.loads(line) for line in f if line.strip()]
    ann = load(os.path.join(d, "annotations.json"))
    preds = load(os.path.join(d, "predictions.json"))

    # Boxes per image file name.
    boxes_of = {}
    if ann is not None:
        name_of = {im["id"]: im["file_name"] for im in ann["images"]}
        for im in ann["images"]:
            boxes_of[im["file_name"]] = []
        for a in ann["annotations"]:
            boxes_of[name_of[a["image_id"]]].append(a)

    # Per-video counts.
    expected = {}
    for v in run.get("videos", []):
        expected[v["video"]] = {"decoded": v["decoded"], "sampled": 0, "kept": 0, "labelled": 0,
                                "boxes": 0, "rejected": {r: 0 for r in REASONS}}
    for r in frames:
        e = expected.setdefault(r["video"], {"decoded": None, "sampled": 0, "kept": 0, "labelled": 0,
                                             "boxes": 0, "rejected": {x: 0 for x in REASONS}})
        e["sampled"] += 1
        if r["status"] == "kept":
            e["kept"] += 1
            n = len(boxes_of.get(os.path.basename(r.get("file", "")), []))
            e["labelled"] += n > 0
            e["boxes"] += n
        else:
            e["rejected"][r["status"]] += 1
    got = {v["video"]: v for v in s["videos"]}
    if set(got) != set(expected):
        fail(f"videos {sorted(got)} != {sorted(expected)}")
    totals = {"sampled": 0, "kept": 0, "labelled": 0, "boxes": 0, "rejected": {r: 0 for r in REASONS}}
    for name, e in expected.items():
        g = got[name]
        for k in ("decoded", "sampled", "kept", "labelled", "boxes"):
            if g[k] != e[k]:
                fail(f"{name}: {k} {g[k]} != {e[k]}")
        if g["rejected"] != e["rejected"]:
            fail(f"{name}: rejected {g['rejected']} != {e['rejected']}")
        for k in ("sampled", "kept", "labelled", "boxes"):
            totals[k] += e[k]
        for r in REASONS:
            totals["rejected"][r] += e["rejected"][r]
    for k in ("sampled", "kept", "labelled", "boxes"):
        if s["totals"][k] != totals[k]:
            fail(f"totals {k} {s['totals'][k]} != {totals[k]}")
    if s["totals"]["rejected"] != totals["rejected"]:
        fail(f"totals rejected {s['totals']['rejected']} != {totals['rejected']}")

    # Per-class table.
    classes = {}
    if ann is not None:
        cat = {c["id"]: c["name"] for c in ann["categories"]}
        for a in ann["annotations"]:
            c = classes.setdefault(a["category_id"], {"name": cat[a["category_id"]], "boxes": 0,
                                                      "images": set(), "small": 0, "medium": 0,
                                                      "large": 0, "scores": []})
            c["boxes"] += 1
            c["images"].add(a["image_id"])
            area = a["bbox"][2] * a["bbox"][3]
            c["small" if area < 32 ** 2 else "medium" if area < 96 ** 2 else "large"] += 1
            c["scores"].append(a["score"])
    got = {c["id"]: c for c in s["classes"]}
    for cid, c in classes.items():
        g = got.get(cid)
        if g is None:
            fail(f"class {c['name']} missing from the summary")
        for k in ("boxes", "small", "medium", "large"):
            if g[k] != c[k]:
                fail(f"class {c['name']}: {k} {g[k]} != {c[k]}")
        if g["images"] != len(c["images"]) or g["name"] != c["name"]:
            fail(f"class {c['name']}: images {g['images']} != {len(c['images'])}")
        if not close(g["mean_score"], sum(c["scores"]) / len(c["scores"]), 1e-4):
            fail(f"class {c['name']}: mean score {g['mean_score']}")
    for cid, g in got.items():
        if cid not in classes and g["boxes"] != 0:
            fail(f"class {g['name']} has {g['boxes']} boxes in the summary, none in annotations.json")
    if s["boxes"] != (len(ann["annotations"]) if ann else 0):
        fail("boxes total")

    # Histograms hold every value once.
    hist = {h["name"]: h for h in s["histograms"]}
    for name in ("sharpness", "entropy", "noise", "brightness"):
        if sum(hist[name]["counts"]) != len(frames):
            fail(f"histogram {name}: {sum(hist[name]['counts'])} values for {len(frames)} frames")
    q = run.get("parameters", {}).get("quality", {})
    if q and not close(hist["sharpness"]["thresholds"][0][1], q["min_sharpness"], 1e-9):
        fail("sharpness threshold")
    if ann is not None and sum(hist["score"]["counts"]) != len(ann["annotations"]):
        fail("score histogram")

    # Curves at the thresholds used.
    conf = s["curves"]["confidence"]
    if ann is not None:
        used = run["label"]["parameters"]["confidence"]
        if conf is None or not close(conf["threshold"], used, 1e-6):
            fail("confidence curve")
        for p in conf["points"]:
            t = p["threshold"]
            b = [a for a in ann["annotations"] if a["score"] >= t]
            if p["boxes"] != len(b) or p["images"] != len({a["image_id"] for a in b}):
                fail(f"confidence curve at {t}: {p} vs {len(b)} boxes")
            if preds is not None and p["detections"] != sum(1 for x in preds if x["score"] >= t):
                fail(f"confidence curve at {t}: detections {p['detections']}")
        first = conf["points"][0]
        if not close(first["threshold"], used, 1e-6) or first["boxes"] != len(ann["annotations"]):
            fail("confidence curve does not start at the threshold used with every box")
    dedup = s["curves"]["dedup"]
    if "dedup" in run:
        used = run["dedup"]["parameters"]["threshold"]
        at = [n for t, n in dedup["points"] if close(t, used, 1e-6)]
        survivors = sum(1 for r in frames if r["status"] in ("kept", "empty"))
        replayed_exactly = dedup["source"] != "similarities" and "approximate" not in dedup["source"]
        if replayed_exactly and at != [survivors]:
            fail(f"dedup curve at {used}: {at} != {survivors} frames kept by dedup")
        counts = [n for _, n in dedup["points"]]
        if counts != sorted(counts):
            fail(f"dedup curve not monotone: {counts}")

    # The page: tables equal the summary, every reference exists.
    page = Page()
    with open(os.path.join(rep, "index.html")) as f:
        page.feed(f.read())
    rows = page.tables.get("videos")
    if rows is None:
        fail("no videos table")
    header = rows[0]
    by_video = {r[0]: r for r in rows[1:]}
    for v in s["videos"] + [s["totals"]]:
        r = by_video.get(v["video"])
        if r is None:
            fail(f"video {v['video']} not on the page")
        cells = dict(zip(header, r))
        for k in ("sampled", "kept", "labelled", "boxes"):
            if cell_number(cells[k]) != v[k]:
                fail(f"page: {v['video']} {k} {cells[k]} != {v[k]}")
        if cell_number(cells["decoded"]) != v["decoded"]:
            fail(f"page: {v['video']} decoded {cells['decoded']}")
        for reason in REASONS:
            if cell_number(cells[reason]) != v["rejected"][reason]:
                fail(f"page: {v['video']} {reason}")
    if s["classes"]:
        rows = page.tables["classes"]
        header = rows[0]
        shown = {r[0]: dict(zip(header, r)) for r in rows[1:]}
        for c in s["classes"]:
            cells = shown[c["name"]]
            for k in ("boxes", "images", "small", "medium", "large"):
                if cell_number(cells[k]) != c[k]:
                    fail(f"page: class {c['name']} {k}")
            if c["mean_score"] is not None and not close(cell_number(cells["mean score"]), c["mean_score"], 1e-4):
                fail(f"page: class {c['name']} mean score")
    for ref in page.refs:
        if "://" in ref:
            fail(f"page references the network: {ref}")
        if not os.path.exists(os.path.join(rep, unquote(ref))):
            fail(f"page references {ref}, which does not exist")
    for p in s["plots"]:
        with open(os.path.join(rep, p["file"]), "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                fail(f"{p['file']} is not a PNG")
        if p["file"] not in page.refs:
            fail(f"{p['file']} not on the page")

    # Previews: boxes drawn exactly where there are boxes.
    for p in s["previews"]:
        drawn = cv2.imread(os.path.join(rep, p["file"]))
        source = cv2.imread(os.path.join(d, p["source"]))
        if drawn is None or source is None or drawn.shape != source.shape:
            fail(f"preview {p['file']} does not match {p['source']}")
        diff = np.abs(drawn.astype(int) - source.astype(int)).max(axis=2)
        changed = (diff > 60).mean()
        n = len(boxes_of.get(os.path.basename(p["source"]), []))
        if n != p["boxes"]:
            fail(f"preview {p['file']}: {p['boxes']} boxes, annotations.json has {n}")
        if n > 0 and changed < 0.002:
            fail(f"preview {p['file']}: no box drawn ({changed:.4f} of pixels changed)")
        if n == 0 and changed > 0.0005:
            fail(f"preview {p['file']}: drawn on without boxes ({changed:.4f})")

    print(json.dumps({"videos": len(s["videos"]), "classes": len(s["classes"]), "refs": len(page.refs),
                      "previews": len(s["previews"]), "plots": len(s["plots"])}))


def screenshot(path):
    """A screenshot of the page is not blank: many pixels differ from the background, in several colours."""
    img = cv2.imread(path)
    if img is None:
        fail(f"{path}: not an image")
    background = np.median(img.reshape(-1, 3), axis=0)
    differ = (np.abs(img.astype(int) - background).max(axis=2) > 30).mean()
    colours = len(np.unique((img // 32).reshape(-1, 3), axis=0))
    if differ < 0.05 or colours < 8:
        fail(f"{path}: looks blank ({differ:.3f} of pixels differ from the background, {colours} colours)")
    print(json.dumps({"differ": round(float(differ), 3), "colours": colours, "shape": list(img.shape)}))


if sys.argv[1] == "--screenshot":
    screenshot(sys.argv[2])
else:
    main()
