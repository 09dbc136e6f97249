"""Configs of the default model's parts: real diffusers / transformers classes, sized for a CPU.

Sizes follow the experiment in issue 4: a factor-4 VAE (64 px images, 16x16x4 latents), a ~15 M parameter
UNet and a small CLIP text encoder over the real CLIP vocabulary, about 50 MB in fp16 all together.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import AutoencoderKL, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from generation.engine.clip_vocab import CLIP_VOCAB_SIZE

IMAGE_SIZE = 64
LATENT_CHANNELS = 4
# Stable Diffusion's noise schedule; shared by training (DDPM) and the shipped sampler (DPM-Solver++).
NOISE_SCHEDULE = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
}


@dataclass(frozen=True)
class ModelSizes:
    vae_channels: tuple[int, ...]
    unet_channels: tuple[int, ...]
    text_width: int
    text_layers: int
    norm_groups: int


PRESETS: dict[str, ModelSizes] = {
    "default": ModelSizes(
        vae_channels=(32, 64, 64), unet_channels=(96, 192, 192), text_width=128, text_layers=4, norm_groups=32
    ),
    # For tests only: the same classes and layout, small enough to train a few steps in a second.
    "test": ModelSizes(
        vae_channels=(8, 16, 16), unet_channels=(16, 32, 32), text_width=16, text_layers=1, norm_groups=8
    ),
}


def build_vae(sizes: ModelSizes) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        # Three blocks downsample twice: factor 4, so 64 px images become 16x16x4 latents.
        down_block_types=("DownEncoderBlock2D",) * len(sizes.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(sizes.vae_channels),
        block_out_channels=sizes.vae_channels,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=min(16, sizes.norm_groups),
        sample_size=IMAGE_SIZE,
    )


def build_unet(sizes: ModelSizes) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 4,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=sizes.unet_channels,
        layers_per_block=1,
        # Attention only at 8x8 and 4x4: at 16x16 it doubled the step time on a CPU for little gain.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=sizes.text_width,
        attention_head_dim=4,
        norm_num_groups=sizes.norm_groups,
    )


def build_text_encoder(sizes: ModelSizes) -> CLIPTextModel:
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=CLIP_VOCAB_SIZE,
            hidden_size=sizes.text_width,
            intermediate_size=sizes.text_width * 4,
            num_hidden_layers=sizes.text_layers,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        )
    )


def build_training_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**NOISE_SCHEDULE, prediction_type="epsilon", clip_sample=False)


def build_inference_scheduler() -> DPMSolverMultistepScheduler:
    return DPMSolverMultistepScheduler(
        **NOISE_SCHEDULE,
        prediction_type="epsilon",
        algorithm_type="dpmsolver++",
        solver_order=2,
        # "trailing" starts sampling at the last training timestep, so few steps still begin from pure noise.
        timestep_spacing="trailing",
        steps_offset=1,
    )
