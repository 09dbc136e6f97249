"""Write a saved diffusers Stable Diffusion pipeline as one checkpoint in the original (LDM / CompVis) layout.

diffusers reads that layout (``from_single_file``) but ships no writer for it, so the tests carry one: the
inverse of ``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint`` and ``convert_ldm_clip_checkpoint``
in ``diffusers.loaders.single_file_utils``. Keys come out as in the published SD 1.x files:
``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE) and ``cond_stage_model.transformer.*``
(CLIP text encoder). It covers SD-shaped pipelines: UNet2DConditionModel with (CrossAttn)Down/UpBlock2D
blocks, an AutoencoderKL and a CLIPTextModel.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer.text_model."

_UNET_TOP_LEVEL = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _component_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    if len(files) != 1:
        raise ValueError(f"expected one .safetensors file in {folder}, found {len(files)}")
    return load_file(files[0])


def _move(source: dict, target: dict, old_prefix: str, new_prefix: str, renames: dict | None = None) -> None:
    """Move every ``old_prefix.<rest>`` key of ``source`` to ``new_prefix.<renamed rest>`` in ``target``."""
    for key in [key for key in source if key.startswith(old_prefix + ".")]:
        rest = key[len(old_prefix) + 1 :]
        for old, new in (renames or {}).items():
            if rest.startswith(old + "."):
                rest = new + rest[len(old) :]
                break
        target[f"{new_prefix}.{rest}"] = source.pop(key)


def unet_to_ldm(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    state = dict(state)
    out: dict[str, torch.Tensor] = {}
    for old, new in _UNET_TOP_LEVEL.items():
        _move(state, out, old, new)
    layers = config["layers_per_block"]
    index = 1
    for block in range(len(config["down_block_types"])):
        for layer in range(layers):
            _move(state, out, f"down_blocks.{block}.resnets.{layer}", f"input_blocks.{index}.0", _UNET_RESNET)
            _move(state, out, f"down_blocks.{block}.attentions.{layer}", f"input_blocks.{index}.1")
            index += 1
        if any(key.startswith(f"down_blocks.{block}.downsamplers.0.conv.") for key in state):
            _move(state, out, f"down_blocks.{block}.downsamplers.0.conv", f"input_blocks.{index}.0.op")
            index += 1
    _move(state, out, "mid_block.resnets.0", "middle_block.0", _UNET_RESNET)
    _move(state, out, "mid_block.attentions.0", "middle_block.1")
    _move(state, out, "mid_block.resnets.1", "middle_block.2", _UNET_RESNET)
    index = 0
    for block in range(len(config["up_block_types"])):
        for layer in range(layers + 1):
            has_attention = any(key.startswith(f"up_blocks.{block}.attentions.{layer}.") for key in state)
            _move(state, out, f"up_blocks.{block}.resnets.{layer}", f"output_blocks.{index}.0", _UNET_RESNET)
            _move(state, out, f"up_blocks.{block}.attentions.{layer}", f"output_blocks.{index}.1")
            if layer == layers:
                slot = 2 if has_attention else 1
                _move(
                    state, out, f"up_blocks.{block}.upsamplers.0.conv", f"output_blocks.{index}.{slot}.conv"
                )
            index += 1
    if state:
        raise ValueError(f"UNet keys with no original-layout name: {sorted(state)[:5]}")
    return out


def _vae_attention_to_ldm(state: dict, out: dict, old_prefix: str, new_prefix: str) -> None:
    moved: dict[str, torch.Tensor] = {}
    _move(state, moved, old_prefix, new_prefix, _VAE_ATTENTION)
    for key, tensor in moved.items():
        # The original attention projections are 1x1 convolutions.
        out[key] = tensor[:, :, None, None] if key.endswith(".weight") and tensor.ndim == 2 else tensor


def vae_to_ldm(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    state = dict(state)
    out: dict[str, torch.Tensor] = {}
    for name in ("quant_conv", "post_quant_conv"):
        _move(state, out, name, name)
    for part in ("encoder", "decoder"):
        _move(state, out, f"{part}.conv_in", f"{part}.conv_in")
        _move(state, out, f"{part}.conv_out", f"{part}.conv_out")
        _move(state, out, f"{part}.conv_norm_out", f"{part}.norm_out")
        _move(
            state,
            out,
            f"{part}.mid_block.resnets.0",
            f"{part}.mid.block_1",
            {"conv_shortcut": "nin_shortcut"},
        )
        _move(
            state,
            out,
            f"{part}.mid_block.resnets.1",
            f"{part}.mid.block_2",
            {"conv_shortcut": "nin_shortcut"},
        )
        _vae_attention_to_ldm(state, out, f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1")
    for block in range(len(config["down_block_types"])):
        for layer in range(config["layers_per_block"]):
            _move(
                state,
                out,
                f"encoder.down_blocks.{block}.resnets.{layer}",
                f"encoder.down.{block}.block.{layer}",
                {"conv_shortcut": "nin_shortcut"},
            )
        _move(
            state,
            out,
            f"encoder.down_blocks.{block}.downsamplers.0.conv",
            f"encoder.down.{block}.downsample.conv",
        )
    count = len(config["up_block_types"])
    for block in range(count):
        original = count - 1 - block  # the original decoder numbers its up blocks from the lowest resolution
        for layer in range(config["layers_per_block"] + 1):
            _move(
                state,
                out,
                f"decoder.up_blocks.{block}.resnets.{layer}",
                f"decoder.up.{original}.block.{layer}",
                {"conv_shortcut": "nin_shortcut"},
            )
        _move(
            state, out, f"decoder.up_blocks.{block}.upsamplers.0.conv", f"decoder.up.{original}.upsample.conv"
        )
    if state:
        raise ValueError(f"VAE keys with no original-layout name: {sorted(state)[:5]}")
    return out


def text_encoder_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # transformers >= 5.6 saves CLIPTextModel without its ``text_model.`` level; older versions keep it.
    return {TEXT_ENCODER_PREFIX + key.removeprefix("text_model."): tensor for key, tensor in state.items()}


def write_ldm_checkpoint(pipeline_dir: Path, target: Path) -> Path:
    """Write the UNet, VAE and text encoder of the diffusers folder ``pipeline_dir`` to one .safetensors."""
    pipeline_dir, target = Path(pipeline_dir), Path(target)
    unet_config = json.loads((pipeline_dir / "unet" / "config.json").read_text())
    vae_config = json.loads((pipeline_dir / "vae" / "config.json").read_text())
    checkpoint: dict[str, torch.Tensor] = {}
    for key, tensor in unet_to_ldm(_component_state_dict(pipeline_dir / "unet"), unet_config).items():
        checkpoint[UNET_PREFIX + key] = tensor
    for key, tensor in vae_to_ldm(_component_state_dict(pipeline_dir / "vae"), vae_config).items():
        checkpoint[VAE_PREFIX + key] = tensor
    checkpoint.update(text_encoder_to_ldm(_component_state_dict(pipeline_dir / "text_encoder")))
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {key: tensor.contiguous() for key, tensor in checkpoint.items()}, target, metadata={"format": "pt"}
    )
    return target
