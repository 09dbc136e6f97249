"""Writes for the generation app: creating requests, running them, recording what happened."""

import io
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from PIL import Image, ImageOps

from generation import credentials, jobs, selectors
from generation import operations as ops
from generation.engine import masks
from generation.engine.generate import generate_images, scheduler_name, upscaler_description
from generation.engine.pipelines import ModelUnavailableError, pipeline_is_loaded
from generation.engine.refine import (
    RefineError,
    RefineJob,
    flatten,
    output_size,
    plan_total_steps,
    run_refine,
)
from generation.engine.registry import ModelSpec, UnknownModelError, default_model, get_model
from generation.engine.runner import GenerationCanceledError, TextToImageJob
from generation.engine.safety import check_images
from generation.models import Asset, GenerationRequest
from generation.presets import compose_prompt
from generation.signals import assets_created
from generation.storage import storage_key, stored_files
from studio.teams import team_for_new_work, team_id_for_creator

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
    channels: tuple[str, ...] = ()  # destination channels: names of channel presets


def generation_request_create(
    *, user: User, parameters: GenerationParameters, team_id: int | None = None
) -> GenerationRequest:
    """Store a validated request and queue it for a worker once the transaction commits.

    The request belongs to the team ``team_id`` (one of the user's), else to the user's first team.
    Raises PromptBlockedError (nothing stored) when a prompt rule blocks the prompt, and
    studio.teams.TeamChoiceError when the user is not a member of ``team_id``.
    """
    team = team_for_new_work(user=user, team_id=team_id)
    flags = prompt_flags(prompt=parameters.prompt, negative_prompt=parameters.negative_prompt)
    spec = get_model(parameters.model_key)
    full_prompt, full_negative = compose_prompt(
        parameters.prompt, parameters.negative_prompt, parameters.style
    )
    seed = parameters.seed if parameters.seed is not None else secrets.randbelow(MAX_SEED - 4)
    generation_request = GenerationRequest.objects.create(
        created_by=user,
        team=team,
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
        channels=sorted(set(parameters.channels)),
        progress_total=parameters.steps,
        moderation_flags=flags,
    )
    # After commit, or the worker could look for a row it cannot see yet.
    jobs.dispatch_on_commit(generation_request.pk)
    return generation_request


class PromptBlockedError(ValueError):
    """A prompt rule blocks the prompt; the message names the rule's category and the matched words."""


def prompt_flags(*, prompt: str, negative_prompt: str = "") -> list[dict]:
    """Apply the prompt rules: raise PromptBlockedError when one blocks, else return the flags to carry.

    Every entry point (the forms through their services, the CLI commands) calls this before queueing.
    """
    verdict = selectors.prompt_verdict(prompt=prompt, negative_prompt=negative_prompt)
    if verdict.blocked:
        raise PromptBlockedError(verdict.message)
    return [match.as_flag() for match in verdict.flagged]


@dataclass(frozen=True)
class RefineParameters:
    """What a user asked of one refine operation (form, CLI and API alike); None means the default."""

    operation: str
    prompt: str = ""
    negative_prompt: str = ""
    model_key: str = ""
    num_images: int = 1
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    strength: float | None = None
    aspect: str = ""
    pad: tuple[int, int, int, int] | None = None
    anchor: str = "center"
    color: str = ""
    scale: int = 2
    mode: str = "img2img"
    mask_png: bytes | None = None


class RefineRequestError(ValueError):
    """The refine request cannot be made as asked; the message says why, fit to show a user."""


