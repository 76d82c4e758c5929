"""bench/gpu_check.sh's own logic on the CPU (tiny model, --quick): throughput, kill and resume on the same
curve, a 2 x 2 ablation. On a lent GPU the same script runs gpt2-124m with compile + bf16."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_gpu_check_passes_its_own_logic_on_the_cpu(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--device", "cpu", "--quick", "--work",
                        str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    lines = r.stdout.splitlines()
    for check in ("throughput", "resume", "ablation"):
        assert any(ln.startswith(f"PASS {check}:") for ln in lines), r.stdout
    assert "gpu_check: 3 passed, 0 failed" in r.stdout
