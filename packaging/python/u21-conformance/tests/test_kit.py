"""The u21-conformance wheel as installed: its pin on u21-mock, the binary, and the kit run
from Python against a client, as a Python CI job would. `U21_CONFORMANCE_ADAPTER` names an
adapter program and `U21_CONFORMANCE_NODE_ADAPTER` a Node one (.ci/packages-check copies the
shipped ones beside this file)."""

import os
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import pytest

import u21_conformance
from u21_mock import U21Mock


def adapter(variable: str = "U21_CONFORMANCE_ADAPTER") -> str:
    path = os.environ.get(variable)
    if not path:
        if os.environ.get("CI"):
            pytest.fail(f"{variable} is not set: .ci/packages-check names the adapter")
        pytest.skip(f"needs {variable}, an adapter program")
    return path


def test_it_pins_the_fake_of_its_own_version():
    assert f"u21-mock=={version('u21-conformance')}" in (requires("u21-conformance") or [])
    assert version("u21-mock") == version("u21-conformance")


def test_python_m_runs_the_kit():
    ran = subprocess.run([sys.executable, "-m", "u21_conformance", "--version"], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == f"u21-conformance {version('u21-conformance')}"
    assert Path(u21_conformance.find_bin()).name == "u21-conformance"


@pytest.mark.parametrize("program, variable", [(sys.executable, "U21_CONFORMANCE_ADAPTER"), ("node", "U21_CONFORMANCE_NODE_ADAPTER")], ids=["python", "node"])
def test_the_kit_passes_a_careful_client_against_the_in_process_fake(program, variable):
    ran = subprocess.run(
        [sys.executable, "-m", "u21_conformance", "--target", "fake", "--adapter", program, "--", adapter(variable)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = subprocess.run([sys.executable, "-m", "u21_conformance", "--list"], capture_output=True, text=True, check=True)
    scenarios = len(listed.stdout.strip().splitlines())
    assert scenarios >= 37
    assert ran.stdout.strip().splitlines()[-1].startswith(f"{scenarios} passed, 0 failed")


def test_the_kit_runs_against_a_fake_started_from_python_and_leaves_its_state(tmp_path):
    with U21Mock.start() as fake:
        fake.control.add_file("mine", "kept.csv", "id\n1\n")
        report = tmp_path / "report.json"
        ran = subprocess.run(
            [sys.executable, "-m", "u21_conformance", "--target", "url", "--url", fake.url, "--only", "happy-path", "--json", str(report), "--adapter", sys.executable, "--", adapter()],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert report.stat().st_size > 0
        assert fake.control.file(1)["file_name"] == "kept.csv", "the kit put the fake's state back"
