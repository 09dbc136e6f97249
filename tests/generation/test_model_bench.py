"""The model benchmark's metrics on synthetic images whose answer is known (no diffusion model is loaded, no
emoji package is fetched: sprites are drawn here)."""

import importlib.util
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from generation.presets import STYLES
from generation.training.catalogue import COLOURS, OBJECTS, held_out_colour
from generation.training.data import held_out_scenes, paste, resize_sprite
from generation.training.looks import DEFAULT_LOOK, LOOKS
from generation.training.scenes import BACKDROPS, SCENE_KEYS, BackdropPainter, Light, apply_light

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

BENCH_FILE = Path(__file__).resolve().parents[2] / "bench" / "model_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("model_bench", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("model_bench", None)


@pytest.fixture(scope="module")
def judge(bench):
    return bench.judge


def _sprite(shape: str, rgb: tuple[int, int, int], size: int = 64) -> torch.Tensor:
    """A premultiplied RGBA sprite, like data.load_sprite gives."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    masks = {
        "disc": x**2 + y**2 < 0.8,
        "square": (x.abs() < 0.7) & (y.abs() < 0.7),
        "cross": ((x.abs() < 0.2) & (y.abs() < 0.9)) | ((y.abs() < 0.2) & (x.abs() < 0.9)),
    }
    alpha = masks[shape].float()
    colour = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255.0
    return torch.cat([colour * alpha, alpha[None]])


def _sprites() -> torch.Tensor:
    """(3 objects, 3 looks, 4, 64, 64): a red disc, a blue square, a green cross, the same in every look."""
    objects = [
        _sprite("disc", (230, 40, 40)),
        _sprite("square", (40, 80, 220)),
        _sprite("cross", (40, 170, 60)),
    ]
    return torch.stack([torch.stack([sprite] * 3) for sprite in objects])


def _solid(rgb: tuple[int, int, int], size: int = 128) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.float64) / 255.0, (size, size, 3)).copy()


# --- the colour of "colour" backdrops -------------------------------------------------------------------


def test_lab_conversion_of_white_and_black(judge):
    assert np.allclose(judge.srgb_to_lab(np.array([1.0, 1.0, 1.0])), [100, 0, 0], atol=0.05)
    assert np.allclose(judge.srgb_to_lab(np.array([0.0, 0.0, 0.0])), [0, 0, 0], atol=0.05)


@pytest.mark.parametrize("colour", COLOURS, ids=lambda c: c.name)
def test_a_solid_image_is_its_own_colour_and_no_other(judge, colour):
    image = _solid(colour.rgb)
    ok, detected, delta_e = judge.colour_verdict(image, colour.name)
    assert ok and detected == colour.name and delta_e < 1e-6
    other = next(c for c in COLOURS if c.name != colour.name)
    ok, detected, _ = judge.colour_verdict(image, other.name)
    assert not ok and detected == colour.name


def test_slightly_off_backgrounds_still_count_but_wrong_ones_do_not(judge):
    assert judge.colour_verdict(_solid((208, 203, 196)), "light gray")[0]
    # White and beige are close in RGB to light gray; they must not pass as it.
    assert not judge.colour_verdict(_solid((245, 245, 245)), "light gray")[0]
    assert not judge.colour_verdict(_solid((230, 215, 180)), "light gray")[0]


def test_the_ring_ignores_an_object_in_the_middle(judge):
    image = _solid((250, 215, 50))
    image[30:100, 30:100] = 0.05  # a big dark object
    assert judge.colour_verdict(image, "yellow")[0]
    assert not judge.colour_verdict(image, "black")[0]


@pytest.mark.parametrize("colour", COLOURS, ids=lambda c: c.name)
def test_a_colour_backdrop_lit_as_training_lights_it_keeps_its_colour(judge, colour):
    """The training painter's colour backdrop (jitter, mottling) under a moderate side light and tint."""
    painter = BackdropPainter(128)
    backdrop = painter.colour(random.Random(3), torch.Generator().manual_seed(3), colour)
    lit = apply_light(backdrop.image, Light(x=0.6, warmth=0.3, strength=0.12, words=""), painter)
    assert judge.colour_verdict(judge.to_array(lit), colour.name)[0]


# --- prompts --------------------------------------------------------------------------------------------

SOME_OBJECTS = [entry.short_name for entry in OBJECTS[:12]]


