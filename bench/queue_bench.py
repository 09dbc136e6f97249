"""Review queue benchmark: the queue page's median and p95 time with 10,000 assets waiting for review.

    .venv/bin/python bench/queue_bench.py [--assets 10000] [--runs 40] [--out var/bench/queue.md]

What it does, in this process:
1. a fresh database, made with Django's test-database machinery so nothing else is touched: SQLite under
   var/bench/queue-run/ (wiped first, WAL mode as Studio runs it), or, when DATABASE_URL is set, a
   ``test_<name>`` database on that PostgreSQL server, dropped afterwards;
2. 10,000 assets waiting for review (bulk_create), made by 8 marketers over 60 days: 12 campaigns, 20
   products, 1-3 destination channels each (delivery's channel presets), 3 models, prompts drawn from a
   vocabulary, a submission event each, a reviewer's comment on one in five and a comment thread on one in
   seven; plus
   2,000 decided assets (approved, rejected, changes requested), so the state counts have work to do;
3. the queue page, requested in process with Django's test Client as a logged-in reviewer, for several filter
   combinations and searches: one warm-up each, then N timed requests; median and p95 (nearest rank) of the
   whole request (middleware, queries, template), and the queries each request made.

The target: p95 under 150 ms for every row. The table goes to stdout and var/bench/queue.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import training_job_running  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
RUN_DIR = BENCH_DIR / "queue-run"
REPORT = BENCH_DIR / "queue.md"
TARGET_P95_MS = 150.0

CAMPAIGNS = [
    "Summer sale", "Back to school", "Winter warmers", "Spring launch", "Black Friday", "Holiday gifts",
    "Loyalty club", "New store", "Eco range", "Festival", "Sports day", "Brand refresh",
]  # fmt: skip
PRODUCTS = [
    "Cola", "Lemonade", "Iced tea", "Sparkling water", "Orange juice", "Cold brew", "Energy drink",
    "Smoothie", "Ginger beer", "Tonic", "Kombucha", "Oat milk", "Espresso", "Matcha", "Hot chocolate",
    "Root beer", "Cream soda", "Mineral water", "Apple juice", "Protein shake",
]  # fmt: skip
SUBJECTS = ["bottle", "can", "glass", "six-pack", "crate", "cup", "carton", "jug"]
SETTINGS = ["on a beach", "in a kitchen", "on ice", "at a picnic", "on a desk", "in the snow", "at a stadium"]
STYLES = ["product photo", "watercolour", "flat illustration", "studio lighting", "golden hour", "isometric"]
MODELS = ["default", "sdxl-turbo", "flux-schnell"]
REMARKS = [
    "Logo is slightly cropped",
    "Colours look off brand",
    "Check the label text",
    "Great composition",
    "Background too busy",
    "Needs more contrast",
]


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def populate(*, waiting: int, decided: int, seed: int = 1) -> dict:
    """Bulk-create the assets, their reviews, events and comments; return what the combos filter on."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from delivery.models import NamedPreset
    from generation.models import Asset, GenerationRequest
    from review.models import AssetReview, Comment, ReviewEvent, ReviewState
    from studio.roles import MARKETERS, REVIEWERS, sync_groups

    rng = random.Random(seed)
    sync_groups()
    users = get_user_model().objects
    reviewer = users.create_user("bench-reviewer", password="bench")
    reviewer.groups.add(Group.objects.get(name=REVIEWERS))
    marketers = [users.create_user(f"marketer-{n}", password="bench") for n in range(8)]
    for marketer in marketers:
        marketer.groups.add(Group.objects.get(name=MARKETERS))
    channels = list(NamedPreset.objects.values_list("name", flat=True)) or ["web", "print"]
    now = timezone.now()
    total = waiting + decided
    batch = 2000

    for start in range(0, total, batch):
        rows = range(start, min(start + batch, total))
        plans = []
        for n in rows:
            prompt = f"a {rng.choice(SUBJECTS)} of {rng.choice(PRODUCTS).lower()} {rng.choice(SETTINGS)}, "
            prompt += rng.choice(STYLES)
            plans.append(
                {
                    "n": n,
                    "owner": rng.choice(marketers),
                    "prompt": prompt,
                    "model": rng.choice(MODELS),
                    "campaign": rng.choice(CAMPAIGNS),
                    "product": rng.choice(PRODUCTS),
                    "channels": rng.sample(channels, rng.randint(1, min(3, len(channels)))),
                    "submitted": now - timedelta(minutes=rng.randint(1, 60 * 24 * 60)),
                    "state": ReviewState.IN_REVIEW
                    if n < waiting
                    else rng.choice(
                        [ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.CHANGES_REQUESTED]
                    ),
                }
            )
        requests = GenerationRequest.objects.bulk_create(
            GenerationRequest(
                created_by=plan["owner"],
                prompt=plan["prompt"],
                full_prompt=plan["prompt"],
                model_key=plan["model"],
                width=1024,
                height=1024,
                seed=plan["n"],
                steps=20,
                guidance=5.0,
                status=GenerationRequest.Status.SUCCEEDED,
            )
            for plan in plans
        )
        assets = Asset.objects.bulk_create(
            Asset(
                request=request,
                operation="text2img",
                created_by=plan["owner"],
                file=f"bench/{plan['n']}.png",
                content_hash=f"{plan['n']:064x}",
                format="png",
                width=1024,
                height=1024,
                byte_size=1_200_000,
                title=f"{plan['product']} {plan['campaign']} #{plan['n']}",
                campaign=plan["campaign"],
                product=plan["product"],
                channels=plan["channels"],
                is_flagged=rng.random() < 0.03,
            )
            for plan, request in zip(plans, requests, strict=True)
        )
        AssetReview.objects.bulk_create(
            AssetReview(
                asset=asset,
                state=plan["state"],
                submitted_at=plan["submitted"],
                decided_at=None if plan["state"] == ReviewState.IN_REVIEW else plan["submitted"],
                public_id=f"bench-{plan['n']}" if plan["state"] == ReviewState.APPROVED else None,
            )
            for plan, asset in zip(plans, assets, strict=True)
        )
        events = [
            ReviewEvent(
                asset=asset,
                actor=plan["owner"],
                from_state=ReviewState.DRAFT,
                to_state=ReviewState.IN_REVIEW,
            )
            for plan, asset in zip(plans, assets, strict=True)
        ]
        events += [
            ReviewEvent(
                asset=asset,
                actor=reviewer,
                kind=ReviewEvent.Kind.CHECKED_SAFE,
                from_state=ReviewState.IN_REVIEW,
                to_state=ReviewState.IN_REVIEW,
                comment=f"{rng.choice(REMARKS)} (batch {plan['n'] % 97})",
            )
            for plan, asset in zip(plans, assets, strict=True)
            if rng.random() < 0.2
        ]
        ReviewEvent.objects.bulk_create(events)
        Comment.objects.bulk_create(
            Comment(
                asset=asset, author=reviewer, body=f"{rng.choice(REMARKS)}: see the {rng.choice(SUBJECTS)}"
            )
            for asset in assets
            if rng.random() < 0.15
        )
    # One rare word, in a single comment thread: a search that must look at every comment to find it.
    Comment.objects.create(
        asset=Asset.objects.order_by("pk").first(), author=reviewer, body="zanzibar mockup"
    )
    return {"reviewer": reviewer, "channel": channels[0], "creator": marketers[0].username}


