"""System checks for the model registry (STUDIO_MODELS, which includes STUDIO_MODELS_JSON).

Run at start-up by ``manage.py check``, runserver, migrate and the worker, so a typo in a model entry stops
the start with what to fix, instead of surfacing as a failed job when someone first picks that model.
"""

import difflib
from pathlib import Path

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from generation.engine.pipelines import DTYPES, SINGLE_FILE_PIPELINES
from generation.engine.registry import KNOWN_KEYS, style_problems, task_and_upscaler_problems

# Options the engine reads from an entry's extra keys: pipelines.py (loading a single checkpoint) and
# safety.py (the safety checker).
ENGINE_OPTIONS = frozenset({"config", "original_config", "pipeline", "dtype", "safety_checker"})
ALLOWED_KEYS = KNOWN_KEYS | ENGINE_OPTIONS
# Entries that name a file or folder; the ones that look local (start with / or .) must exist.
PATH_KEYS = ("source", "config", "original_config", "safety_checker")

# (key, smallest, largest, whole numbers only); native_size is 0 (render the requested size) or in range.
NUMBER_RANGES = (
    ("default_steps", 1, 100, True),
    ("default_guidance", 0, 30, False),
    ("max_side", 64, 8192, True),
    ("native_size", 8, 4096, True),
)
TEXT_KEYS = ("label", "notice", "revision", "upscaler")

FIX_HINT = "Fix the entry in STUDIO_MODELS_JSON (or STUDIO_MODELS in the settings); see README, Models."


def check_model_registry(app_configs=None, **kwargs) -> list[CheckMessage]:
    models = settings.STUDIO_MODELS
    if not isinstance(models, dict):
        return [
            Error(
                "STUDIO_MODELS must map model keys to entries.",
                hint='Set STUDIO_MODELS_JSON to a JSON object: {"key": {"source": "..."}}.',
                id="generation.E001",
            )
        ]
    messages: list[CheckMessage] = []
    for key, entry in models.items():
        messages.extend(model_entry_messages(str(key), entry))
    messages.extend(_default_model_messages(models))
    return messages


def model_entry_messages(key: str, entry: object) -> list[CheckMessage]:
    """Everything wrong with one registry entry, each with what to change."""
    if not isinstance(entry, dict):
        return [
            Error(
                f"Model {key!r}: the entry is {type(entry).__name__}, not an object.",
                hint=f'Write it as {{"{key}": {{"source": "<hub id or local path>", ...}}}}.',
                id="generation.E001",
            )
        ]
    messages: list[CheckMessage] = []
    messages.extend(_source_messages(key, entry))
    messages.extend(_unknown_key_messages(key, entry))
    messages.extend(_type_messages(key, entry))
    messages.extend(_number_messages(key, entry))
    messages.extend(_registry_rule_messages(key, entry))
    messages.extend(_choice_messages(key, entry))
    messages.extend(_path_messages(key, entry))
    return messages


def _source_messages(key: str, entry: dict) -> list[CheckMessage]:
    source = entry.get("source")
    if isinstance(source, str) and source.strip():
        return []
    if source is None:
        problem = f"Model {key!r} has no source."
    else:
        problem = f"Model {key!r}: source {source!r} is empty or not text."
    return [
        Error(
            problem,
            hint='Add "source": a hub id (org/name), a local diffusers folder or a .safetensors file.',
            id="generation.E002",
        )
    ]


def _unknown_key_messages(key: str, entry: dict) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in sorted(set(map(str, entry)) - ALLOWED_KEYS):
        close = difflib.get_close_matches(name, sorted(ALLOWED_KEYS), n=1)
        if close:
            hint = f'Did you mean "{close[0]}"? Rename the key.'
        else:
            hint = f"Remove it; the known keys are {', '.join(sorted(ALLOWED_KEYS))}."
        messages.append(
            Warning(f"Model {key!r}: unknown key {name!r} is ignored.", hint=hint, id="generation.W001")
        )
    return messages


def _type_messages(key: str, entry: dict) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in TEXT_KEYS:
        if name in entry and not isinstance(entry[name], str):
            messages.append(
                Error(
                    f"Model {key!r}: {name!r} must be text, not {entry[name]!r}.",
                    hint=f'Quote the value: "{name}": "...".',
                    id="generation.E003",
                )
            )
    if "test_only" in entry and not isinstance(entry["test_only"], bool):
        messages.append(
            Error(
                f"Model {key!r}: 'test_only' must be true or false, not {entry['test_only']!r}.",
                hint='Write "test_only": true (or leave it out).',
                id="generation.E003",
            )
        )
    return messages


