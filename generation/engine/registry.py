"""The model registry: which models Studio can run, read from settings.STUDIO_MODELS."""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from generation.engine.upscale import UPSCALE_FACTORS
from generation.operations import MODEL_TASKS
from generation.presets import SIZE_PRESETS, STYLES, SizePreset, Style

logger = logging.getLogger(__name__)


MIN_SIDE = 64
# Latent diffusion models downsample by 8: sides must be multiples of 8.
SIDE_MULTIPLE = 8
# The side of the square a model that makes any size is asked for by default.
DEFAULT_SIDE = 512


class UnknownModelError(LookupError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    key: str
    label: str
    source: str  # a hub id, a local diffusers folder, or a single .safetensors checkpoint
    # What the model is offered for: text2img, and img2img / inpaint through diffusers' from_pipe on the
    # same loaded components (every Stable Diffusion and SDXL pipeline can do both).
    tasks: tuple[str, ...] = MODEL_TASKS
    notice: str = ""
    default_steps: int = 25
    default_guidance: float = 7.5
    max_side: int = 1024
    revision: str = ""
    # A model trained at one size renders at that size whatever is asked (0: at the requested size)...
    native_size: int = 0
    # ...and an upscaler ("" or a key of UPSCALE_FACTORS) brings its images to the size users get.
    upscaler: str = ""
    # The style presets it draws, in its menu's order: a model trained on a few looks offers only those
    # (empty: every preset in STYLES).
    styles: tuple[str, ...] = ()
    # Test-only models (the tiny random-weight pipeline) run, but are offered only when STUDIO_TEST_MODELS=1.
    test_only: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_single_file(self) -> bool:
        return self.source.endswith((".safetensors", ".ckpt"))

    @property
    def name(self) -> str:
        """The label without its parenthesised details, for sentences: "Studio default"."""
        return self.label.split(" (", 1)[0]

    @property
    def upscale_factor(self) -> int:
        return UPSCALE_FACTORS[self.upscaler] if self.upscaler else 1

    @property
    def output_size(self) -> int:
        """The one side length (square) a fixed-size model makes; 0 when it renders the requested size."""
        return self.native_size * self.upscale_factor if self.native_size else 0

    @property
    def subjects(self) -> tuple[str, ...]:
        """What a model trained on a closed list of objects can draw, in words a prompt may use."""
        return tuple(word for word, _ in model_subjects(self.source))

    @property
    def subject_groups(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The subjects by kind ("Food", "Tools", ...), in the order the model lists them; () if ungrouped."""
        groups: dict[str, list[str]] = {}
        for word, group in model_subjects(self.source):
            if not group:
                return ()
            groups.setdefault(group, []).append(word)
        return tuple((group.capitalize(), tuple(words)) for group, words in groups.items())

    @property
    def largest_side(self) -> int:
        return self.max_side - self.max_side % SIDE_MULTIPLE

    @property
    def size_rule(self) -> str:
        """The sizes this model makes, as a sentence for error messages."""
        if self.output_size:
            return f"{self.name} makes {self.output_size} x {self.output_size} images only."
        return (
            f"{self.name} makes each side from {MIN_SIDE} to {self.largest_side} px, "
            f"in multiples of {SIDE_MULTIPLE}."
        )

    def size_problem(self, width: int, height: int) -> str:
        """Why this model cannot make ``width`` x ``height`` images, or "" when it can.

        The one size rule: the generate form, the API, the `generate` command and the engine all ask it.
        """
        if self.output_size:
            side = self.output_size
            if (width, height) == (side, side):
                return ""
            return (
                f"{self.name} makes {side} x {side} images only; "
                f"choose Square {side} x {side} or another model."
            )
        if self.fits_side(width) and self.fits_side(height):
            return ""
        return (
            f"{self.size_rule} The nearest to {width} x {height} it makes is "
            f"{self._nearest(width)} x {self._nearest(height)}."
        )

    def fits_side(self, side: int) -> bool:
        """Whether a model that makes any size makes this side length."""
        return MIN_SIDE <= side <= self.max_side and side % SIDE_MULTIPLE == 0

    def _nearest(self, side: int) -> int:
        return min(max(MIN_SIDE, round(side / SIDE_MULTIPLE) * SIDE_MULTIPLE), self.largest_side)

    @property
    def makes_any_size(self) -> bool:
        """Whether users may ask for a custom width and height."""
        return not self.output_size

    def size_presets(self) -> list[SizePreset]:
        """The size presets this model can make, for the size menu; a fixed-size model's one size always."""
        presets = [
            preset for preset in SIZE_PRESETS.values() if not self.size_problem(preset.width, preset.height)
        ]
        if self.output_size and not presets:
            side = self.output_size
            presets = [SizePreset(f"{side}x{side}", f"Square {side} x {side}", side, side)]
        return presets

    def default_size(self) -> tuple[int, int]:
        """What the size menu preselects and the `generate` command makes when no size is asked for."""
        side = self.output_size or self._nearest(min(DEFAULT_SIDE, self.max_side))
        return side, side

    def style_choices(self) -> list[Style]:
        """The style presets this model draws, for the style menu: its own list, else every preset."""
        return [STYLES[key] for key in self.styles] if self.styles else list(STYLES.values())

    def style_problem(self, style_key: str) -> str:
        """Why this model cannot draw the style ``style_key``, or "" when it can.

        The one style rule: the generate form (so the API too) and the `generate` command ask it.
        """
        offered = self.style_choices()
        if any(style.key == style_key for style in offered):
            return ""
        labels = ", ".join(style.label for style in offered)
        return f"{self.name} draws only these styles: {labels}; choose one of them or another model."


# The keys ModelSpec reads; anything else is kept in ``extra`` for the engine (see generation/checks.py).
KNOWN_KEYS = frozenset(
    {
        "label",
        "source",
        "tasks",
        "notice",
        "default_steps",
        "default_guidance",
        "max_side",
        "revision",
        "native_size",
        "upscaler",
        "styles",
        "test_only",
    }
)


def _spec_from_settings(key: str, entry: dict) -> ModelSpec:
    # Checked first, so a wrong type is refused with what to write rather than failing in tuple().
    problems = [*task_and_upscaler_problems(key, entry), *style_problems(key, entry)]
    if problems:
        raise ImproperlyConfigured(f"{problems[0].message} {problems[0].hint}")
    return ModelSpec(
        key=key,
        label=entry.get("label", key),
        source=str(entry["source"]),
        tasks=tuple(entry.get("tasks", MODEL_TASKS)),
        notice=entry.get("notice", ""),
        default_steps=int(entry.get("default_steps", 25)),
        default_guidance=float(entry.get("default_guidance", 7.5)),
        max_side=int(entry.get("max_side", 1024)),
        revision=entry.get("revision", ""),
        native_size=int(entry.get("native_size", 0)),
        upscaler=entry.get("upscaler", ""),
        styles=tuple(entry.get("styles", ())),
        test_only=bool(entry.get("test_only", False)),
        extra={name: value for name, value in entry.items() if name not in KNOWN_KEYS},
    )


@dataclass(frozen=True)
class EntryProblem:
    id: str  # the system check's id
    message: str
    hint: str


def task_and_upscaler_problems(key: str, entry: dict) -> list[EntryProblem]:
    """What is wrong with an entry's tasks and upscaler: refused when the model is used, and reported at
    start-up by the system checks (generation/checks.py)."""
    problems: list[EntryProblem] = []
    tasks = entry.get("tasks", MODEL_TASKS)
    if isinstance(tasks, str) or not isinstance(tasks, list | tuple):
        problems.append(
            EntryProblem(
                "generation.E004",
                f"Model {key!r}: 'tasks' must be a list, not {tasks!r}.",
                f'Write e.g. "tasks": ["{MODEL_TASKS[0]}"] (known: {", ".join(MODEL_TASKS)}).',
            )
        )
        tasks = ()
    unknown = [task for task in tasks if task not in MODEL_TASKS]
    if unknown:
        problems.append(
            EntryProblem(
                "generation.E004",
                f"Model {key!r}: unknown task(s) {', '.join(map(repr, unknown))}.",
                f"Use only {', '.join(MODEL_TASKS)}.",
            )
        )
    upscaler = entry.get("upscaler") or ""
    if not isinstance(upscaler, str) or not upscaler:
        return problems  # a wrong type is the checks' text-type message
    if upscaler not in UPSCALE_FACTORS:
        problems.append(
            EntryProblem(
                "generation.E005",
                f"Model {key!r}: unknown upscaler {upscaler!r}.",
                f"Use one of {', '.join(UPSCALE_FACTORS)}, or remove the key.",
            )
        )
    elif not entry.get("native_size"):
        problems.append(
            EntryProblem(
                "generation.E005",
                f"Model {key!r}: an upscaler needs the model's native_size.",
                'Add "native_size" (the side the model renders at, e.g. 64), or remove "upscaler".',
            )
        )
    return problems


def style_problems(key: str, entry: dict) -> list[EntryProblem]:
    """What is wrong with an entry's styles (the presets its menu offers), refused and reported like the
    tasks."""
    if "styles" not in entry:
        return []
    styles = entry["styles"]
    known = ", ".join(STYLES)
    if isinstance(styles, str) or not isinstance(styles, list | tuple):
        return [
            EntryProblem(
                "generation.E009",
                f"Model {key!r}: 'styles' must be a list, not {styles!r}.",
                f'Write e.g. "styles": ["none", "photorealistic"] (known: {known}).',
            )
        ]
    if not styles:
        return [
            EntryProblem(
                "generation.E009",
                f"Model {key!r}: 'styles' is empty, so its style menu would offer nothing.",
                "List the styles it draws, or remove the key to offer every style.",
            )
        ]
    unknown = [style for style in styles if not isinstance(style, str) or style not in STYLES]
    if unknown:
        return [
            EntryProblem(
                "generation.E009",
                f"Model {key!r}: unknown style(s) {', '.join(map(repr, unknown))}.",
                f"Use only the style presets {known}.",
            )
        ]
    return []


def get_model(key: str) -> ModelSpec:
    try:
        entry = settings.STUDIO_MODELS[key]
    except KeyError:
        raise UnknownModelError(f"No model {key!r} is registered in STUDIO_MODELS.") from None
    return _spec_from_settings(key, entry)


def model_name(key: str) -> str:
    """A model's name for people; a model removed from the registry since is named by its key."""
    if not key:
        return ""
    try:
        return get_model(key).name
    except UnknownModelError:
        return key


def default_model() -> ModelSpec:
    return get_model(settings.STUDIO_DEFAULT_MODEL)


def available_models(task: str | None = "text2img") -> list[ModelSpec]:
    """The models offered to users for ``task``: test-only ones only when STUDIO_TEST_MODELS is on."""
    specs = [_spec_from_settings(key, entry) for key, entry in settings.STUDIO_MODELS.items()]
    offer_test_models = getattr(settings, "STUDIO_TEST_MODELS", False)
    return [
        spec
        for spec in specs
        if (task is None or task in spec.tasks) and (offer_test_models or not spec.test_only)
    ]


_subjects: dict[str, tuple[tuple[str, str], ...]] = {}


def model_subjects(source: str) -> tuple[tuple[str, str], ...]:
    """The objects a model folder says it was trained on (``objects.json``): (caption word, group) pairs.

    ``objects.json`` holds the data package's names ("HOT BEVERAGE"); ``training_state.json`` maps each to the
    words its captions used ("coffee mug", ...), the first of which is what a prompt should say, and to its
    group ("drink"; "" in models trained before groups). Read once per process, like the weights; a folder
    without the list (any other model) has no subjects.
    """
    if source in _subjects:
        return _subjects[source]
    folder = Path(source)
    try:
        names = json.loads((folder / "objects.json").read_text())
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as error:
        logger.warning("Cannot read %s/objects.json: %s", folder, error)
        return ()
    try:
        state = json.loads((folder / "training_state.json").read_text())
    except (OSError, ValueError):
        state = {}
    words, groups = state.get("prompt_words", {}), state.get("groups", {})
    _subjects[source] = tuple(
        ((words.get(name) or [str(name).lower()])[0], str(groups.get(name, ""))) for name in names
    )
    return _subjects[source]
