"""Studio's settings with one extra URL: a minimal Django view that returns a stored file (the delivery
benchmark's floor for a cached hit served by Django). Used only by bench/delivery_bench.py."""

from studio.settings import *  # noqa: F403

ROOT_URLCONF = "bench.minimal_urls"