def test_held_out_prompts_ask_only_for_what_training_never_drew(bench):
    prompts = bench.held_out_prompts(SOME_OBJECTS)
    assert len(prompts) == 3 * len(SOME_OBJECTS)
    for prompt in prompts:
        (name,) = prompt.objects
        if prompt.held_out == "scene":
            assert (prompt.kind, prompt.look) in held_out_scenes(name)
            assert prompt.colour == ""
        else:
            assert prompt.held_out == "colour" and prompt.kind == "colour"
            assert prompt.colour == held_out_colour(name) and prompt.look == DEFAULT_LOOK
            assert f"on a {prompt.colour} background" in prompt.text
    # Every held-out pair of every object is asked for, once.
    asked = {(p.objects[0], p.kind, p.look) for p in prompts if p.held_out == "scene"}
    assert asked == {(name, kind, look) for name in SOME_OBJECTS for kind, look in held_out_scenes(name)}


def test_prompts_are_what_the_style_preset_sends(bench):
    for prompt in bench.held_out_prompts(SOME_OBJECTS):
        style = STYLES[LOOKS[prompt.look].style_key]
        assert prompt.text.startswith(style.prompt_prefix + " ")
        assert prompt.text.endswith(", " + style.prompt_suffix)
        assert prompt.negative == style.negative
        assert "{" not in prompt.text  # colour names filled in
        entry = bench.CATALOGUE[prompt.objects[0]]
        assert bench.object_phrase(entry) in prompt.text
        phrases = [p.split("{")[0] for p in BACKDROPS[prompt.kind].phrases]
        assert phrases[0] in prompt.text


def test_the_first_caption_word_takes_training_s_article(bench):
    entries = {entry.short_name: entry for entry in OBJECTS}
    assert bench.object_phrase(entries["apple"]) == "a red apple"
    assert bench.object_phrase(entries["fries"]) == "french fries"  # plural: no article
    text = bench.held_out_prompts(["apple"])[-1].text
    assert text == f"a 3D render of a red apple on a {held_out_colour('apple')} background, " + (
        STYLES["3d-render"].prompt_suffix
    )


def test_pair_prompts_name_two_objects_on_a_scene_held_out_for_neither(bench):
    prompts = bench.pair_prompts(SOME_OBJECTS, 20, seed=5)
    assert len(prompts) == 20 and prompts == bench.pair_prompts(SOME_OBJECTS, 20, seed=5)
    for prompt in prompts:
        first, second = prompt.objects
        assert first != second and prompt.look == DEFAULT_LOOK and prompt.kind in SCENE_KEYS
        assert (prompt.kind, DEFAULT_LOOK) not in held_out_scenes(first) | held_out_scenes(second)
        entries = bench.CATALOGUE
        assert (
            f"{bench.object_phrase(entries[first])} and {bench.object_phrase(entries[second])} "
            in prompt.text
        )
    assert len(set(prompts)) == 20  # no prompt twice
    assert bench.pair_prompts(SOME_OBJECTS[:1], 5, seed=5) == []


def test_side_by_side_pairs_reuse_the_sample_s_pairs_of_shared_objects(bench):
    pairs = bench.pair_prompts(SOME_OBJECTS, 10, seed=5)
    assert bench.shared_pairs(pairs, SOME_OBJECTS, 10, seed=6) == pairs  # every object shared: the same pairs
    shared = SOME_OBJECTS[:6]
    chosen = bench.shared_pairs(pairs, shared, 8, seed=6)
    assert len(chosen) == 8 and len(set(chosen)) == 8
    assert all(name in shared for prompt in chosen for name in prompt.objects)
    kept = [prompt for prompt in pairs if all(name in shared for name in prompt.objects)]
    assert chosen[: len(kept)] == kept


def test_objects_are_a_seeded_sample_topped_up_with_shared_ones(bench):
    new = [f"o{i}" for i in range(40)]
    earlier = [*new[:10], "old"]
    sample, shared = bench.choose_objects(new, earlier, 12, 8, seed=1)
    assert len(sample) == 12 and set(sample) <= set(new) and sample == sorted(sample, key=new.index)
    assert len(shared) == 8 and set(shared) <= set(new[:10])
    assert {name for name in sample if name in earlier} <= set(shared)
    assert (sample, shared) == bench.choose_objects(new, earlier, 12, 8, seed=1)
    assert bench.choose_objects(new, None, 12, 8, seed=1) == (sample, [])
    # Never more shared objects than both models know.
    assert len(bench.choose_objects(new, earlier, 12, 50, seed=1)[1]) == 10