def _number_messages(key: str, entry: dict) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, low, high, whole in NUMBER_RANGES:
        if name not in entry:
            continue
        value = entry[name]
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "a whole number" if whole else "a number"
            messages.append(
                Error(
                    f"Model {key!r}: {name!r} must be {kind}, not {value!r}.",
                    hint=f'Write it without quotes, e.g. "{name}": {low if name != "native_size" else 64}.',
                    id="generation.E003",
                )
            )
        elif not (low <= value <= high or (name == "native_size" and value == 0)):
            allowed = f"0 or {low}-{high}" if name == "native_size" else f"{low}-{high}"
            messages.append(
                Error(
                    f"Model {key!r}: {name!r} is {value!r}; it must be {allowed}.",
                    hint=f"Set {name} within {allowed}. {FIX_HINT}",
                    id="generation.E003",
                )
            )
    return messages


def _registry_rule_messages(key: str, entry: dict) -> list[CheckMessage]:
    # The registry enforces the same rules (tasks, upscaler, styles) when a model is used: one place states
    # them.
    return [
        Error(problem.message, hint=problem.hint, id=problem.id)
        for problem in [*task_and_upscaler_problems(key, entry), *style_problems(key, entry)]
    ]


def _choice_messages(key: str, entry: dict) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, choices in (("pipeline", SINGLE_FILE_PIPELINES), ("dtype", DTYPES)):
        value = entry.get(name)
        if value in (None, "") or value in choices:
            continue
        messages.append(
            Error(
                f"Model {key!r}: {name!r} is {value!r}, which Studio cannot load.",
                hint=f"Use one of {', '.join(choices)}, or remove the key for the default.",
                id="generation.E006",
            )
        )
    return messages


def _path_messages(key: str, entry: dict) -> list[CheckMessage]:
    if entry.get("test_only") and not getattr(settings, "STUDIO_TEST_MODELS", False):
        # Not offered, and built on demand (manage.py build_tiny_model): nothing to warn an operator about.
        return []
    messages: list[CheckMessage] = []
    for name in PATH_KEYS:
        value = entry.get(name)
        if not isinstance(value, str) or not value.startswith(("/", ".")):
            continue  # empty, or a hub id that may be downloaded later
        if not Path(value).exists():
            messages.append(
                Warning(
                    f"Model {key!r}: {name} {value!r} does not exist on this machine.",
                    hint="Put the model there (or fix the path) before anyone picks this model; a hub id "
                    "(org/name) is fetched instead.",
                    id="generation.W002",
                )
            )
    return messages


def _default_model_messages(models: dict) -> list[CheckMessage]:
    key = settings.STUDIO_DEFAULT_MODEL
    if key not in models:
        return [
            Error(
                f"STUDIO_DEFAULT_MODEL {key!r} is not in the model registry.",
                hint=f"Set STUDIO_DEFAULT_MODEL to one of {', '.join(map(repr, models))}.",
                id="generation.E007",
            )
        ]
    entry = models[key]
    if (
        isinstance(entry, dict)
        and entry.get("test_only")
        and not getattr(settings, "STUDIO_TEST_MODELS", False)
    ):
        return [
            Error(
                f"STUDIO_DEFAULT_MODEL {key!r} is a test-only model.",
                hint="Pick a real model for STUDIO_DEFAULT_MODEL, or set STUDIO_TEST_MODELS=1 to offer it.",
                id="generation.E008",
            )
        ]
    return []


def check_job_settings(app_configs=None, **kwargs) -> list[CheckMessage]:
    """The job lease and time limits (generation/jobs.py) must fit together, or jobs are retried while they
    still run, or never stopped."""
    problems: list[CheckMessage] = []
    heartbeat, lease = settings.STUDIO_JOB_HEARTBEAT_SECONDS, settings.STUDIO_JOB_LEASE_SECONDS
    if lease < 3 * heartbeat:
        problems.append(
            Error(
                f"STUDIO_JOB_LEASE_SECONDS ({lease:g}) must be at least three heartbeats "
                f"(STUDIO_JOB_HEARTBEAT_SECONDS is {heartbeat:g}), or a live worker's job is taken over.",
                id="generation.E020",
            )
        )
    soft, hard = settings.STUDIO_JOB_SOFT_TIME_LIMIT, settings.STUDIO_JOB_TIME_LIMIT
    if hard <= soft:
        problems.append(
            Error(
                f"STUDIO_TASK_TIME_LIMIT ({hard:g} s) must be longer than STUDIO_TASK_SOFT_TIME_LIMIT "
                f"({soft:g} s): the hard limit is for a job that ignored the soft one.",
                id="generation.E021",
            )
        )
    if settings.STUDIO_JOB_MAX_ATTEMPTS < 1:
        problems.append(Error("STUDIO_JOB_MAX_ATTEMPTS must be at least 1.", id="generation.E022"))
    return problems
