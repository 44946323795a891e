"""Loads a framelabel dataset with pycocotools, as training and evaluation code does.

usage: coco_check.py ANNOTATIONS.json PREDICTIONS.json ; prints counts as JSON
"""
import json
import sys

from pycocotools.coco import COCO

gt = COCO(sys.argv[1])
res = gt.loadRes(sys.argv[2]) if gt.dataset["images"] else None
print(json.dumps({
    "images": len(gt.getImgIds()),
    "annotations": len(gt.getAnnIds()),
    "categories": len(gt.getCatIds()),
    "person_annotations": len(gt.getAnnIds(catIds=gt.getCatIds(catNms=["person"]))),
    "results": len(res.getAnnIds()) if res else 0,
}))