def test_an_image_seed_depends_on_the_prompt_only(bench):
    first, second = bench.held_out_prompts(SOME_OBJECTS[:1])[:2]
    assert bench.image_seed(first, 0) == bench.image_seed(first, 0)
    assert len({bench.image_seed(first, 0), bench.image_seed(first, 1), bench.image_seed(second, 0)}) == 3


# --- verdicts -------------------------------------------------------------------------------------------


def test_a_colour_backdrop_must_also_be_the_prompted_colour(bench):
    assert bench.backdrop_hit("colour", "red", "colour", "red")
    assert not bench.backdrop_hit("colour", "red", "colour", "orange")
    assert not bench.backdrop_hit("colour", "red", "studio", "red")
    assert bench.backdrop_hit("wood", "", "wood", "brown")  # other kinds: the ring's colour does not matter
    assert not bench.backdrop_hit("wood", "", "shelf", "brown")


def test_ranks_count_ties_against_the_target(judge):
    scores = torch.tensor([0.1, 0.5, 0.5, 0.2])
    assert judge.rank_of(scores, 1) == 2 and judge.rank_of(scores, 2) == 2
    assert judge.rank_of(scores, 3) == 3 and judge.rank_of(scores, 0) == 4


def _scores(*top: int, count: int = 10) -> torch.Tensor:
    """Scores over ``count`` objects where ``top`` come first, in that order."""
    scores = torch.zeros(count)
    for place, index in enumerate(top):
        scores[index] = 1.0 - place * 0.1
    return scores


def test_both_objects_must_each_be_in_the_top_5_of_one_half_in_either_order(judge):
    left, right = _scores(3, 1, 2), _scores(7, 8)
    assert judge.pair_found(left, right, 3, 7)
    assert judge.pair_found(left, right, 7, 3)  # named the other way round
    assert judge.pair_found(left, right, 1, 8)  # in the top 5, not first
    assert not judge.pair_found(left, right, 3, 9)  # the second object is in neither half
    assert not judge.pair_found(left, right, 3, 1)  # both in the left half, nothing in the right
    assert not judge.pair_found(_scores(0, 1, 2, 4, 5, 3), right, 3, 7)  # sixth: not in the top 5


def test_the_halves_of_an_image_are_its_left_and_right_side_padded_square(judge):
    image = torch.zeros(1, 3, 128, 128)
    image[:, 0, :, :64] = 1.0  # left half red
    image[:, 2, :, 64:] = 1.0  # right half blue
    left, right, full = judge.view(image, "left"), judge.view(image, "right"), judge.view(image)
    assert left.shape == right.shape == full.shape == (1, 3, 64, 64)
    assert judge.view(image, "left", 128).shape == (1, 3, 128, 128)
    assert torch.allclose(left[0, 0], torch.ones(64, 64)) and left[0, 2].max() == 0
    assert torch.allclose(right[0, 2], torch.ones(64, 64)) and right[0, 0].max() == 0
    assert full[0, 0, :, :30].min() > 0.99 and full[0, 2, :, 34:].min() > 0.99


class ColourJudges:
    """A stand-in for the judges: ranks three objects (red, blue, green) by how much of their colour a view
    shows, and six more that never show; calls every backdrop "colour" and every look "3d"."""

    objects = ["red thing", "blue thing", "green thing", *(f"other {i}" for i in range(6))]

    def __init__(self, judge):
        self.judge = judge

    def object_scores(self, images, which="full"):
        views = self.judge.view(images, which)
        red, green, blue = (views[:, channel] for channel in range(3))
        shares = [
            (red - green - blue).clamp(min=0),
            (blue - red - green).clamp(min=0),
            (green - red - blue).clamp(min=0),
        ]
        scores = torch.stack([share.mean(dim=(1, 2)) for share in shares], dim=1)
        return torch.cat([scores, torch.zeros(len(images), 6)], dim=1)

    def backdrops(self, images):
        scores = torch.zeros(len(images), len(self.judge.BACKDROP_KINDS))
        scores[:, self.judge.BACKDROP_KINDS.index("colour")] = 1
        return scores

    def looks(self, images):
        return torch.tensor([[1.0, 0.0, 0.0]] * len(images))


def _two_object_image(judge, left: int, right: int) -> torch.Tensor:
    """A grey image with object ``left`` on the left and ``right`` on the right, as training places pairs."""
    image = torch.full((3, 128, 128), 0.5)
    sprites = _sprites()
    for index, cx in ((left, 0.27), (right, 0.73)):
        sprite = resize_sprite(sprites[index, 0], 52)
        image = paste(image, sprite, round(cx * 128 - 26), 38)
    return image


