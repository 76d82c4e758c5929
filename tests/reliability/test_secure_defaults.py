"""Secure defaults (issue #14, item 7): nothing this project starts listens beyond 127.0.0.1 unless asked, no
container runs as root, and nothing is unpickled from files a run did not write."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_publishes_on_loopback_only():
    services = _compose()["services"]
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published, "the scheduler's ports should be published (on 127.0.0.1)"
    for p in published:
        assert str(p).startswith("127.0.0.1:"), p


def test_compose_only_the_scheduler_leaves_the_internal_network():
    c = _compose()
    networks = c["networks"]
    others = {name: svc for name, svc in c["services"].items() if name != "scheduler"}
    assert others
    for name, svc in others.items():  # workers, runner, ...: reachable from the scheduler's network only
        assert not svc.get("ports"), name
        if svc.get("network_mode") == "none":
            continue
        nets = svc.get("networks")
        assert nets and all((networks[n] or {}).get("internal") is True for n in nets), (name, nets)


def test_no_container_runs_as_root():
    for name, svc in _compose()["services"].items():
        user = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(svc.get("user", "")))  # ${VAR:-default} -> default
        assert user and user.split(":")[0] not in ("0", "root"), (name, svc.get("user"))
    users = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "useradd" in (ROOT / "Dockerfile").read_text()


def _laptop_or_cluster() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Laptop or cluster") : text.index("\n## ", text.index("## Laptop or cluster") + 5)]


def test_readme_examples_bind_loopback_or_use_tls():
    section = _laptop_or_cluster()
    commands = [line for line in section.splitlines() if line.lstrip().startswith("dask scheduler")]
    assert commands
    for line in commands:
        assert "--host 127.0.0.1" in line or "--protocol tls" in line, line
    for option in ("--tls-ca-file", "--tls-cert", "--tls-key", "Security"):
        assert option in section


_PACKAGES = ("corpus_forge", "pipelines", "filters", "tokenize_bpe", "train_smoke")


def _calls():
    for pkg in _PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    yield path, node, ast.unparse(node.func)


def test_nothing_is_unpickled_from_outside_the_run():
    bad = []
    for path, call, name in _calls():
        kw = {k.arg: ast.unparse(k.value) for k in call.keywords}
        where = f"{path.relative_to(ROOT)}:{call.lineno}: {name}"
        if re.search(r"(^|\.)(pickle|cPickle|dill|joblib|cloudpickle|shelve)\.(load|loads|open|Unpickler)$", name) \
                or name in ("Unpickler", "pickle.Unpickler"):
            bad.append(where)
        elif name.endswith("torch.load") and kw.get("weights_only") != "True":
            bad.append(where + " without weights_only=True")
        elif re.search(r"(^|\.)(np|numpy)\.load$", name) and kw.get("allow_pickle") == "True":
            bad.append(where + " with allow_pickle=True")
    assert not bad, bad