def refine_request_create(
    *,
    user: User,
    source: Asset,
    parameters: RefineParameters,
    revises: Asset | None = None,
) -> GenerationRequest:
    """Validate a refine operation on ``source``, store it as a queued request and enqueue it after commit.

    The result inherits the source's campaign, product, channel and destination channels; ``revises`` links
    the results to the asset a reviewer asked changes on. Raises RefineRequestError (nothing stored) for
    anything that would fail later: an unknown operation, a model that cannot do it, a bad mask or option, a
    too large result.
    """
    planned = refine_plan(image=_source_image(source), parameters=parameters, origin=_origin_of(source))
    mask_files: list[tuple[str, bytes]] = []
    if planned.mask is not None:
        buffer = io.BytesIO()
        planned.mask.save(buffer, format="PNG", optimize=True)
        mask_files.append((storage_key(folder="masks", extension="png"), buffer.getvalue()))
    with stored_files(mask_files) as mask_names, transaction.atomic():
        generation_request = GenerationRequest.objects.create(
            created_by=user,
            # The result stays with the source's team, where its lineage is; a team-less source's
            # result goes to the user's first team.
            team_id=source.team_id or team_id_for_creator(user_id=user.pk),
            operation=parameters.operation,
            prompt=planned.job.prompt,
            negative_prompt=planned.job.negative_prompt,
            full_prompt=planned.job.prompt,
            full_negative_prompt=planned.job.negative_prompt,
            model_key=planned.spec.key if planned.spec else "",
            model_source=planned.spec.source if planned.spec else "",
            width=planned.size[0],
            height=planned.size[1],
            num_images=planned.job.num_images,
            seed=planned.job.seed,
            steps=planned.job.steps,
            guidance=planned.job.guidance,
            campaign=source.campaign,
            product=source.product,
            channel=source.channel,
            channels=source.channels,
            source_asset=source,
            mask=mask_names[0] if mask_names else "",
            options=planned.options,
            revises=revises,
            progress_total=planned.total_steps,
            moderation_flags=planned.flags,
        )
        jobs.dispatch_on_commit(generation_request.pk)
    return generation_request


@dataclass(frozen=True)
class RefinePlan:
    job: RefineJob
    spec: ModelSpec | None  # None for operations that need no diffusion model
    mask: Image.Image | None
    size: tuple[int, int]
    options: dict
    total_steps: int
    flags: list[dict]  # prompt rules that flag (not block)


@dataclass(frozen=True)
class SourceOrigin:
    """How the source image was made, when Studio made it: variations reuse its prompt."""

    prompt: str
    negative_prompt: str
    from_text: bool  # made by text to image (so new seeds can remake it)


def _origin_of(source: Asset) -> SourceOrigin | None:
    generation_request = source.request if source.request_id else None
    if generation_request is None:
        return None
    return SourceOrigin(
        prompt=generation_request.full_prompt or generation_request.prompt,
        negative_prompt=generation_request.full_negative_prompt,
        from_text=generation_request.operation == ops.TEXT2IMG,
    )


