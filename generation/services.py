"""Writes for the generation app: creating requests, running them, recording what happened."""

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from generation.engine.generate import generate_images, scheduler_name, upscaler_description
from generation.engine.pipelines import ModelUnavailableError
from generation.engine.registry import get_model
from generation.engine.runner import GenerationCanceledError, TextToImageJob
from generation.imagefile import encode_png
from generation.models import Asset, GenerationRequest
from generation.presets import compose_prompt
from generation.signals import assets_created

logger = logging.getLogger(__name__)

Status = GenerationRequest.Status
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class GenerationParameters:
    prompt: str
    negative_prompt: str
    style: str
    model_key: str
    width: int
    height: int
    num_images: int
    seed: int | None
    steps: int
    guidance: float
    campaign: str = ""
    product: str = ""
    channel: str = ""


def generation_request_create(
    *, user: AbstractBaseUser, parameters: GenerationParameters
) -> GenerationRequest:
    """Store a validated request and queue it for a worker once the transaction commits."""
    from generation.tasks import run_generation_request

    spec = get_model(parameters.model_key)
    full_prompt, full_negative = compose_prompt(
        parameters.prompt, parameters.negative_prompt, parameters.style
    )
    seed = parameters.seed if parameters.seed is not None else secrets.randbelow(MAX_SEED - 4)
    request = GenerationRequest.objects.create(
        created_by=user,
        prompt=parameters.prompt.strip(),
        negative_prompt=parameters.negative_prompt.strip(),
        style=parameters.style,
        full_prompt=full_prompt,
        full_negative_prompt=full_negative,
        model_key=spec.key,
        model_source=spec.source,
        width=parameters.width,
        height=parameters.height,
        num_images=parameters.num_images,
        seed=seed,
        steps=parameters.steps,
        guidance=parameters.guidance,
        campaign=parameters.campaign.strip(),
        product=parameters.product.strip(),
        channel=parameters.channel.strip(),
        progress_total=parameters.steps,
    )
    # After commit, or the worker could look for a row it cannot see yet.
    request_id = request.pk
    transaction.on_commit(lambda: run_generation_request.delay(request_id))
    return request


def generation_request_claim(*, request_id: int) -> bool:
    """Move a queued request to running; False when another worker has it or it was canceled."""
    claimed = GenerationRequest.objects.filter(pk=request_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), progress_step=0
    )
    return claimed == 1


def generation_request_report_progress(*, request_id: int, step: int, total: int) -> bool:
    """Record progress; False when the request should stop (cancel asked, or no longer running)."""
    updated = GenerationRequest.objects.filter(
        pk=request_id, status=Status.RUNNING, cancel_requested=False
    ).update(progress_step=step, progress_total=total)
    return updated == 1


def generation_request_cancel(*, request: GenerationRequest) -> bool:
    """Cancel a queued request at once, or ask a running one to stop at its next step."""
    now = timezone.now()
    if GenerationRequest.objects.filter(pk=request.pk, status=Status.QUEUED).update(
        status=Status.CANCELED, cancel_requested=True, finished_at=now
    ):
        return True
    return bool(
        GenerationRequest.objects.filter(pk=request.pk, status=Status.RUNNING).update(cancel_requested=True)
    )


def _finish(request_id: int, status: str, error: str = "") -> bool:
    return (
        GenerationRequest.objects.filter(pk=request_id, status=Status.RUNNING).update(
            status=status, error=error[:2000], finished_at=timezone.now()
        )
        == 1
    )


def generation_request_fail(*, request_id: int, reason: str) -> bool:
    return _finish(request_id, Status.FAILED, reason)


def _storage_key(extension: str) -> str:
    now = timezone.now()
    return f"generated/{now:%Y/%m}/{uuid.uuid4().hex}.{extension}"


def image_file_parameters(
    *,
    prompt: str,
    negative_prompt: str,
    user_prompt: str,
    style: str,
    model_key: str,
    scheduler: str,
    steps: int,
    guidance: float,
    seed: int,
    image: Image.Image,
    upscaler: str = "",
    request_id: int | None = None,
) -> dict:
    """The parameters embedded in a generated PNG: the worker's and `manage.py generate`'s, the same keys."""
    parameters = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "user_prompt": user_prompt,
        "style": style,
        "model": model_key,
        "scheduler": scheduler,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "size": f"{image.width}x{image.height}",
    }
    if upscaler:
        parameters["upscaler"] = upscaler
    if request_id is not None:
        parameters["request"] = request_id
    return parameters


