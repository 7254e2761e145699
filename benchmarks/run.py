"""Run every benchmark in this folder, each in its own process (`make bench`)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

failed = 0
for script in sorted(HERE.glob("bench_*.py")):
    failed |= subprocess.run([sys.executable, str(script)], cwd=HERE).returncode  # noqa: S603
sys.exit(failed)
