"""Configs of the default model's parts: real diffusers / transformers classes, sized for a CPU.

The second generation renders 128 px images through a factor-8 VAE into the same 16x16x4 latents as the
first (64 px, factor 4), so its ~15 M parameter UNet and small CLIP text encoder keep their sizes and
cost, and a new run can start from the first model's UNet and text encoder (``--init-from``). About 50 MB
in fp16.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import AutoencoderKL, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from generation.engine.clip_vocab import CLIP_VOCAB_SIZE

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
    image_size: int
    vae_channels: tuple[int, ...]  # one block per entry; every block but the last halves the side
    unet_channels: tuple[int, ...]
    text_width: int
    text_layers: int
    norm_groups: int


PRESETS: dict[str, ModelSizes] = {
    "default": ModelSizes(
        image_size=128,
        vae_channels=(32, 64, 128, 128),
        unet_channels=(96, 192, 192),
        text_width=128,
        text_layers=4,
        norm_groups=32,
    ),
    # For tests only: the same classes and layout, small enough to train a few steps in a second.
    "test": ModelSizes(
        image_size=64,
        vae_channels=(8, 16, 16, 16),
        unet_channels=(16, 32, 32),
        text_width=16,
        text_layers=1,
        norm_groups=8,
    ),
}


def latent_size(sizes: ModelSizes) -> int:
    return sizes.image_size // 2 ** (len(sizes.vae_channels) - 1)


def build_vae(sizes: ModelSizes) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        # Four blocks downsample three times: factor 8, so 128 px images become 16x16x4 latents.
        down_block_types=("DownEncoderBlock2D",) * len(sizes.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(sizes.vae_channels),
        block_out_channels=sizes.vae_channels,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=min(16, sizes.norm_groups),
        sample_size=sizes.image_size,
    )


def build_unet(sizes: ModelSizes) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=latent_size(sizes),
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
