"""The model registry: which models Studio can run, read from settings.STUDIO_MODELS."""

from dataclasses import dataclass, field

from django.conf import settings


class UnknownModelError(LookupError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    key: str
    label: str
    source: str  # a hub id, a local diffusers folder, or a single .safetensors checkpoint
    tasks: tuple[str, ...] = ("text2img",)
    notice: str = ""
    default_steps: int = 25
    default_guidance: float = 7.5
    max_side: int = 1024
    revision: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_single_file(self) -> bool:
        return self.source.endswith((".safetensors", ".ckpt"))


_KNOWN_KEYS = {
    "label",
    "source",
    "tasks",
    "notice",
    "default_steps",
    "default_guidance",
    "max_side",
    "revision",
}


def _spec_from_settings(key: str, entry: dict) -> ModelSpec:
    return ModelSpec(
        key=key,
        label=entry.get("label", key),
        source=str(entry["source"]),
        tasks=tuple(entry.get("tasks", ("text2img",))),
        notice=entry.get("notice", ""),
        default_steps=int(entry.get("default_steps", 25)),
        default_guidance=float(entry.get("default_guidance", 7.5)),
        max_side=int(entry.get("max_side", 1024)),
        revision=entry.get("revision", ""),
        extra={name: value for name, value in entry.items() if name not in _KNOWN_KEYS},
    )


def get_model(key: str) -> ModelSpec:
    try:
        entry = settings.STUDIO_MODELS[key]
    except KeyError:
        raise UnknownModelError(f"No model {key!r} is registered in STUDIO_MODELS.") from None
    return _spec_from_settings(key, entry)


def default_model() -> ModelSpec:
    return get_model(settings.STUDIO_DEFAULT_MODEL)


def available_models(task: str = "text2img") -> list[ModelSpec]:
    specs = [_spec_from_settings(key, entry) for key, entry in settings.STUDIO_MODELS.items()]
    return [spec for spec in specs if task in spec.tasks]
