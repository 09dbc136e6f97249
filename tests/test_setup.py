"""Setting up on an ordinary machine: the Makefile finds a Python that pyproject.toml accepts, and installs
the Debian packages Studio can do without only where this user may; elsewhere it warns, says what happens
without them, and carries on. make runs for real, with stand-ins for python, id, sudo, apt-get, ldconfig."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")

# Touches neither database nor broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free


def _stand_in(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def _make(bin_folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    """make in the repository with only ``bin_folder`` on PATH, so no command of this machine's leaks in."""
    return subprocess.run(
        [MAKE, "-s", "-C", str(REPO), *arguments],
        env={"PATH": str(bin_folder), "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _chosen_python(bin_folder: Path, *arguments: str) -> str:
    result = _make(bin_folder, *arguments, "--eval", 'chosen-python: ; @echo "$(PYTHON)"', "chosen-python")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _python(folder: Path, name: str, minor: int) -> None:
    """A stand-in that runs the code it is given as Python 3.<minor> would see its version."""
    version = f"sys.version_info = (3, {minor}, 0, 'final', 0)"
    _stand_in(folder, name, f'exec {sys.executable} -c "import sys; {version}; exec(sys.argv[1])" "$2"')


def test_the_makefile_takes_the_python_versions_that_pyproject_allows_and_no_others(tmp_path):
    allowed = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    for minor in range(9, 16):
        _python(tmp_path, "python3", minor)
        accepted = _chosen_python(tmp_path) == str(tmp_path / "python3")
        assert accepted == allowed.contains(f"3.{minor}.0"), f"Python 3.{minor}"


def test_the_makefile_prefers_a_named_newer_python_and_honours_the_one_it_is_given(tmp_path):
    _python(tmp_path, "python3", 10)
    _python(tmp_path, "python3.12", 12)
    assert _chosen_python(tmp_path) == str(tmp_path / "python3.12")
    assert _chosen_python(tmp_path, "PYTHON=/opt/python3.13/bin/python3") == "/opt/python3.13/bin/python3"


def test_without_a_suitable_python_make_says_which_versions_it_needs(tmp_path):
    _python(tmp_path, "python3", 10)
    result = _make(tmp_path, "VENV=" + str(tmp_path / "venv"), str(tmp_path / "venv" / "bin" / "python"))
    assert result.returncode != 0
    assert "Studio needs Python 3.11, 3.12 or 3.13" in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.fixture
def machine(tmp_path) -> Path:
    """A PATH folder where no upscaler library, chromium or nginx is installed, apt-get writes what it is
    asked into apt.log, and the user is not root and has no sudo until a test says otherwise."""
    for command in ("grep", "env", "true"):
        (tmp_path / command).symlink_to(shutil.which(command))
    _stand_in(tmp_path, "ldconfig", 'echo "0 libs found in cache"')
    _stand_in(tmp_path, "apt-get", f'echo "$*" >> {tmp_path}/apt.log')
    _stand_in(tmp_path, "id", "echo 1000")
    return tmp_path


UNINSTALLED = "NGINX_PURGE_MODULE=/nonexistent/ngx_http_cache_purge_module.so"


def test_a_user_who_cannot_install_gets_a_warning_for_each_and_make_carries_on(machine):
    result = _make(machine, UNINSTALLED, "upscaler-libs", "chromium", "nginx")

    assert result.returncode == 0, result.stderr
    assert not (machine / "apt.log").exists()
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3
    upscaler, chromium, nginx = warnings
    assert "missing libvulkan1 libomp5" in upscaler and "Lanczos resize" in upscaler
    assert "missing chromium" in chromium and "browser tests skip" in chromium
    assert "missing nginx libnginx-mod-http-cache-purge" in nginx and "deployment test skips" in nginx
    assert all("apt-get install" in warning for warning in warnings)


def test_root_installs_what_is_missing(machine):
    _stand_in(machine, "id", "echo 0")

    result = _make(machine, "upscaler-libs")

    assert result.returncode == 0, result.stderr
    assert (machine / "apt.log").read_text().splitlines() == [
        "update -qq",
        "install -y -qq libvulkan1 libomp5",
    ]


def test_a_user_with_sudo_without_a_password_installs_through_it(machine):
    _stand_in(
        machine, "sudo", f'[ "$1" = -n ] || exit 1; shift; echo "sudo $1" >> {machine}/apt.log; exec "$@"'
    )

    result = _make(machine, "chromium")

    assert result.returncode == 0, result.stderr
    assert (machine / "apt.log").read_text().splitlines() == [
        "sudo true",
        "sudo apt-get",
        "update -qq",
        "sudo env",
        "install -y -qq chromium",
    ]


def test_a_failed_install_as_root_fails_make(machine):
    """Where it can install (CI runs as root), a broken install is an error, not a test quietly skipped."""
    _stand_in(machine, "id", "echo 0")
    _stand_in(machine, "apt-get", "exit 100")

    assert _make(machine, UNINSTALLED, "nginx").returncode != 0
