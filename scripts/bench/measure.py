"""Runs a command (its output discarded) and prints its wall seconds and peak RSS in MB, from the
kernel's accounting of the child: "SECONDS MB". Fails as the command fails.

usage: python measure.py COMMAND [ARG...]
"""
import resource
import subprocess
import sys
import time

t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t = time.perf_counter() - t
print(f"{t:.4f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f}")
