"""The kinds of generation request: text to image and the refine operations. Pure data, no Django.

One table says, for each operation, what it needs (a source image, a prompt, a mask), which registry task
a model must list to run it, and what the CLI calls it; the models' choices, the refine form, the CLI and
the engine all read it from here.
"""

from dataclasses import dataclass

# Registry tasks a model can list (STUDIO_MODELS[...]["tasks"]).
TASK_TEXT2IMG = "text2img"
TASK_IMG2IMG = "img2img"
TASK_INPAINT = "inpaint"
MODEL_TASKS = (TASK_TEXT2IMG, TASK_IMG2IMG, TASK_INPAINT)

MASK_NONE = "none"
MASK_OPTIONAL = "optional"
MASK_REQUIRED = "required"


@dataclass(frozen=True)
class Operation:
    key: str  # stored in the database
    label: str
    cli_name: str  # `manage.py refine <cli_name>`
    task: str | None  # the registry task the model must support; None: runs without a diffusion model
    prompt: str  # "required", "optional" or "none"
    mask: str  # MASK_NONE, MASK_OPTIONAL or MASK_REQUIRED
    help: str

    @property
    def uses_model(self) -> bool:
        return self.task is not None

    @property
    def is_refine(self) -> bool:
        return self.key != TEXT2IMG


TEXT2IMG = "text2img"
IMG2IMG = "img2img"
INPAINT = "inpaint"
REMOVE = "remove"
REPLACE_BACKGROUND = "replace_background"
OUTPAINT = "outpaint"
RECOLOR = "recolor"
UPSCALE = "upscale"
RESTORE = "restore"
VARIATIONS = "variations"

OPERATIONS: dict[str, Operation] = {
    operation.key: operation
    for operation in [
        Operation(TEXT2IMG, "Text to image", "text2img", TASK_TEXT2IMG, "required", MASK_NONE, ""),
        Operation(
            IMG2IMG,
            "Image to image",
            "img2img",
            TASK_IMG2IMG,
            "required",
            MASK_NONE,
            "Redraw the whole image following a prompt; strength sets how far it may move from the original.",
        ),
        Operation(
            INPAINT,
            "Inpaint",
            "inpaint",
            TASK_INPAINT,
            "required",
            MASK_REQUIRED,
            "Paint over an area and say what goes there; the rest of the image stays as it is.",
        ),
        Operation(
            REMOVE,
            "Remove object",
            "remove",
            TASK_INPAINT,
            "none",
            MASK_REQUIRED,
            "Paint over an object; the area is filled to continue its surroundings.",
        ),
        Operation(
            REPLACE_BACKGROUND,
            "Replace background",
            "replace-background",
            TASK_INPAINT,
            "required",
            MASK_OPTIONAL,
            "Keep the subject and describe the new background. Studio finds the subject itself; paint to "
            "mark more of the picture as background.",
        ),
        Operation(
            OUTPAINT,
            "Outpaint",
            "outpaint",
            TASK_INPAINT,
            "optional",
            MASK_NONE,
            "Extend the canvas to a new aspect ratio or by pixels per side; the original pixels are kept.",
        ),
        Operation(
            RECOLOR,
            "Recolour",
            "recolor",
            None,
            "none",
            MASK_OPTIONAL,
            "Change the colour of a painted area (or of the subject Studio finds), keeping its shading.",
        ),
        Operation(
            UPSCALE,
            "Upscale",
            "upscale",
            None,
            "none",
            MASK_NONE,
            "Enlarge 2x or 4x with Real-ESRGAN.",
        ),
        Operation(
            RESTORE,
            "Restore",
            "restore",
            None,
            "none",
            MASK_NONE,
            "Remove noise and blur from a degraded image at its own size.",
        ),
        Operation(
            VARIATIONS,
            "Variations",
            "variations",
            TASK_IMG2IMG,
            "optional",
            MASK_NONE,
            "New takes on the image: the same prompt with new seeds, or a light image-to-image pass.",
        ),
    ]
}
REFINE_OPERATIONS = tuple(key for key in OPERATIONS if key != TEXT2IMG)
BY_CLI_NAME = {operation.cli_name: operation for operation in OPERATIONS.values() if operation.is_refine}

# Assets that no request made.
IMPORT = "import"
UPLOAD = "upload"

# For the models' TextChoices: (member name, (stored value, label)), e.g. Asset.Operation.UPLOAD.
REQUEST_OPERATION_MEMBERS = [
    ("TEXT_TO_IMAGE" if key == TEXT2IMG else key.upper(), (key, operation.label))
    for key, operation in OPERATIONS.items()
]
ASSET_OPERATION_MEMBERS = [
    *REQUEST_OPERATION_MEMBERS,
    ("IMPORT", (IMPORT, "Imported")),
    ("UPLOAD", (UPLOAD, "Uploaded")),
]

# Outpainting targets offered by name; any W:H of positive numbers is accepted too.
OUTPAINT_ASPECTS = {"16:9": 16 / 9, "1:1": 1.0, "9:16": 9 / 16, "4:5": 4 / 5, "1.91:1": 1.91}
ANCHORS = ("center", "north", "south", "east", "west")
UPSCALE_SCALES = (2, 4)
VARIATION_MODES = ("seeds", "img2img")