def refine_plan(
    *, image: Image.Image, parameters: RefineParameters, origin: SourceOrigin | None = None
) -> RefinePlan:
    """Check every part of a refine operation on ``image``, without storing anything.

    The web form and `manage.py refine` both come through here (an API must too), so each rule has one
    place.
    """
    operation = ops.OPERATIONS.get(parameters.operation)
    if operation is None or not operation.is_refine:
        raise RefineRequestError(f"Unknown operation {parameters.operation!r}.")
    spec = None
    if operation.uses_model:
        try:
            spec = get_model(parameters.model_key) if parameters.model_key else default_model()
        except UnknownModelError as error:
            raise RefineRequestError(str(error)) from None
        if operation.task not in spec.tasks:
            raise RefineRequestError(
                f"{spec.name} cannot {operation.label.lower()}: its registry entry lists the tasks "
                f"{', '.join(spec.tasks)}, not {operation.task}."
            )
    mask = _refine_mask(operation, parameters.mask_png, image.size)

    prompt = parameters.prompt.strip()
    negative = parameters.negative_prompt.strip()
    if parameters.operation == ops.VARIATIONS and not prompt and origin is not None:
        # New takes keep to what the image shows: the prompt it was made with.
        prompt, negative = origin.prompt, negative or origin.negative_prompt
    if operation.prompt == "required" and not prompt:
        raise RefineRequestError(f"{operation.label} needs a prompt: say what should be there.")
    if operation.prompt == "none":
        prompt = prompt if parameters.operation == ops.REMOVE else ""
    try:
        flags = prompt_flags(prompt=prompt, negative_prompt=negative)
    except PromptBlockedError as error:
        raise RefineRequestError(str(error)) from None
    if parameters.operation == ops.VARIATIONS and parameters.mode not in ops.VARIATION_MODES:
        raise RefineRequestError(f"Variations are made with {' or '.join(ops.VARIATION_MODES)}.")
    if parameters.operation == ops.VARIATIONS and parameters.mode == "seeds":
        if origin is None or not origin.from_text:
            raise RefineRequestError(
                "New seeds need an image Studio generated from text; use image-to-image."
            )
        if not prompt:
            raise RefineRequestError("New seeds need the original prompt.")
    if parameters.anchor not in ops.ANCHORS:
        raise RefineRequestError(f"Anchor must be one of {', '.join(ops.ANCHORS)}.")
    if parameters.strength is not None and not 0.05 <= parameters.strength <= 1.0:
        raise RefineRequestError("Strength must be between 0.05 and 1.")
    if parameters.operation == ops.RECOLOR:
        try:
            masks.parse_colour(parameters.color)
        except ValueError as error:
            raise RefineRequestError(str(error)) from None
    uses_seeds = operation.uses_model
    num_images = parameters.num_images if uses_seeds else 1
    if not 1 <= num_images <= 4:
        raise RefineRequestError("Make between 1 and 4 images.")
    steps = parameters.steps or (spec.default_steps if spec else 1)
    guidance = (
        parameters.guidance if parameters.guidance is not None else (spec.default_guidance if spec else 0)
    )
    if not 1 <= steps <= 100:
        raise RefineRequestError(f"Steps must be between 1 and 100, not {steps}.")
    if not 0 <= guidance <= 30:
        raise RefineRequestError(f"Guidance must be between 0 and 30, not {guidance:g}.")
    seed = parameters.seed if parameters.seed is not None else secrets.randbelow(MAX_SEED - 4)
    if not 0 <= seed <= MAX_SEED - 4:
        raise RefineRequestError(f"The seed must be between 0 and {MAX_SEED - 4}.")
    job = RefineJob(
        operation=parameters.operation,
        prompt=prompt,
        negative_prompt=negative,
        num_images=num_images,
        seed=seed,
        steps=steps,
        guidance=guidance,
        strength=parameters.strength,
        aspect=parameters.aspect.strip(),
        pad=parameters.pad,
        anchor=parameters.anchor,
        color=parameters.color.strip(),
        scale=parameters.scale,
        mode=parameters.mode,
    )
    try:
        size = output_size(job, image.size)
    except RefineError as error:
        raise RefineRequestError(str(error)) from None
    if parameters.operation == ops.REPLACE_BACKGROUND or (
        parameters.operation == ops.RECOLOR and mask is None
    ):
        # Found now (it takes milliseconds), so the user hears at once rather than from a failed job.
        subject = masks.find_subject(flatten(image), background_hint=mask)
        if masks.mask_is_empty(subject) or masks.mask_is_empty(ImageOps.invert(subject)):
            raise RefineRequestError(
                "Studio could not tell the subject from the background in this image: paint over the "
                + (
                    "background to replace."
                    if parameters.operation == ops.REPLACE_BACKGROUND
                    else "area to recolour."
                )
            )
    limit = settings.STUDIO_REFINE_MAX_PIXELS
    if size[0] * size[1] > limit:
        raise RefineRequestError(
            f"The result would be {size[0]}x{size[1]} px, over the {limit:,} pixel limit "
            "(STUDIO_REFINE_MAX_PIXELS)."
        )
    if min(size) < 64:
        raise RefineRequestError(
            f"The result would be {size[0]}x{size[1]} px; Studio refines images of 64 px a side or more."
        )
    return RefinePlan(
        job=job,
        spec=spec,
        mask=mask,
        size=size,
        options=job.options(),
        total_steps=plan_total_steps(job, spec, image, mask),
        flags=flags,
    )


