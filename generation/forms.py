from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy

from generation.channels import channel_choices
from generation.engine.registry import ModelSpec, available_models, default_model, get_model
from generation.operations import ANCHORS, OPERATIONS, OUTPAINT, REFINE_OPERATIONS
from generation.presets import CUSTOM_SIZE, SIZE_PRESETS, STYLES
from generation.services import MAX_SEED, GenerationParameters, RefineParameters

MAX_MASK_BYTES = 8 * 1024 * 1024
MAX_PROMPT_CHARACTERS = 1000


def metered_textarea(rows: int, **attrs: object) -> forms.Textarea:
    """A prompt box whose meter (characters, and the words the model does not read) follows what is typed:
    htmx asks the server, which counts real CLIP tokens (see templates/generation/prompt_meter.html)."""
    return forms.Textarea(
        attrs={
            "rows": rows,
            "hx-get": reverse_lazy("generation:prompt-meter"),
            "hx-trigger": "input changed delay:300ms",
            "hx-swap": "outerHTML",
            **attrs,
        }
    )


def size_menu(spec: ModelSpec) -> list[tuple[str, str]]:
    """The size menu for ``spec``: the presets it can make, and a custom size when it makes any size."""
    menu = [(preset.key, preset.label) for preset in spec.size_presets()]
    return [*menu, (CUSTOM_SIZE, "Custom size")] if spec.makes_any_size else menu


def default_size_key(spec: ModelSpec) -> str:
    """The size menu's entry for the size ``spec`` makes by default (custom when no preset is that size)."""
    width, height = spec.default_size()
    return next(
        (preset.key for preset in spec.size_presets() if (preset.width, preset.height) == (width, height)),
        CUSTOM_SIZE,
    )


def style_menu(spec: ModelSpec) -> list[tuple[str, str]]:
    """The style menu for ``spec``: the style presets it draws."""
    return [(style.key, style.label) for style in spec.style_choices()]


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    """The form's choice field ``name``, whose choices are only known once the form is made."""
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