def combos(facts: dict) -> list[tuple[str, dict]]:
    today = datetime.now(UTC).date()
    return [
        ("whole queue, page 1 of 50", {}),
        ("whole queue, page 100 of 50", {"page": 100}),
        ("whole queue, 100 a page", {"per_page": 100}),
        ("campaign", {"campaign": "Summer sale"}),
        ("channel (JSON list membership)", {"channel": facts["channel"]}),
        (
            "campaign + product + model + creator",
            {"campaign": "Festival", "product": "Cola", "model": "default", "creator": facts["creator"]},
        ),
        ("submitted in the last 7 days", {"submitted_from": (today - timedelta(days=7)).isoformat()}),
        ("flagged only", {"flagged": "1"}),
        ("search: common word", {"q": "bottle"}),
        ("search: two words + channel", {"q": "lemonade beach", "channel": facts["channel"]}),
        ("search: rare word in one comment", {"q": "zanzibar"}),
        ("search: no match", {"q": "xylophone"}),
        ("approved tab", {"state": "approved"}),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=10_000, help="assets waiting for review")
    parser.add_argument("--decided", type=int, default=2_000, help="assets already decided")
    parser.add_argument("--runs", type=int, default=40, help="timed requests per combination")
    parser.add_argument(
        "--out", type=Path, help=f"default {REPORT} ({REPORT.stem}-postgresql.md on PostgreSQL)"
    )
    args = parser.parse_args()

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    os.environ["STUDIO_VAR_DIR"] = str(RUN_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    # As a server runs: no test instrumentation of template rendering, no query log (DEBUG off); the queries
    # are counted on one extra request.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    backend = connection.vendor
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        facts = populate(waiting=args.assets, decided=args.decided)
        made_in = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # planner statistics, as a database that has lived a while has them
        client = Client()
        client.force_login(facts["reviewer"])
        url = reverse("review:queue")
        rows = []
        for label, params in combos(facts):
            response = client.get(url, params)  # warm-up
            assert response.status_code == 200, (label, response.status_code)
            listed = response.content.decode().count('class="queue-row"')
            with CaptureQueriesContext(connection) as captured:
                client.get(url, params)
            queries = len(captured)
            timings = []
            for _ in range(args.runs):
                begun = time.perf_counter()
                client.get(url, params)
                timings.append((time.perf_counter() - begun) * 1000)
            rows.append(
                (label, params, listed, queries, statistics.median(timings), nearest_rank(timings, 0.95))
            )
            print(f"{label}: median {rows[-1][4]:.1f} ms, p95 {rows[-1][5]:.1f} ms", file=sys.stderr)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    database = "SQLite (WAL)" if backend == "sqlite" else f"PostgreSQL {connection.pg_version // 10000}"
    worst = max(row[5] for row in rows)
    lines = [
        f"# Review queue: the page's time with {args.assets:,} assets waiting",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Django {django.get_version()}, "
        f"{database}. "
        f"{args.assets:,} assets waiting and {args.decided:,} decided (made in {made_in:.1f} s with "
        f"bulk_create); each row is {args.runs} requests of the queue page by a logged-in reviewer through "
        "Django's test Client (middleware, queries and template) after one warm-up; 50 rows a page unless "
        "said. p95 is the nearest rank.",
    ]
    if training_job_running():
        lines += ["", "**A training job was running on this machine and took a core: times are inflated.**"]
    lines += [
        "",
        "| filters | query string | rows listed | queries | median | p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for label, params, listed, queries, median, p95 in rows:
        query = "&".join(f"{name}={value}" for name, value in params.items()) or "(none)"
        lines.append(f"| {label} | `{query}` | {listed} | {queries} | {median:.1f} ms | {p95:.1f} ms |")
    verdict = "met" if worst < TARGET_P95_MS else "MISSED"
    lines += ["", f"Target p95 < {TARGET_P95_MS:.0f} ms: {verdict} (worst p95 {worst:.1f} ms)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = args.out or (REPORT if backend == "sqlite" else REPORT.with_name(f"{REPORT.stem}-postgresql.md"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