def test_two_object_images_are_judged_by_their_halves(bench, judge):
    judges = ColourJudges(judge)
    images = torch.stack([_two_object_image(judge, 0, 1), _two_object_image(judge, 2, 0)])
    prompt = bench.BenchPrompt(("red thing", "blue thing"), "wood", "3d", "", "", "", "pair")
    swapped = bench.BenchPrompt(("blue thing", "red thing"), "wood", "3d", "", "", "", "pair")
    results = bench.judge_pairs(judges, images, [prompt, swapped], [0, 0])
    assert results[0].found and results[0].left_top1 == "red thing" and results[0].right_top1 == "blue thing"
    # The second image shows green and red: blue, asked for, is missing; red alone is found.
    assert not results[1].found and results[1].either


def test_one_object_images_get_every_verdict(bench, judge):
    judges = ColourJudges(judge)
    image = torch.from_numpy(_solid((250, 215, 50))).permute(2, 0, 1).float()  # yellow
    image[0, 40:90, 40:90], image[1:, 40:90, 40:90] = 0.9, 0.1  # a red square in the middle
    prompts = [
        bench.BenchPrompt(("red thing",), "colour", "3d", "yellow", "", "", "colour"),
        bench.BenchPrompt(("green thing",), "colour", "flat", "red", "", "", "colour"),
    ]
    right, wrong = bench.judge_singles(judges, torch.stack([image, image]), prompts, [0, 0])
    assert (
        right.backdrop_ok
        and right.object_ok
        and right.rank == 1
        and right.look_ok
        and right.colour_seen == "yellow"
    )
    assert not wrong.backdrop_ok and not wrong.look_ok and wrong.top1 == "red thing"
    assert not wrong.object_ok and wrong.rank == len(judges.objects)  # no green: tied with the absent ones


# --- controls and figures -------------------------------------------------------------------------------


def test_shuffling_the_prompts_brings_a_perfect_score_down_to_chance(bench):
    prompts = [i % 4 for i in range(200)]
    perfect = bench.shuffled_control(prompts, prompts, lambda p, o: p == o)
    assert 0.15 < perfect < 0.35  # four equally common answers: about 1 in 4
    # A model that always draws the same thing scores the share of prompts asking for it, shuffled or not.
    assert bench.shuffled_control(prompts, [0] * 200, lambda p, o: p == o) == pytest.approx(0.25)
    assert np.isnan(bench.shuffled_control([], [], lambda p, o: True))


def test_the_look_table_counts_what_was_seen_for_each_look_asked(bench):
    def result(asked: str, seen: str):
        prompt = bench.BenchPrompt(("apple",), "wood", asked, "", "", "", "scene")
        return bench.SingleResult(prompt, 0, "wood", "brown", float("nan"), torch.zeros(3), 1, "apple", seen)

    results = [result("3d", "3d"), result("3d", "flat"), result("emoji", "emoji"), result("emoji", "3d")]
    assert bench.look_confusion(results) == [
        ["3d", "1", "1", "0", "2"],
        ["flat", "0", "0", "0", "0"],
        ["emoji", "1", "0", "1", "2"],
    ]
    assert [r.look_ok for r in results] == [True, False, True, False]


def test_rates_show_counts_and_a_wilson_interval(bench):
    rate = bench.Rate(45, 50)
    low, high = rate.wilson()
    assert low < 0.9 < high and 0.78 < low < 0.79 and 0.95 < high < 0.96
    assert str(rate) == "90.0% (45/50; 95% CI 79%-96%)"
    assert str(bench.Rate(0, 0)) == "n/a"
    assert bench.rate([True, False, True, True]) == bench.Rate(3, 4)
    assert bench.met(0.9, 0.9) == "PASS" and bench.met(0.89, 0.9) == "**NOT MET**"
    assert bench.met(3.9, 4.0, at_most=True) == "PASS" and bench.met(4.1, 4.0, at_most=True) == "**NOT MET**"


def test_the_report_tables_are_markdown(bench):
    lines = bench.table(["metric", "target"], [["a | b", ">= 90%"], ["c", ""]])
    assert lines == ["| metric | target |", "| --- | --- |", "| a \\| b | >= 90% |", "| c |  |"]


def test_percentiles_interpolate_between_the_nearest_values(bench):
    assert bench.percentile([1.0], 0.9) == 1.0
    assert bench.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert bench.percentile([0.0, 10.0], 0.9) == pytest.approx(9.0)


# --- judges' pieces -------------------------------------------------------------------------------------