def _source_image(source: Asset) -> Image.Image:
    try:
        with default_storage.open(source.file.name, "rb") as handle, Image.open(handle) as image:
            image.load()
            return image.copy()
    except (OSError, ValueError) as error:
        raise RefineRequestError(f"The source image of asset {source.pk} cannot be read: {error}") from None


def _refine_mask(operation: ops.Operation, data: bytes | None, size: tuple[int, int]) -> Image.Image | None:
    if data is None or data == b"":
        if operation.mask == ops.MASK_REQUIRED:
            raise RefineRequestError(f"{operation.label} needs a mask: paint over the area to change.")
        return None
    try:
        mask = masks.load_mask(data, size)
    except masks.MaskError as error:
        raise RefineRequestError(str(error)) from None
    if masks.mask_is_empty(mask):
        if operation.mask == ops.MASK_REQUIRED:
            raise RefineRequestError(f"The mask is empty: paint over the area to {operation.label.lower()}.")
        return None
    if operation.mask == ops.MASK_NONE:
        raise RefineRequestError(f"{operation.label} works on the whole image and takes no mask.")
    return mask


def generation_request_claim(*, request_id: int) -> jobs.Lease | None:
    """Take a queued request for this worker (see generation/jobs.py); None when it is running elsewhere,
    finished or canceled."""
    lease = jobs.claim(request_id)
    if lease is not None:
        _delete_earlier_attempts(GenerationRequest.objects.get(pk=request_id))
    return lease


def generation_request_report_progress(*, request_id: int, step: int, total: int) -> bool:
    """Record progress (and so a heartbeat); False when the request should stop (cancel asked, or no longer
    running)."""
    try:
        updated = GenerationRequest.objects.filter(
            pk=request_id, status=Status.RUNNING, cancel_requested=False
        ).update(progress_step=step, progress_total=total, heartbeat_at=timezone.now())
    except DatabaseError:
        # The database is away for a moment (a restart): the job goes on; its result is written at the end,
        # or, if the database is still away then, the next attempt makes it.
        logger.warning("Request %s: progress not recorded", request_id, exc_info=True)
        return True
    return updated == 1


def generation_request_cancel(*, generation_request: GenerationRequest) -> str:
    """Cancel a request: "canceled" at once when it is queued or its worker is gone, "stopping" when its
    worker stops at the next step, "" when it had already finished."""
    return jobs.cancel(generation_request)


def _result_key(generation_request: GenerationRequest, attempt: int, index: int) -> str:
    """Where an attempt stores a result: derived from the request, so the next attempt can find and delete
    what a killed one left; keyed by a secret, so the names of unapproved images cannot be guessed."""
    token = salted_hmac("generation.result-key", str(generation_request.pk)).hexdigest()[:24]
    return storage_key(
        folder="generated",
        extension="png",
        stem=f"{token}-{attempt}-{index}",
        month=generation_request.created_at,
    )


def _delete_earlier_attempts(generation_request: GenerationRequest) -> None:
    for attempt in range(1, generation_request.attempts):
        for index in range(generation_request.num_images):
            default_storage.delete(_result_key(generation_request, attempt, index))


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
    operation: str = ops.TEXT2IMG,
    source_hash: str = "",
    options: dict | None = None,
) -> dict:
    """The parameters embedded in a generated PNG: the worker's, `manage.py generate`'s and `manage.py
    refine`'s, the same keys (refined images add the operation, its options and the source's SHA-256)."""
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
    if operation != ops.TEXT2IMG:
        parameters["operation"] = operation
        parameters["source_sha256"] = source_hash
        parameters.update(options or {})
    if request_id is not None:
        parameters["request"] = request_id
    return parameters