def generation_request_complete(
    *, request: GenerationRequest, images: list, seeds: list[int], upscaler: str = ""
) -> list[Asset]:
    """Store the images under server-generated keys, create their assets and mark the request done."""
    encoded = []
    for image, seed in zip(images, seeds, strict=True):
        parameters = image_file_parameters(
            prompt=request.full_prompt,
            negative_prompt=request.full_negative_prompt,
            user_prompt=request.prompt,
            style=request.style,
            model_key=request.model_key,
            scheduler=request.scheduler,
            steps=request.steps,
            guidance=request.guidance,
            seed=seed,
            image=image,
            upscaler=upscaler,
            request_id=request.pk,
        )
        encoded.append((encode_png(image, parameters), seed))
    stored_names = [default_storage.save(_storage_key("png"), ContentFile(item.data)) for item, _ in encoded]
    try:
        with transaction.atomic():
            if not _finish(request.pk, Status.SUCCEEDED):
                raise GenerationCanceledError
            assets = [
                Asset.objects.create(
                    request=request,
                    index=index,
                    operation=Asset.Operation.TEXT_TO_IMAGE,
                    created_by_id=request.created_by_id,
                    file=name,
                    content_hash=item.content_hash,
                    format=item.format,
                    width=item.width,
                    height=item.height,
                    byte_size=len(item.data),
                    seed=seed,
                    ai_generated=True,
                    title=request.prompt[:200],
                    campaign=request.campaign,
                    product=request.product,
                    channel=request.channel,
                )
                for index, ((item, seed), name) in enumerate(zip(encoded, stored_names, strict=True))
            ]
            transaction.on_commit(lambda: assets_created.send(sender=Asset, assets=assets))
    except Exception:
        # The rows were not written, so the files would be orphans.
        for name in stored_names:
            default_storage.delete(name)
        raise
    return assets


def generation_request_execute(*, request_id: int) -> str:
    """The worker's whole job for one request. Returns the final status."""
    if not generation_request_claim(request_id=request_id):
        logger.info("Request %s was not queued (taken, canceled or done); skipping", request_id)
        return "skipped"
    request = GenerationRequest.objects.get(pk=request_id)
    try:
        spec = get_model(request.model_key)
        request.scheduler = scheduler_name(spec)
        GenerationRequest.objects.filter(pk=request_id).update(scheduler=request.scheduler)
        job = TextToImageJob(
            prompt=request.full_prompt or request.prompt,
            negative_prompt=request.full_negative_prompt,
            width=request.width,
            height=request.height,
            num_images=request.num_images,
            seed=request.seed,
            steps=request.steps,
            guidance=request.guidance,
        )
        images = generate_images(
            spec,
            job,
            lambda step, total: generation_request_report_progress(
                request_id=request_id, step=step, total=total
            ),
        )
        generation_request_complete(
            request=request, images=images, seeds=job.image_seeds(), upscaler=upscaler_description(spec)
        )
    except GenerationCanceledError:
        _finish(request_id, Status.CANCELED)
        return Status.CANCELED
    except ModelUnavailableError as error:
        generation_request_fail(request_id=request_id, reason=str(error))
        return Status.FAILED
    except Exception as error:
        logger.exception("Generation request %s failed", request_id)
        generation_request_fail(
            request_id=request_id, reason=f"The model failed: {type(error).__name__}: {error}"
        )
        return Status.FAILED
    return Status.SUCCEEDED


def generation_requests_fail_stale(*, older_than_seconds: int) -> int:
    """Fail requests left running by a worker that died (killed, out of memory, machine lost).

    Called when a worker starts. Only requests older than the hard task time limit are touched: no live
    worker can still be running those, so another worker's job in progress is never failed by mistake.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return GenerationRequest.objects.filter(status=Status.RUNNING, started_at__lt=cutoff).update(
        status=Status.FAILED,
        error="The worker running this request stopped before it finished. Generate again.",
        finished_at=timezone.now(),
    )
