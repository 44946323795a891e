"""Reads a Kubernetes manifest file and prints, as JSON, what a test needs of each Job in it: its
name, completions, completion mode, and its first container's command, args and plain env values.

    k8s_job.py MANIFEST.yaml
"""
import json
import sys

import yaml

jobs = []
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if not doc or doc.get("kind") != "Job":
        continue
    spec = doc["spec"]
    c = spec["template"]["spec"]["containers"][0]
    jobs.append({
        "name": doc["metadata"]["name"],
        "completions": spec.get("completions"),
        "completion_mode": spec.get("completionMode"),
        "command": c.get("command", []) + c.get("args", []),
        "env": {e["name"]: e["value"] for e in c.get("env", []) if "value" in e},
    })
print(json.dumps(jobs))
