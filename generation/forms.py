from django import forms
from django.core.exceptions import ValidationError

from generation.engine.registry import available_models, default_model, get_model
from generation.operations import ANCHORS, OPERATIONS, OUTPAINT, REFINE_OPERATIONS
from generation.presets import (
    CUSTOM_SIZE,
    MIN_SIDE,
    SIDE_MULTIPLE,
    SIZE_PRESETS,
    STYLES,
    preset_for_size,
)
from generation.services import MAX_SEED, GenerationParameters, RefineParameters

CHANNEL_SUGGESTIONS = ["web", "social", "email", "print", "display ads", "app"]
MAX_MASK_BYTES = 8 * 1024 * 1024


class GenerateForm(forms.Form):
    prompt = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(
            attrs={"rows": 3, "autofocus": True, "placeholder": "a red apple on a blue background"}
        ),
    )
    negative_prompt = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    style = forms.ChoiceField(choices=[(key, style.label) for key, style in STYLES.items()], initial="none")
    model = forms.ChoiceField(choices=())
    size = forms.ChoiceField(
        choices=[
            *((key, preset.label) for key, preset in SIZE_PRESETS.items()),
            (CUSTOM_SIZE, "Custom size"),
        ],
        initial="square",
    )
    width = forms.IntegerField(required=False, min_value=MIN_SIDE, help_text="Custom size only")
    height = forms.IntegerField(required=False, min_value=MIN_SIDE, help_text="Custom size only")
    num_images = forms.IntegerField(label="Images", min_value=1, max_value=4, initial=1)
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_SEED,
        help_text="Leave blank for a random seed; it is stored.",
    )
    steps = forms.IntegerField(min_value=1, max_value=100)
    guidance = forms.FloatField(min_value=0, max_value=30)
    campaign = forms.CharField(max_length=200, required=False)
    product = forms.CharField(max_length=200, required=False)
    channel = forms.CharField(max_length=100, required=False)
    team = forms.TypedChoiceField(coerce=int, choices=(), required=False, empty_value=None)

    def __init__(self, *args, teams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Someone in several teams picks which one the work belongs to (their first by default); anyone else
        # does not see the field, and their work goes to their one team (studio/teams.py).
        teams = list(teams)
        if len(teams) > 1:
            self.fields["team"].choices = [(team.pk, team.name) for team in teams]
            self.fields["team"].initial = teams[0].pk
        else:
            del self.fields["team"]
        models = available_models("text2img")
        self.fields["model"].choices = [(spec.key, spec.label) for spec in models]
        spec = default_model()
        self.fields["model"].initial = spec.key
        # A fixed-size model makes one size; preselect it so the form is valid as it stands.
        if spec.output_size:
            self.fields["size"].initial = preset_for_size(spec.output_size, spec.output_size) or CUSTOM_SIZE
        self.fields["steps"].initial = spec.default_steps
        self.fields["guidance"].initial = spec.default_guidance

    def clean(self) -> dict:
        cleaned = super().clean()
        model_key = cleaned.get("model")
        if not model_key:
            return cleaned
        spec = get_model(model_key)
        if cleaned.get("size") == CUSTOM_SIZE:
            width, height = cleaned.get("width"), cleaned.get("height")
            if not width or not height:
                raise ValidationError("Give both a width and a height for a custom size.")
        elif cleaned.get("size") in SIZE_PRESETS:
            preset = SIZE_PRESETS[cleaned["size"]]
            width, height = preset.width, preset.height
        else:
            return cleaned
        if spec.output_size:
            problem = spec.size_problem(width, height)
            if problem:
                self.add_error("size", problem)
                return cleaned
        else:
            for name, value in (("width", width), ("height", height)):
                if value > spec.max_side:
                    self.add_error(name, f"{spec.label} makes images up to {spec.max_side} px per side.")
                elif value % SIDE_MULTIPLE:
                    self.add_error(
                        name, f"Must be a multiple of {SIDE_MULTIPLE} (try {value - value % SIDE_MULTIPLE})."
                    )
        cleaned["width"], cleaned["height"] = width, height
        return cleaned

    def parameters(self) -> GenerationParameters:
        data = self.cleaned_data
        return GenerationParameters(
            prompt=data["prompt"],
            negative_prompt=data["negative_prompt"],
            style=data["style"],
            model_key=data["model"],
            width=data["width"],
            height=data["height"],
            num_images=data["num_images"],
            seed=data["seed"],
            steps=data["steps"],
            guidance=data["guidance"],
            campaign=data["campaign"],
            product=data["product"],
            channel=data["channel"],
        )


class RefineForm(forms.Form):
    """One refine operation on an asset. Options that an operation does not use are ignored."""

    operation = forms.ChoiceField(choices=())
    model = forms.ChoiceField(choices=(), required=False)
    prompt = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    negative_prompt = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 1})
    )
    strength = forms.FloatField(
        required=False, min_value=0.05, max_value=1.0, help_text="How far the result may move from the image."
    )
    aspect = forms.CharField(max_length=20, required=False, help_text="Target aspect ratio, W:H.")
    pad_left = forms.IntegerField(required=False, min_value=0, max_value=4096)
    pad_top = forms.IntegerField(required=False, min_value=0, max_value=4096)
    pad_right = forms.IntegerField(required=False, min_value=0, max_value=4096)
    pad_bottom = forms.IntegerField(required=False, min_value=0, max_value=4096)
    anchor = forms.ChoiceField(choices=[(anchor, anchor.title()) for anchor in ANCHORS], initial="center")
    color = forms.CharField(max_length=40, required=False, help_text="A colour name or #RRGGBB.")
    scale = forms.TypedChoiceField(choices=[(2, "2x"), (4, "4x")], coerce=int, initial=2)
    mode = forms.ChoiceField(
        choices=[("img2img", "Light image-to-image pass"), ("seeds", "Same prompt, new seeds")],
        initial="img2img",
    )
    num_images = forms.IntegerField(label="Images", min_value=1, max_value=4, initial=1)
    seed = forms.IntegerField(required=False, min_value=0, max_value=MAX_SEED - 4)
    steps = forms.IntegerField(required=False, min_value=1, max_value=100)
    guidance = forms.FloatField(required=False, min_value=0, max_value=30)
    mask = forms.FileField(required=False, help_text="A PNG: white = change, black = keep.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.models = available_models(None)
        self.fields["model"].choices = [(spec.key, spec.label) for spec in self.models]
        self.fields["model"].initial = default_model().key
        self.fields["operation"].choices = [
            (key, OPERATIONS[key].label) for key in REFINE_OPERATIONS if self.operation_offered(key)
        ]

    def operation_offered(self, key: str) -> bool:
        """An operation is offered when it needs no model, or some offered model lists its task."""
        task = OPERATIONS[key].task
        return task is None or any(task in spec.tasks for spec in self.models)

    def clean_mask(self):
        upload = self.cleaned_data.get("mask")
        if upload is None:
            return None
        if upload.size > MAX_MASK_BYTES:
            raise ValidationError(f"The mask is over {MAX_MASK_BYTES // (1024 * 1024)} MB.")
        return upload.read()

    def clean(self) -> dict:
        cleaned = super().clean()
        pads = [cleaned.get(f"pad_{side}") for side in ("left", "top", "right", "bottom")]
        cleaned["pad"] = tuple(value or 0 for value in pads) if any(pads) else None
        if cleaned.get("operation") == OUTPAINT and cleaned.get("aspect") and cleaned["pad"]:
            raise ValidationError("Outpaint to an aspect ratio or by pixels per side, not both.")
        return cleaned

    def parameters(self) -> RefineParameters:
        data = self.cleaned_data
        return RefineParameters(
            operation=data["operation"],
            prompt=data["prompt"],
            negative_prompt=data["negative_prompt"],
            model_key=data.get("model") or "",
            num_images=data["num_images"],
            seed=data["seed"],
            steps=data["steps"],
            guidance=data["guidance"],
            strength=data["strength"],
            aspect=data["aspect"],
            pad=data["pad"],
            anchor=data["anchor"],
            color=data["color"],
            scale=data["scale"],
            mode=data["mode"],
            mask_png=data["mask"],
        )
