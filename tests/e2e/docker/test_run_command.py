"""`ecsd run TASKDEF.json` (one task in the foreground) and `ecsd render --backend docker`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from tasklib import owners_in

# --log-level info: the "backend ready" line names the owner label, which no_leftovers checks.
RUN_ARGS = ["--image-pull-behavior", "prefer-cached", "--log-level", "info"]


def taskdef(tmp_path, containers) -> str:
    for c in containers:
        c.setdefault("image", "busybox:local")
        c.setdefault("memory", 32)
    path = tmp_path / "td.json"
    path.write_text(json.dumps({"family": "runcmd", "containerDefinitions": containers}))
    return str(path)


def test_run_streams_output_and_exits_with_essential_code(ecsd_bin, tmp_path, run_owners):
    td = taskdef(tmp_path, [
        {"name": "app", "command": ["sh", "-c", "echo hello; echo oops >&2; sleep 0.5; exit 4"]},
        {"name": "side", "essential": False, "stopTimeout": 1, "command": ["sh", "-c", "echo side; sleep 600"]},
    ])
    proc = subprocess.run([ecsd_bin, "run", td, *RUN_ARGS], capture_output=True, text=True, timeout=120)
    run_owners.extend(owners_in(proc.stderr))
    assert proc.returncode == 4, proc.stderr
    assert "app | hello" in proc.stdout and "app | oops" in proc.stdout and "side | side" in proc.stdout


def test_run_ctrl_c_stops_the_task(ecsd_bin, tmp_path, run_owners):
    td = taskdef(tmp_path, [{"name": "app", "stopTimeout": 2,
                             "command": ["sh", "-c", "trap 'echo bye; exit 0' TERM; echo up; "
                                                     "while true; do sleep 0.1; done"]}])
    proc = subprocess.Popen([ecsd_bin, "run", td, *RUN_ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    assert line.strip() == "app | up"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    run_owners.extend(owners_in(err))
    assert proc.returncode == 0, err
    assert "app | bye" in out


def test_run_failure_to_start(ecsd_bin, tmp_path, run_owners):
    td = taskdef(tmp_path, [{"name": "app", "image": "127.0.0.1:1/none:1", "command": ["true"]}])
    proc = subprocess.run([ecsd_bin, "run", td, "--image-pull-behavior", "always", "--log-level", "info"],
                          capture_output=True, text=True, timeout=120)
    run_owners.extend(owners_in(proc.stderr))
    assert proc.returncode == 125
    assert "CannotPullContainerError" in proc.stderr


def test_render_prints_commands_without_values(ecsd_bin, tmp_path):
    td = taskdef(tmp_path, [{"name": "app", "command": ["true"],
                             "environment": [{"name": "TOKEN", "value": "very-secret-value"}]}])
    proc = subprocess.run([ecsd_bin, "render", "--backend", "docker", td], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "docker run -d --pull never --name ecsd-" in proc.stdout and "docker start" not in proc.stdout
    assert "TOKEN" in proc.stdout and "very-secret-value" not in proc.stdout
    bad = subprocess.run([ecsd_bin, "render", "--backend", "docker", str(tmp_path / "missing.json")],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2


def test_render_k8s_prints_a_pod(ecsd_bin, tmp_path):
    td = taskdef(tmp_path, [{"name": "app", "command": ["true"]}])
    proc = subprocess.run([ecsd_bin, "render", "--backend", "k8s", td], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    pod = json.loads(proc.stdout)
    assert pod["kind"] == "Pod" and pod["spec"]["restartPolicy"] == "Never"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"]
