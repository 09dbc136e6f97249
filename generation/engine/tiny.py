"""A tiny Stable Diffusion pipeline with random weights, for fast tests only.

It uses the real diffusers / transformers classes with tiny configs, so every code path (loading, schedulers,
callbacks, saving images) is exercised exactly as with a real checkpoint, in well under a second per image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from generation.engine.clip_vocab import CLIP_VOCAB_SIZE, clip_tokenizer

# The 49,408-token embedding dominates the folder size, so the text width stays very small.
TEXT_HIDDEN_SIZE = 16


def _tiny_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN_SIZE,
        attention_head_dim=4,
        norm_num_groups=8,
    )


def _tiny_vae() -> AutoencoderKL:
    # Three blocks give the factor-8 downsampling of real Stable Diffusion VAEs: 64 px -> 8x8 latents.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def _tiny_text_encoder() -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=TEXT_HIDDEN_SIZE,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModel(config)


def build_tiny_pipeline(directory: Path, seed: int = 0) -> None:
    """Build a tiny random-weight StableDiffusionPipeline and save it (safetensors) in ``directory``.

    The same seed gives the same weights, so tests that compare images across builds stay stable.
    """
    directory = Path(directory)
    torch.manual_seed(seed)
    unet = _tiny_unet()
    vae = _tiny_vae()
    text_encoder = _tiny_text_encoder()
    tokenizer = clip_tokenizer()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory, safe_serialization=True)
