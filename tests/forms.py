"""The Generate form in tests: what its page posts (to the test client or a running server), and what it
yields once valid, for tests that create requests through the service."""

from generation.services import GenerationParameters


def generate_form_data(**fields: str | list[str]) -> dict[str, str | list[str]]:
    """The Generate form as the page sends it: one 64 x 64 image of a red apple from the tiny model in two
    steps (quick enough for any test), with ``fields`` changed; a list value repeats the key."""
    return {
        "prompt": "a red apple on a blue background",
        "negative_prompt": "",
        "style": "none",
        "model": "tiny",
        "size": "custom",
        "width": "64",
        "height": "64",
        "num_images": "1",
        "seed": "",
        "steps": "2",
        "guidance": "5",
        "campaign": "",
        "product": "",
        **fields,
    }


def generation_parameters(**fields) -> GenerationParameters:
    """The same request as :func:`generate_form_data`, as the valid form hands it to the service (seed 1),
    with ``fields`` changed."""
    defaults = {
        "prompt": "a red apple on a blue background",
        "negative_prompt": "",
        "style": "none",
        "model_key": "tiny",
        "width": 64,
        "height": 64,
        "num_images": 1,
        "seed": 1,
        "steps": 2,
        "guidance": 5.0,
    }
    return GenerationParameters(**{**defaults, **fields})