class GenerateForm(forms.Form):
    prompt = forms.CharField(
        max_length=MAX_PROMPT_CHARACTERS,
        widget=metered_textarea(
            3,
            autofocus=True,
            placeholder="a red apple on a blue background",
            **{
                "hx-target": "#meter-prompt",
                "hx-include": "[name=style]",
                "aria-describedby": "meter-prompt",
            },
        ),
    )
    negative_prompt = forms.CharField(
        max_length=MAX_PROMPT_CHARACTERS,
        required=False,
        widget=metered_textarea(
            2,
            **{
                "hx-target": "#meter-negative_prompt",
                "hx-include": "[name=style]",
                "aria-describedby": "meter-negative_prompt",
            },
        ),
    )
    style = forms.ChoiceField(choices=[(key, style.label) for key, style in STYLES.items()], initial="none")
    model = forms.ChoiceField(choices=())
    size = forms.ChoiceField(
        choices=(), error_messages={"invalid_choice": "%(value)s is not a size: choose one from the menu."}
    )
    width = forms.IntegerField(required=False, help_text="Custom size only")
    height = forms.IntegerField(required=False, help_text="Custom size only")
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
    channels = forms.MultipleChoiceField(
        label="Destination channels",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Where the images will be used; a reviewer checks each channel's crop before approving.",
        error_messages={
            "invalid_choice": "%(value)s is not a destination channel: choose from the channel presets."
        },
    )
    team = forms.TypedChoiceField(coerce=int, choices=(), required=False, empty_value=None)

    def __init__(self, *args, teams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Someone in several teams picks which one the work belongs to (their first by default); anyone else
        # does not see the field, and their work goes to their one team (studio/teams.py).
        teams = list(teams)
        if len(teams) > 1:
            _choice_field(self, "team").choices = [(team.pk, team.name) for team in teams]
            self.fields["team"].initial = teams[0].pk
        else:
            del self.fields["team"]
        self.models = {spec.key: spec for spec in available_models("text2img")}
        _choice_field(self, "model").choices = [(spec.key, spec.label) for spec in self.models.values()]
        self.size_menus = {key: size_menu(spec) for key, spec in self.models.items()}
        # Any preset is a valid choice, so a size the model cannot make is refused saying what it makes.
        self.size_presets = {
            **SIZE_PRESETS,
            **{preset.key: preset for spec in self.models.values() for preset in spec.size_presets()},
        }
        self.style_menus = {key: style_menu(spec) for key, spec in self.models.items()}
        # Any style some model draws is a valid choice, so one the chosen model does not draw is refused
        # saying which it draws; the page's menu is the selected model's (generate.js swaps it too).
        offered = {key for menu in self.style_menus.values() for key, _label in menu}
        _choice_field(self, "style").choices = [
            (key, style.label) for key, style in STYLES.items() if key in offered
        ]
        self.fields["style"].widget.choices = self.style_menus.get(self.selected_model.key, [])
        _choice_field(self, "channels").choices = channel_choices()
        _choice_field(self, "size").choices = [
            *((key, preset.label) for key, preset in self.size_presets.items()),
            (CUSTOM_SIZE, "Custom size"),
        ]
        # The menu on the page is the selected model's; generate.js swaps it when the model changes.
        self.fields["size"].widget.choices = self.size_menus.get(self.selected_model.key, [])
        spec = default_model()
        self.fields["model"].initial = spec.key
        self.fields["size"].initial = default_size_key(spec)
        self.fields["width"].initial, self.fields["height"].initial = spec.default_size()
        self.fields["steps"].initial = spec.default_steps
        self.fields["guidance"].initial = spec.default_guidance

    @property
    def selected_model(self) -> ModelSpec:
        """The model the form shows as selected: the one posted when it is offered, else the default."""
        return self.models.get(self.data.get("model", "")) or default_model()

    def size_menu_data(self) -> dict[str, dict]:
        """Each model's size menu and preselected size, for generate.js (through json_script)."""
        return {
            key: {"sizes": menu, "default": default_size_key(self.models[key])}
            for key, menu in self.size_menus.items()
        }

    def style_menu_data(self) -> dict[str, list[tuple[str, str]]]:
        """Each model's style menu, for generate.js (through json_script)."""
        return self.style_menus

    def clean(self) -> dict:
        cleaned = self.cleaned_data
        if not cleaned.get("model"):
            return cleaned
        spec = get_model(cleaned["model"])
        if cleaned.get("style"):
            problem = spec.style_problem(cleaned["style"])
            if problem:
                self.add_error("style", problem)
        if cleaned.get("size"):
            self._clean_size(spec, cleaned)
        return cleaned

    def _clean_size(self, spec: ModelSpec, cleaned: dict) -> None:
        """Resolve the size to a width and height the model makes, or say beside the field what it makes."""
        if cleaned["size"] != CUSTOM_SIZE:
            preset = self.size_presets[cleaned["size"]]
            problem = spec.size_problem(preset.width, preset.height)
            if problem:
                self.add_error("size", problem)
                return
            cleaned["width"], cleaned["height"] = preset.width, preset.height
            return
        width, height = cleaned.get("width"), cleaned.get("height")
        if "width" in self.errors or "height" in self.errors:
            return  # a side that is not a whole number already says so
        if width is None or height is None:
            missing = "width" if width is None else "height"
            self.add_error(missing, f"Give a {missing} for a custom size. {spec.size_rule}")
            return
        problem = spec.size_problem(width, height)
        if not problem:
            cleaned["width"], cleaned["height"] = width, height
        elif not spec.makes_any_size:
            self.add_error("size", problem)
        else:
            self.add_error("height" if spec.fits_side(width) else "width", problem)

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
            channels=tuple(data["channels"]),
        )


class RefineForm(forms.Form):
    """One refine operation on an asset. Options that an operation does not use are ignored."""

    operation = forms.ChoiceField(choices=())
    model = forms.ChoiceField(choices=(), required=False)
    prompt = forms.CharField(
        max_length=MAX_PROMPT_CHARACTERS,
        required=False,
        widget=metered_textarea(2, **{"hx-target": "#meter-prompt", "aria-describedby": "meter-prompt"}),
    )
    negative_prompt = forms.CharField(
        max_length=MAX_PROMPT_CHARACTERS,
        required=False,
        widget=metered_textarea(
            1, **{"hx-target": "#meter-negative_prompt", "aria-describedby": "meter-negative_prompt"}
        ),
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
        _choice_field(self, "model").choices = [(spec.key, spec.label) for spec in self.models]
        self.fields["model"].initial = default_model().key
        self.operations = [key for key in REFINE_OPERATIONS if self.operation_offered(key)]
        _choice_field(self, "operation").choices = [(key, OPERATIONS[key].label) for key in self.operations]

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
        cleaned = self.cleaned_data
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
