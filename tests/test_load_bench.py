"""The load test's parsing and verdicts (bench/load_bench.py), without running wrk or a server."""

from collections import Counter

import pytest

from bench.load_bench import (
    GREEDY_CLIENT,
    Sample,
    SampleSummary,
    cold_client,
    crash_lines,
    parse_wrk_report,
    problems,
    summarise_samples,
)

WRK_OUTPUT = """\
Running 1m test @ http://127.0.0.1:8000/
  2 threads and 200 connections
  63012 requests in 1.00m, 1.20GB read
Requests/sec:   1049.90
LOAD statuses 200=60000 429=2000 503=1000 500=12
LOAD missing_retry_after 3
LOAD cold_sent 6300
LOAD summary requests=63012 duration_us=60017000 bytes=1288490188 connect=0 read=4 write=0 timeout=8
LOAD latency_us p50=48211 p90=120000 p99=2500500 max=29000000
"""


def test_wrk_report_is_parsed_from_the_lua_lines() -> None:
    report = parse_wrk_report(WRK_OUTPUT)

    assert report.requests == 63012
    assert report.throughput == pytest.approx(1049.9, abs=0.1)
    assert report.statuses == Counter({200: 60000, 429: 2000, 503: 1000, 500: 12})
    assert report.shed == 3000
    assert report.server_errors == 12
    assert report.missing_retry_after == 3
    assert report.cold_sent == 6300
    assert report.latency_ms == {"p50": 48.211, "p90": 120.0, "p99": 2500.5, "max": 29000.0}
    assert report.socket_errors == {"connect": 0, "read": 4, "write": 0, "timeout": 8}
    # 4 read errors, 8 timeouts and 12 answers of 500 out of 63012 + 8 attempts.
    assert report.error_rate == pytest.approx(24 / 63020)


def test_wrk_output_without_the_done_lines_is_refused() -> None:
    truncated = WRK_OUTPUT.split("LOAD summary")[0]

    with pytest.raises(ValueError, match="latency_us, summary"):
        parse_wrk_report(truncated)


def test_a_clean_run_has_no_problems() -> None:
    report = parse_wrk_report(WRK_OUTPUT.replace(" 500=12", "").replace("retry_after 3", "retry_after 0"))

    assert problems({"mixed": report}, SampleSummary(), workers_replaced=False, log_lines=[]) == []


def test_a_500_a_missing_retry_after_and_a_dead_worker_are_all_problems() -> None:
    found = problems(
        {"mixed": parse_wrk_report(WRK_OUTPUT)},
        SampleSummary(statuses=Counter({429: 1}), shed_without_retry_after=1),
        workers_replaced=True,
        log_lines=["[CRITICAL] WORKER TIMEOUT (pid:12)"],
    )

    assert found == [
        "mixed: 5xx other than 503: {500: 12}",
        "mixed: 3 answers of 429/503 without Retry-After",
        "sampler: 1 answers of 429/503 without Retry-After",
        "a gunicorn worker died or was replaced during the run",
        "the gunicorn log has 1 crash or error lines, first: [CRITICAL] WORKER TIMEOUT (pid:12)",
    ]


def test_samples_count_shed_answers_without_a_numeric_retry_after() -> None:
    samples = [
        Sample("cached", 200, None, 0.010),
        Sample("cached", 200, None, 0.030),
        Sample("cold", 429, "42", 0.002),
        Sample("cold", 503, None, 3.0),
        Sample("cold", 503, "soon", 3.0),
        Sample("cold", 0, None, 60.0),
    ]

    summary = summarise_samples(samples)

    assert summary.statuses == Counter({200: 2, 503: 2, 429: 1, 0: 1})
    assert summary.shed_without_retry_after == 2
    assert summary.cached_p50_ms == pytest.approx(20.0)
    assert summary.cached_p99_ms == pytest.approx(30.0)


def test_gunicorn_log_lines_that_mean_a_crash_are_found() -> None:
    log = (
        "[2026-01-01 10:00:00 +0000] [7] [WARNING] Some harmless warning\n"
        "[2026-01-01 10:00:01 +0000] [7] [ERROR] Worker (pid:9) was sent SIGKILL! Perhaps out of memory?\n"
        "Internal Server Error: /image/upload/t_preview/a.jpg\n"
    )

    assert len(crash_lines(log)) == 2


def test_half_the_cold_requests_come_from_the_greedy_client() -> None:
    clients = [cold_client(index) for index in range(128)]

    assert clients.count(GREEDY_CLIENT) == 64
    assert len(set(clients)) == 33
