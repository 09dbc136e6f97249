"""The files in deploy/ agree with each other: the Procfile's commands are the ones systemd and Compose run,
and the nginx template's variables are the ones Compose and the deployment test fill in.

tests/deploy/test_deployment.py runs the Procfile and the nginx template for real; Docker is not available
on the machines that run the tests, so Compose and systemd are held to the same commands by these checks.
"""

import re
import shlex

import yaml

from tests.reliability.servers import BASE_DIR

DEPLOY = BASE_DIR / "deploy"


def _procfile() -> dict[str, list[str]]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return {
        name: shlex.split(command)
        for name, command in (line.split(": ", 1) for line in lines if re.match(r"^\w+: ", line))
    }


def _without_bind(command: list[str]) -> list[str]:
    """The command with its --bind address left out (each runner binds where it needs)."""
    if "--bind" in command:
        at = command.index("--bind")
        return command[:at] + command[at + 2 :]
    return command


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_the_procfile_commands():
    procfile, services = _procfile(), _compose()["services"]
    assert _without_bind(shlex.split(services["web"]["command"])) == _without_bind(procfile["web"])
    assert shlex.split(services["worker"]["command"]) == procfile["worker"]
    assert shlex.split(services["webhooks"]["command"]) == procfile["webhooks"]


def test_systemd_runs_the_procfile_commands():
    procfile = _procfile()
    units = (
        ("studio-web.service", "web"),
        ("studio-worker@.service", "worker"),
        ("studio-webhooks.service", "webhooks"),
    )
    for unit, name in units:
        [exec_start] = re.findall(r"^ExecStart=(.+)$", (DEPLOY / "systemd" / unit).read_text(), re.MULTILINE)
        command = shlex.split(exec_start.replace("%%", "%"))  # systemd's escape for a literal %
        assert command[0] == f"/srv/studio/.venv/bin/{procfile[name][0]}"
        # The worker unit adds a hostname per GPU; everything else is the Procfile's command.
        command = [part for part in command[1:] if not part.startswith("--hostname=")]
        assert command == procfile[name][1:], unit


def test_the_nginx_template_variables_are_the_ones_compose_sets():
    template = (DEPLOY / "nginx" / "studio.conf.template").read_text()
    directives = "\n".join(line for line in template.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{(STUDIO_\w+)\}", directives))
    nginx = _compose()["services"]["nginx"]
    assert used == {key for key in nginx["environment"] if key.startswith("STUDIO_")}
    assert nginx["build"] == "nginx"
    assert "COPY studio.conf.template" in (DEPLOY / "nginx" / "Dockerfile").read_text()


def test_the_example_environment_names_only_documented_settings():
    readme = (BASE_DIR / "README.md").read_text()
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / "studio.env.example").read_text(), re.MULTILINE)
    assert names
    undocumented = [
        name for name in names if not name.startswith(("AWS_", "MINIO_")) and f"`{name}`" not in readme
    ]
    assert undocumented == []
