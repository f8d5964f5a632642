"""Containers that behave the same on both backends: `command` for Docker, `ecsd.test/*` dockerLabels for kwok (see
conftest.py). Kubernetes container names are the ECS names lowercased with '_' → '-' (docs/internals/k8s-pod.md)."""

from __future__ import annotations


def k8s_name(name: str) -> str:
    return name.lower().replace("_", "-")


def exits(name: str, code: int, after_s: int = 1, **kw) -> dict:
    """Runs for `after_s` seconds, then exits with `code`."""
    return {"name": name, "command": ["sh", "-c", f"sleep {after_s}; exit {code}"],
            "dockerLabels": {f"ecsd.test/exit-code.{k8s_name(name)}": str(code),
                             "ecsd.test/run-duration": f"{after_s}s"}, **kw}


def runs(name: str, **kw) -> dict:
    """Runs until stopped; exits 143 on SIGTERM (kwok's default for a deleted Pod's running containers)."""
    return {"name": name, "command": ["sh", "-c", "trap 'exit 143' TERM; while true; do sleep 1; done"], **kw}
