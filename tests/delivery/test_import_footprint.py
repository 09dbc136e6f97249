"""Planning sizes and building responsive markup never load libvips: starting the app, the geometry, the
format negotiation and the template tags import no pyvips; only rendering does."""

import os
import subprocess
import sys

import pytest

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

PROBE = """
import sys

import django

def pyvips_loaded():
    return sorted(name for name in sys.modules if name.partition(".")[0] == "pyvips")

django.setup()
import delivery.geometry, delivery.negotiation, delivery.responsive, delivery.templatetags.delivery_tags
print("planning:", pyvips_loaded())
import delivery.rendering
print("rendering:", pyvips_loaded())
"""


def test_the_geometry_and_the_template_tags_do_not_import_pyvips() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    planning, rendering = result.stdout.splitlines()[-2:]
    assert planning == "planning: []"
    assert rendering.startswith("rendering: ['pyvips")  # the probe does see libvips when it is loaded
