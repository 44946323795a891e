"""Runs a command and prints its exit code and peak resident memory in kB (the kernel's account of
this process's only child), so a test can compare the memory of two runs."""
import resource
import subprocess
import sys

rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