def generation_request_complete(
    *,
    generation_request: GenerationRequest,
    images: list,
    seeds: list[int],
    upscaler: str = "",
    image_flags: list[dict | None] | None = None,
) -> list[Asset]:
    """Store the images under server-generated keys, create their assets and mark the request done.

    Each asset carries the request's prompt-rule flags and its own safety-checker flag (``image_flags``).
    """
    image_flags = image_flags or [None] * len(images)
    encoded = []
    # Signed as it is written (credentials.py); a failure to sign fails the request, which logs the reason,
    # rather than storing an image without the credentials every Studio image is meant to carry.
    actions, parent = credentials.request_provenance(generation_request=generation_request, upscaler=upscaler)
    source = generation_request.source_asset if generation_request.source_asset_id else None
    source_hash = source.content_hash if source is not None else ""
    for index, (image, seed) in enumerate(zip(images, seeds, strict=True)):
        parameters = image_file_parameters(
            prompt=generation_request.full_prompt,
            negative_prompt=generation_request.full_negative_prompt,
            user_prompt=generation_request.prompt,
            style=generation_request.style,
            model_key=generation_request.model_key,
            scheduler=generation_request.scheduler,
            steps=generation_request.steps,
            guidance=generation_request.guidance,
            seed=seed,
            image=image,
            upscaler=upscaler,
            request_id=generation_request.pk,
            operation=generation_request.operation,
            source_hash=source_hash,
            options=generation_request.options,
        )
        title = f"studio-request-{generation_request.pk}-{index}.png"
        encoded.append(
            (credentials.signed_png(image, parameters, title=title, actions=actions, parent=parent), seed)
        )
    files = [
        (_result_key(generation_request, generation_request.attempts, index), item.data)
        for index, (item, _) in enumerate(encoded)
    ]
    team_id = generation_request.team_id or team_id_for_creator(user_id=generation_request.created_by_id)
    with stored_files(files) as stored_names, transaction.atomic():
        # Under the lease the worker holds: a worker that lost it (taken over, canceled) writes nothing.
        if not jobs.lease_of(generation_request).finish(Status.SUCCEEDED):
            raise GenerationCanceledError
        assets = [
            Asset.objects.create(
                request=generation_request,
                index=index,
                operation=generation_request.operation,
                parent_id=generation_request.source_asset_id,
                revision_of_id=generation_request.revises_id,
                created_by_id=generation_request.created_by_id,
                team_id=team_id,
                file=name,
                content_hash=item.content_hash,
                format=item.format,
                width=item.width,
                height=item.height,
                byte_size=len(item.data),
                seed=seed if ops.OPERATIONS[generation_request.operation].uses_model else None,
                ai_generated=True,
                title=_result_title(generation_request),
                campaign=generation_request.campaign,
                product=generation_request.product,
                channel=generation_request.channel,
                channels=generation_request.channels,
                is_flagged=bool(flags),
                flags=flags,
            )
            for index, ((item, seed), name, flags) in enumerate(
                zip(
                    encoded,
                    stored_names,
                    [
                        [*generation_request.moderation_flags, *([flag] if flag else [])]
                        for flag in image_flags
                    ],
                    strict=True,
                )
            )
        ]
        # Inside the transaction: review writes each asset's review row in it, so an asset never exists
        # without one, and a receiver that fails rolls the rows back (and stored_files deletes the files).
        assets_created.send(sender=Asset, assets=assets)
    return assets


def _result_title(generation_request: GenerationRequest) -> str:
    source = generation_request.source_asset
    if generation_request.operation == ops.TEXT2IMG or source is None:
        return generation_request.prompt[:200]
    label = ops.OPERATIONS[generation_request.operation].label
    base = source.title or f"asset {source.pk}"
    return f"{base} ({label.lower()})"[:200]


def _run_refine(
    generation_request: GenerationRequest, spec: ModelSpec | None, report
) -> tuple[list, list[int]]:
    """Run a refine request: (images, their seeds)."""
    assert generation_request.source_asset is not None  # the gen_refine_has_source constraint
    source = _source_image(generation_request.source_asset)
    mask = None
    if generation_request.mask:
        with default_storage.open(generation_request.mask.name, "rb") as handle, Image.open(handle) as stored:
            mask = stored.convert("L")
    job = RefineJob.from_options(
        operation=generation_request.operation,
        options=generation_request.options or {},
        prompt=generation_request.full_prompt,
        negative_prompt=generation_request.full_negative_prompt,
        num_images=generation_request.num_images,
        seed=generation_request.seed,
        steps=generation_request.steps,
        guidance=generation_request.guidance,
    )
    return run_refine(spec, job, source, mask, report), job.image_seeds()