def test_composites_are_labelled_with_what_they_show(judge):
    sprites = _sprites()
    painter = BackdropPainter(128)
    scene = judge.Scene("colour", "flat", (1,), "yellow")
    image, silhouettes = judge.paint_scene(
        painter, sprites, scene, random.Random(1), torch.Generator().manual_seed(1)
    )
    assert image.shape == (3, 128, 128) and image.min() >= 0 and image.max() <= 1
    assert judge.colour_verdict(judge.to_array(image), "yellow")[0]
    # The blue square is where its silhouette says.
    (silhouette,) = silhouettes
    blue = (image[2] > 0.6) & (image[0] < 0.4)
    inside = silhouette[0] > 0.99
    assert blue.sum() > 500 and blue[inside].float().mean() > 0.95 and not blue[silhouette[0] < 0.01].any()
    pool = judge.draw_pool(sprites, 12, seed=3, two_share=0.5, size=64, halves=True)
    assert pool.images.dtype == torch.uint8 and pool.images.shape[1:] == (3, 64, 64)
    assert len(pool.images) == len(pool.obj) == len(pool.backdrop) == len(pool.look) == len(pool.colour) > 12
    assert pool.silhouettes.shape == (len(pool.obj), 1, 4, 4) and pool.silhouettes.max() > 0.5
    kinds = [judge.BACKDROP_KINDS[kind] for kind in pool.backdrop.tolist()]
    assert all((name != "") == (kind == "colour") for name, kind in zip(pool.colour, kinds, strict=True))
    whole = judge.draw_pool(sprites, 6, seed=3, two_share=1.0, size=128, halves=False)
    assert (
        whole.images.shape == (6, 3, 128, 128)
        and (whole.second >= 0).all()
        and (whole.obj != whole.second).all()
    )


def test_degradations_keep_shape_and_range_and_can_spare_colours(judge):
    batch = torch.rand(4, 3, 64, 64)
    out = judge.degrade(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1
    flat = torch.full((2, 3, 64, 64), 0.5)
    flat[:, 0] = 0.8
    spared = judge.degrade(flat, torch.Generator().manual_seed(0), colour=False)
    assert (spared.mean(dim=(2, 3)) - flat.mean(dim=(2, 3))).abs().max() < 0.02


@pytest.mark.parametrize("size", [64, 128])
def test_a_judge_network_scores_every_class_for_every_image(judge, size):
    net = judge.JudgeNet(7, 4, size, attend=True)
    logits, attention = net(torch.rand(3, 3, size, size))
    assert logits.shape == (3, 7) and attention.shape == (3, 1, 4, 4)
    scores = judge.predict(net, torch.rand(3, 3, size, size))
    assert scores.shape == (3, 7) and torch.allclose(scores.sum(dim=1), torch.ones(3))


def test_the_cache_key_changes_with_the_objects_and_the_seed(judge):
    key = judge.cache_key("scene", ["apple", "banana"], 0)
    assert key == judge.cache_key("scene", ["apple", "banana"], 0)
    assert key != judge.cache_key("scene", ["apple", "lemon"], 0)
    assert key != judge.cache_key("scene", ["apple", "banana"], 1)
    assert key != judge.cache_key("look", ["apple", "banana"], 0)


# --- model folders --------------------------------------------------------------------------------------


def test_the_model_snapshot_is_a_consistent_copy(bench, tmp_path):
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "unet" / "weights.bin").write_bytes(b"x" * 10)
    (model / "training_state.json").write_text(json.dumps({"unet_steps": 7}))
    state = bench.snapshot_model(model, tmp_path / "copy")
    assert state == {"unet_steps": 7}
    assert (tmp_path / "copy" / "unet" / "weights.bin").read_bytes() == b"x" * 10


def test_a_model_folder_says_its_objects_size_and_looks(bench, tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "vae").mkdir()
    (tmp_path / "unet" / "config.json").write_text(json.dumps({"sample_size": 32}))
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [32, 64, 64]}))
    assert bench.model_native_size(tmp_path) == 128
    (tmp_path / "objects.json").write_text(json.dumps(["RED APPLE", "BANANA"]))
    records = {"apple": {"name": "RED APPLE"}, "banana": {"name": "BANANA"}}
    assert bench.model_objects(tmp_path, {}, records) == ["apple", "banana"]
    assert bench.model_objects(tmp_path, {"objects": ["banana"]}, records) == ["banana"]
    assert bench.model_looks({}) == ("emoji",)  # the first generation: Noto only
    assert bench.model_looks({"looks": {key: look.label for key, look in LOOKS.items()}}) == tuple(LOOKS)
