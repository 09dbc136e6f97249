"""Cache tags on delivery responses, and purges that reach the caches in front when an asset is revoked.

Each purge backend is checked against a fake of its API (a real HTTP server in the test, or moto's AWS)
for the request shape its documentation gives.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from moto import mock_aws

from delivery import purge
from delivery.tasks import purge_cdn
from review import decisions as review_decisions
from studio.celery import app


class Recorder(BaseHTTPRequestHandler):
    """Records every request; answers with the server's `status`."""

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": self.rfile.read(length) if length else b"",
            }
        )
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_PURGE = do_GET = _record

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def eager_tasks(monkeypatch):
    monkeypatch.setitem(app.conf, "task_always_eager", True)


def _revoke(asset, reviewer, capture) -> None:
    with capture(execute=True):
        review_decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="pulled by legal")


def test_responses_carry_the_asset_tag_and_a_short_stale_while_revalidate_max_age(client, approved, settings):
    asset, public_id = approved
    response = client.get(f"/image/upload/t_preview/{public_id}.jpg")
    assert response["Surrogate-Key"] == response["Cache-Tag"] == f"studio-asset-{asset.pk}"
    assert response["Cache-Control"] == "public, max-age=300, stale-while-revalidate=60"
    not_modified = client.get(
        f"/image/upload/t_preview/{public_id}.jpg", headers={"If-None-Match": response["ETag"]}
    )
    assert not_modified.status_code == 304 and not_modified["Cache-Tag"] == f"studio-asset-{asset.pk}"


def test_http_purge_sends_purge_for_every_url_the_asset_was_served_under(
    client, approved, reviewer, settings, fake_api, eager_tasks, django_capture_on_commit_callbacks
):
    settings.STUDIO_CDN_PURGE, settings.STUDIO_CDN_PURGE_URL = "http", fake_api.url
    asset, public_id = approved
    signed = reverse("delivery:serve", args=["x"])[:-1]
    from delivery.urls_builder import variant_url

    served = [
        f"/image/upload/t_preview/{public_id}.jpg",
        variant_url(public_id, "c_fill,w_40,h_40", ext="png"),
    ]
    for url in served:
        assert client.get(url).status_code == 200
    _revoke(asset, reviewer, django_capture_on_commit_callbacks)

    purged = {request["path"] for request in fake_api.seen if request["method"] == "PURGE"}
    assert set(served) <= purged
    assert f"{signed}{public_id}.png" in purged and f"{signed}t_og-image/{public_id}.webp" in purged
    assert {request["headers"]["xkey-purge"] for request in fake_api.seen} == {f"studio-asset-{asset.pk}"}


def test_cloudflare_purge_is_by_tag(
    approved, reviewer, settings, fake_api, eager_tasks, django_capture_on_commit_callbacks
):
    settings.STUDIO_CDN_PURGE, settings.STUDIO_CDN_PURGE_API = "cloudflare", fake_api.url
    settings.STUDIO_CDN_PURGE_ZONE, settings.STUDIO_CDN_PURGE_TOKEN = (
        "023e105f4ecef8ad9ca31a8372d0c353",
        "cf-token",
    )
    asset, _ = approved
    _revoke(asset, reviewer, django_capture_on_commit_callbacks)
    [request] = fake_api.seen
    assert request["method"] == "POST"
    assert request["path"] == "/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache"
    assert request["headers"]["authorization"] == "Bearer cf-token"
    assert json.loads(request["body"]) == {"tags": [f"studio-asset-{asset.pk}"]}


@pytest.mark.parametrize("soft", [False, True])
def test_fastly_purge_is_by_surrogate_key(
    approved, reviewer, settings, fake_api, eager_tasks, django_capture_on_commit_callbacks, soft
):
    settings.STUDIO_CDN_PURGE, settings.STUDIO_CDN_PURGE_API = "fastly", fake_api.url
    settings.STUDIO_CDN_PURGE_ZONE, settings.STUDIO_CDN_PURGE_TOKEN = "SU1Z0isxPaozGVKXdv0eY", "fastly-token"
    settings.STUDIO_CDN_PURGE_SOFT = soft
    asset, _ = approved
    _revoke(asset, reviewer, django_capture_on_commit_callbacks)
    [request] = fake_api.seen
    assert (request["method"], request["path"]) == (
        "POST",
        f"/service/SU1Z0isxPaozGVKXdv0eY/purge/studio-asset-{asset.pk}",
    )
    assert request["headers"]["fastly-key"] == "fastly-token"
    assert request["headers"].get("fastly-soft-purge") == ("1" if soft else None)


def test_cloudfront_purge_invalidates_the_delivery_prefix(
    approved, reviewer, settings, eager_tasks, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        cloudfront = boto3.client("cloudfront")
        origin = {
            "Id": "studio",
            "DomainName": "studio.example.com",
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
        }
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "studio-test",
                "Origins": {"Quantity": 1, "Items": [origin]},
                "DefaultCacheBehavior": {"TargetOriginId": "studio", "ViewerProtocolPolicy": "https-only"},
                "Comment": "",
                "Enabled": True,
            }
        )["Distribution"]
        settings.STUDIO_CDN_PURGE, settings.STUDIO_CDN_PURGE_ZONE = "cloudfront", distribution["Id"]
        asset, _ = approved
        _revoke(asset, reviewer, django_capture_on_commit_callbacks)
        [summary] = cloudfront.list_invalidations(DistributionId=distribution["Id"])["InvalidationList"][
            "Items"
        ]
        invalidation = cloudfront.get_invalidation(DistributionId=distribution["Id"], Id=summary["Id"])
        assert invalidation["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/image/upload/*"]


def test_a_failing_cdn_is_retried_with_backoff(settings, fake_api):
    settings.STUDIO_CDN_PURGE, settings.STUDIO_CDN_PURGE_URL = "http", fake_api.url
    fake_api.status = 503
    with pytest.raises(purge.PurgeError, match="HTTP 503"):
        purge.purge_now(purge.PurgeRequest(tag="studio-asset-1", paths=("/image/upload/abc.jpg",)))
    assert (
        purge_cdn.autoretry_for == (purge.PurgeError,)
        and purge_cdn.max_retries >= 5
        and purge_cdn.retry_backoff
    )
    # A URL nginx had not cached answers 404 to PURGE: nothing to forget, not a failure.
    fake_api.status = 404
    assert purge.purge_now(purge.PurgeRequest(tag="studio-asset-1", paths=("/image/upload/abc.jpg",)))


def test_no_backend_means_no_purge_and_no_task(
    approved, reviewer, settings, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("delivery.tasks.purge_cdn.delay", lambda *args: sent.append(args))
    asset, _ = approved
    _revoke(asset, reviewer, django_capture_on_commit_callbacks)
    assert sent == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"STUDIO_CDN_PURGE": "akamai"}, "must be one of cloudflare, cloudfront, fastly, http"),
        ({"STUDIO_CDN_PURGE": "http"}, "needs STUDIO_CDN_PURGE_URL"),
        ({"STUDIO_CDN_PURGE": "cloudflare", "STUDIO_CDN_PURGE_ZONE": "z"}, "needs STUDIO_CDN_PURGE_TOKEN"),
    ],
)
def test_purge_settings_are_checked_at_start_up(settings, values, message):
    for name, value in values.items():
        setattr(settings, name, value)
    with pytest.raises(SystemCheckError, match=message):
        call_command("check")