def _run_text_to_image(
    generation_request: GenerationRequest, spec: ModelSpec, report
) -> tuple[list, list[int]]:
    job = TextToImageJob(
        prompt=generation_request.full_prompt or generation_request.prompt,
        negative_prompt=generation_request.full_negative_prompt,
        width=generation_request.width,
        height=generation_request.height,
        num_images=generation_request.num_images,
        seed=generation_request.seed,
        steps=generation_request.steps,
        guidance=generation_request.guidance,
    )
    return generate_images(spec, job, report), job.image_seeds()


def generation_request_execute(*, request_id: int) -> str:
    """The worker's whole job for one request, under a lease with a heartbeat and a time limit
    (generation/jobs.py). Returns the final status, or "skipped" when it was not this worker's to run."""
    lease = generation_request_claim(request_id=request_id)
    if lease is None:
        logger.info("Request %s was not queued (running elsewhere, canceled or done); skipping", request_id)
        return "skipped"
    with jobs.Watch(lease) as watch:
        return _execute(lease, watch)


def _load_model(request_id: int, spec: ModelSpec) -> str:
    """Have ``spec``'s model in this worker's memory; returns its scheduler's name, recorded with the request.
    While the model loads, the request says so (its page shows "Loading the model", not step 0)."""
    if not pipeline_is_loaded(spec):
        GenerationRequest.objects.filter(pk=request_id).update(loading_model=True)
    scheduler = scheduler_name(spec)
    GenerationRequest.objects.filter(pk=request_id).update(scheduler=scheduler, loading_model=False)
    return scheduler


def _execute(lease: jobs.Lease, watch: jobs.Watch) -> str:
    request_id = lease.request_id
    generation_request = GenerationRequest.objects.select_related("source_asset").get(pk=request_id)

    def report(step: int, total: int) -> bool:
        return watch.keep_going() and generation_request_report_progress(
            request_id=request_id, step=step, total=total
        )

    try:
        operation = ops.OPERATIONS[generation_request.operation]
        spec = get_model(generation_request.model_key) if operation.uses_model else None
        if spec is not None:
            generation_request.scheduler = _load_model(request_id, spec)
        if operation.is_refine:
            images, seeds = _run_refine(generation_request, spec, report)
        else:
            assert spec is not None  # text to image always runs a model
            images, seeds = _run_text_to_image(generation_request, spec, report)
        generation_request_complete(
            generation_request=generation_request,
            images=images,
            seeds=seeds,
            upscaler=upscaler_description(spec) if spec is not None else "",
            # Operations without a diffusion model are checked by the default model's checker.
            image_flags=check_images(spec or default_model(), images),
        )
    except GenerationCanceledError:
        if watch.lost.is_set():
            logger.warning("Request %s: this worker lost its lease; another attempt owns it", request_id)
            return "lost"
        if watch.expired.is_set():
            lease.finish(Status.FAILED, jobs.time_limit_reason())
            return Status.FAILED
        lease.finish(Status.CANCELED)
        return Status.CANCELED
    except (ModelUnavailableError, RefineError, RefineRequestError) as error:
        lease.finish(Status.FAILED, str(error))
        return Status.FAILED
    except DatabaseError:
        # The database went away mid-job: nothing can be recorded now. The lease's heartbeat stops with this
        # attempt, and the sweeper gives the request to a fresh attempt once the database is back.
        logger.exception("Request %s: the database failed during the job; it will be retried", request_id)
        raise
    except Exception:
        # The details (often a long library traceback) go to the worker's log; the user gets what to do.
        logger.exception("Generation request %s failed", request_id)
        lease.finish(
            Status.FAILED,
            f"Something went wrong while making the images (request {request_id}). Try again; if it "
            "keeps failing, an administrator can find the details in the worker log.",
        )
        return Status.FAILED
    return Status.SUCCEEDED
