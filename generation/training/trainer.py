"""Training loop of the default model: VAE first, then UNet and text encoder together.

Everything a later session needs to continue is exported with the pipeline (the EMA weights in fp16 and
``training_state.json``), because ``var/`` does not survive between sessions. A fuller checkpoint with the
online weights and optimizer state is also kept under the work directory for resumes on the same machine.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from generation.engine.clip_vocab import clip_tokenizer
from generation.training import networks
from generation.training.catalogue import OBJECTS, CatalogueObject, held_out_colour
from generation.training.data import (
    Compositor,
    TrainingObject,
    held_out_scenes,
    load_sprites,
    resolve_objects,
)
from generation.training.looks import LOOKS, ensure_packages

STATE_FILE = "training_state.json"
OBJECTS_FILE = "objects.json"
CHECKPOINT_FILE = "checkpoint.pt"
STATE_VERSION = 2
# Shipped inside the model folder, so the weights carry their data's attribution wherever they are copied.
MODEL_NOTICE = """\
Studio default model: trained by Studio (python manage.py train_default_model) on images composited from
three emoji art sets, one per look:
- "3D render": Microsoft Fluent Emoji 3D, Copyright (c) Microsoft Corporation, MIT License
  (https://github.com/microsoft/fluentui-emoji), as distributed in the npm package @lobehub/fluent-emoji-3d
  (MIT License, Copyright (c) 2023 LobeHub);
- "flat illustration": Twemoji graphics, Copyright Twitter, Inc and other contributors, licensed under
  CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/; https://github.com/jdecked/twemoji), as
  distributed in the npm package emoji-datasource-twitter; the images were resized and composited;
- "emoji": Noto Emoji artwork, Copyright Google Inc., Apache License 2.0
  (https://github.com/googlefonts/noto-emoji), as distributed in the npm package emoji-datasource-google.
The emoji-datasource data (names in objects.json) is MIT License, Copyright (c) 2013 Cal Henderson. The
tokenizer vocabulary is OpenAI's CLIP BPE vocabulary (MIT License), as shipped in open_clip_torch. See
NOTICE at the root of the Studio repository.
"""


@dataclass
class TrainConfig:
    output_dir: Path
    work_dir: Path
    object_count: int
    phases: tuple[str, ...] = ("vae", "unet")
    vae_steps: int = 4000  # total over all runs; the VAE is frozen once the UNet has started
    unet_steps: int = 1_000_000  # total over all runs; normally a run is ended by max_minutes
    decoder_steps: int = 0  # total over all runs of the optional decoder-only fine-tune
    vae_batch_size: int = 16
    # The VAE trains on random square crops of this side (0: whole images): it is fully convolutional, and
    # 64 px crops of 128 px images train about eight times faster on a CPU.
    vae_crop: int = 64
    unet_batch_size: int = 32
    vae_lr: float = 5e-4
    unet_lr: float = 3e-4
    warmup_steps: int = 200
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    offset_noise: float = 0.05
    min_snr_gamma: float = 5.0
    # Objects seen less than the most-trained one are sampled up to this many times as often (1: uniform).
    balance_cap: float = 4.0
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    log_every: int = 25
    seed: int = 0
    device: str = "cpu"
    resume: bool = True
    model_preset: str = "default"  # a key of networks.PRESETS; "test" is for fast tests only
    # A from_pretrained folder whose UNet and text encoder start a new run (same sizes; the VAE is new).
    init_from: Path | None = None
    # Processes that composite batches ahead of the training step (0: in the training process).
    data_workers: int = 0
    # bfloat16 autocast for the forward passes (None: on a GPU, off on a CPU). The weights, the optimizer
    # state and the checkpoints stay float32, so a run moves between CPU and GPU in either direction.
    mixed_precision: bool | None = None


@dataclass
class TrainState:
    seed: int
    objects: list[str] = field(default_factory=list)  # catalogue short names
    vae_steps: int = 0
    unet_steps: int = 0
    vae_images: int = 0
    decoder_steps: int = 0
    unet_images: int = 0
    vae_scaling_factor: float | None = None
    train_seconds: float = 0.0
    # Expected UNet training images per object (short name): what balances objects added in later runs.
    object_images: dict[str, float] = field(default_factory=dict)
    model_preset: str = "default"
    version: int = STATE_VERSION

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in data.items() if key in known})


def _tokenizer(output_dir: Path) -> CLIPTokenizer:
    """The exported tokenizer when there is one (the same CLIP vocabulary), so a machine without
    open_clip_torch (a GPU box) can resume; otherwise the one built from open_clip's vocabulary file."""
    exported = output_dir / "tokenizer"
    if (exported / "vocab.json").is_file():
        return CLIPTokenizer.from_pretrained(exported)
    return clip_tokenizer()


def select_objects(count: int) -> tuple[CatalogueObject, ...]:
    if not 1 <= count <= len(OBJECTS):
        raise ValueError(f"object count must be between 1 and {len(OBJECTS)}, got {count}")
    return OBJECTS[:count]


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


class _BatchDataset(torch.utils.data.Dataset[tuple[torch.Tensor, ...]]):
    """Batch number -> the compositor's batch for it, so worker processes can make them ahead of time.

    With an ``encoder`` (the frozen VAE), a batch is (latent mean, latent std, captions) instead of
    (images, captions): on a CPU the encoder costs about as much as the UNet step, so a worker process running
    it keeps a second core busy. The trainer draws the latent sample itself, from the step's seeded generator.
    """

    def __init__(
        self,
        compositor: Compositor,
        batch_size: int,
        caption_dropout: float,
        stream: str,
        encoder: AutoencoderKL | None = None,
    ) -> None:
        self.compositor = compositor
        self.batch_size = batch_size
        self.caption_dropout = caption_dropout
        self.stream = stream
        self.encoder = encoder

    def __getitem__(self, step: int) -> tuple[Any, ...]:
        images, captions = self.compositor.batch(
            step, self.batch_size, self.caption_dropout, stream=self.stream
        )
        if self.encoder is None:
            return images, captions
        with torch.no_grad():
            posterior = self.encoder.encode(images).latent_dist
        return posterior.mean, posterior.std, captions


def _one_thread(_worker_id: int) -> None:
    """A data worker computes on one thread: the training step keeps the cores it was given."""
    torch.set_num_threads(1)


class ExponentialMovingAverage(Generic[ModuleT]):
    """EMA of a module's parameters, kept in a full copy of the module so it can be saved directly."""

    def __init__(self, module: ModuleT, decay: float) -> None:
        self.module: ModuleT = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, online: torch.nn.Module, step: int) -> None:
        # Warm-up: early on the average follows the online weights closely instead of remembering the init.
        decay = min(self.decay, (1 + step) / (10 + step))
        ema_params: list[torch.Tensor] = list(self.module.parameters())
        online_params = [param.detach() for param in online.parameters()]
        torch._foreach_lerp_(ema_params, online_params, 1.0 - decay)


def balance_weights(exposure: list[float], cap: float) -> list[float]:
    """Sampling weights that let objects added in a later run catch up with the ones trained before.

    An object's weight is how many times fewer images it has seen than the most-trained object, between 1
    and ``cap``. Equal exposure gives uniform sampling; the boost fades as the late objects catch up.
    """
    most = max(exposure, default=0.0)
    return [min(cap, max(1.0, most / max(seen, 1.0))) for seen in exposure]


def _progress_key(state: TrainState) -> tuple[int, int, int]:
    return state.vae_steps, state.unet_steps, state.decoder_steps


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _atomic_torch_save(payload: dict[str, Any], path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


class Trainer:
    def __init__(self, config: TrainConfig, log: Callable[[str], None] = _log) -> None:
        self.config = config
        self.log = log
        self.device = torch.device(config.device)
        self.stop_requested = False
        self.run_started = time.monotonic()
        self.last_checkpoint = time.monotonic()

        packages = ensure_packages(config.work_dir / "data")
        self.objects: list[TrainingObject] = resolve_objects(packages, select_objects(config.object_count))
        sizes = networks.PRESETS[config.model_preset]
        self.compositor = Compositor(
            self.objects,
            load_sprites(self.objects, sizes.image_size),
            seed=config.seed,
            size=sizes.image_size,
        )
        mixed = config.mixed_precision
        self.autocast = self.device.type == "cuda" if mixed is None else mixed

        torch.manual_seed(config.seed)
        self.vae: AutoencoderKL = networks.build_vae(sizes)
        self.unet: UNet2DConditionModel = networks.build_unet(sizes)
        self.text_encoder: CLIPTextModel = networks.build_text_encoder(sizes)
        self.tokenizer = _tokenizer(config.output_dir)
        self.state = TrainState(seed=config.seed, model_preset=config.model_preset)
        self._optimizer_states: dict[str, Any] = {}
        self._loaded_ema: tuple[dict[str, torch.Tensor], ...] | None = None
        self._vae_optimizer: torch.optim.Optimizer | None = None
        self._unet_optimizer: torch.optim.Optimizer | None = None
        if config.resume:
            self._resume()
        if config.init_from is not None and self.state.vae_steps == 0 and self.state.unet_steps == 0:
            self._init_from(Path(config.init_from))
        self._check_object_growth()
        self.state.objects = [obj.entry.short_name for obj in self.objects]
        self._balance_objects()
        for module in (self.vae, self.unet, self.text_encoder):
            module.to(self.device)
        self.vae_ema = ExponentialMovingAverage(self.vae, config.ema_decay)
        self.unet_ema = ExponentialMovingAverage(self.unet, config.ema_decay)
        self.text_ema = ExponentialMovingAverage(self.text_encoder, config.ema_decay)
        if self._loaded_ema is not None:
            for ema, weights in zip(
                (self.vae_ema, self.unet_ema, self.text_ema), self._loaded_ema, strict=True
            ):
                ema.module.load_state_dict(weights)

    # --- resume -------------------------------------------------------------------------------------------
    def _resume(self) -> None:
        exported = self._read_exported_state()
        checkpoint_path = self.config.work_dir / CHECKPOINT_FILE
        checkpoint = torch.load(checkpoint_path, map_location="cpu") if checkpoint_path.exists() else None
        if checkpoint is not None:
            saved = TrainState.from_json(checkpoint["state"])
            # The export may be newer (copied in from another machine); take whichever went further.
            if exported is None or _progress_key(saved) >= _progress_key(exported):
                self._check_preset(saved)
                self.state = saved
                self.vae.load_state_dict(checkpoint["online"]["vae"])
                self.unet.load_state_dict(checkpoint["online"]["unet"])
                self.text_encoder.load_state_dict(checkpoint["online"]["text_encoder"])
                ema = checkpoint["ema"]
                self._loaded_ema = (ema["vae"], ema["unet"], ema["text_encoder"])
                self._optimizer_states = checkpoint["optimizers"]
                self._apply_scaling_factor()
                self.log(f"Resumed from {checkpoint_path}: {self._progress_text()}")
                return
        if exported is not None:
            # Only the EMA weights are shipped (the optimizer state would not fit the size budget): both the
            # online and the averaged weights restart from them, with a fresh optimizer and a short warm-up.
            out = self.config.output_dir
            self._check_preset(exported)
            self.vae.load_state_dict(
                AutoencoderKL.from_pretrained(out / "vae", dtype=torch.float32).state_dict()
            )
            self.unet.load_state_dict(
                UNet2DConditionModel.from_pretrained(out / "unet", dtype=torch.float32).state_dict()
            )
            self.text_encoder.load_state_dict(
                CLIPTextModel.from_pretrained(out / "text_encoder", dtype=torch.float32).state_dict()
            )
            self.state = exported
            self._apply_scaling_factor()
            self.log(f"Resumed from the exported model in {out}: {self._progress_text()}")
            return
        self.log("No earlier training found; starting from scratch.")

    def _init_from(self, folder: Path) -> None:
        """Start the UNet and text encoder from another model of the same sizes (the VAE stays new)."""
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", dtype=torch.float32)
        text = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=torch.float32)
        for target, source in ((self.unet, unet), (self.text_encoder, text)):
            wanted = target.state_dict()
            loaded = {
                key: value
                for key, value in source.state_dict().items()
                if key in wanted and wanted[key].shape == value.shape
            }
            if len(loaded) != len(wanted):
                raise ValueError(f"{folder} does not have this preset's sizes; start without --init-from.")
            target.load_state_dict(loaded)
        self.log(f"Started the UNet and text encoder from {folder}.")

    def _read_exported_state(self) -> TrainState | None:
        path = self.config.output_dir / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if data.get("version", 1) < STATE_VERSION:
            # The first generation (64 px, factor-4 VAE, one look) cannot be resumed as the second.
            raise ValueError(
                f"{self.config.output_dir} holds a first-generation model (64 px, one look). Train the "
                "second generation into another folder, starting from its UNet and text encoder: --out "
                f"var/training/next --init-from {self.config.output_dir}; copy it over once "
                "`make bench BENCH=model` says it is better."
            )
        return TrainState.from_json(data)

    def _check_preset(self, earlier: TrainState) -> None:
        if earlier.model_preset != self.config.model_preset:
            raise ValueError(
                f"The earlier training used model preset {earlier.model_preset!r}, not "
                f"{self.config.model_preset!r}; start over with --fresh to change sizes."
            )

    def _check_object_growth(self) -> None:
        current = [obj.entry.short_name for obj in self.objects]
        trained = self.state.objects
        missing = [name for name in trained if name not in current]
        if missing and self.state.unet_steps == 0:
            # Only the UNet and text encoder learn objects; a run still in its VAE phase may shrink.
            self.log(f"Training {len(current)} of the {len(trained)} objects listed so far.")
            self.state.object_images = {}
        elif missing:
            # Dropping objects silently would make the shipped objects.json lie about what the model knows.
            raise ValueError(
                f"The model was trained on {len(trained)} objects; --objects {len(current)} would drop "
                f"{', '.join(missing[:5])}... Use at least {len(trained)}."
            )
        if trained and len(current) > len(trained):
            self.log(f"Growing from {len(trained)} to {len(current)} objects.")
        if self.state.seed != self.config.seed:
            self.log(f"Keeping the run's seed {self.state.seed} (ignoring --seed {self.config.seed}).")
            self.compositor.seed = self.state.seed

    def _balance_objects(self) -> None:
        names = self.state.objects
        if not self.state.object_images and self.state.unet_images:
            # A state written before exposure was tracked: assume every trained object was seen equally.
            share = self.state.unet_images / len(names)
            self.state.object_images = dict.fromkeys(names, share)
        exposure = [self.state.object_images.get(name, 0.0) for name in names]
        weights = balance_weights(exposure, self.config.balance_cap)
        if any(weight != weights[0] for weight in weights):
            self.compositor.weights = weights
            boosted = sum(weight > 1.0 for weight in weights)
            self.log(f"Balancing: {boosted} less-trained objects sampled up to {max(weights):.1f}x as often.")

    def _apply_scaling_factor(self) -> None:
        if self.state.vae_scaling_factor is not None:
            self.vae.register_to_config(scaling_factor=self.state.vae_scaling_factor)

    def _progress_text(self) -> str:
        s = self.state
        return (
            f"VAE {s.vae_steps} steps ({s.vae_images} images), UNet {s.unet_steps} steps ({s.unet_images} "
            f"images), {len(s.objects)} objects, {s.train_seconds / 60:.1f} min trained"
        )

    # --- helpers ------------------------------------------------------------------------------------------
    def _generator(self, phase: str, step: int) -> torch.Generator:
        # Noise comes from a CPU generator seeded by (seed, phase, step): CPU and GPU runs see the same noise.
        offset = {"vae": 0, "unet": 1 << 40, "decoder": 2 << 40}[phase]
        return torch.Generator().manual_seed(self.state.seed * 1_000_003 + offset + step)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _batches(
        self,
        start: int,
        end: int,
        batch_size: int,
        caption_dropout: float,
        stream: str,
        encoder: AutoencoderKL | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """The batches for steps start..end-1, made ahead by ``data_workers`` processes when asked."""
        dataset = _BatchDataset(self.compositor, batch_size, caption_dropout, stream, encoder)
        if self.config.data_workers <= 0:
            for step in range(start, end):
                yield dataset[step]
            return
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            sampler=range(start, end),
            num_workers=self.config.data_workers,
            worker_init_fn=_one_thread,
            prefetch_factor=4,
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
        )
        yield from loader

    def _latent_batches(
        self, vae: AutoencoderKL, start: int, end: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
        """(latent mean, latent std, captions) for the UNet steps start..end-1, from the frozen VAE.

        On a CPU with data workers, the workers run the encoder (a second core's worth of work); otherwise
        it runs here, on the training device.
        """
        cfg = self.config
        if self.device.type == "cpu" and cfg.data_workers > 0:
            yield from self._batches(
                start, end, cfg.unet_batch_size, cfg.caption_dropout, "unet", encoder=vae
            )
            return
        for images, captions in self._batches(start, end, cfg.unet_batch_size, cfg.caption_dropout, "unet"):
            with torch.no_grad(), self._autocast():
                posterior = vae.encode(images.to(self.device, non_blocking=True)).latent_dist
            yield posterior.mean, posterior.std, captions

    def _crop(self, images: torch.Tensor, step: int) -> torch.Tensor:
        side = self.config.vae_crop
        size = images.shape[-1]
        if not side or side >= size:
            return images
        # A multiple of 8 keeps the crop on the latent grid.
        generator = self._generator("vae", step)
        top, left = (
            int(torch.randint(0, (size - side) // 8 + 1, (1,), generator=generator)) * 8 for _ in "yx"
        )
        return images[:, :, top : top + side, left : left + side]

    def _lr_factor(self, run_step: int) -> float:
        return min(1.0, (run_step + 1) / self.config.warmup_steps)

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: object) -> None:
            self.log(f"Signal {signum}: saving and stopping after this step.")
            self.stop_requested = True

        # SIGHUP is left alone so that ``nohup`` keeps a background run alive.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, request_stop)

    def _out_of_time(self) -> bool:
        limit = self.config.max_minutes
        return limit is not None and time.monotonic() - self.run_started >= limit * 60

    def _should_stop(self) -> bool:
        return self.stop_requested or self._out_of_time()

    def _maybe_checkpoint(self) -> None:
        if time.monotonic() - self.last_checkpoint >= self.config.checkpoint_minutes * 60:
            self.save()

    # --- phases -------------------------------------------------------------------------------------------
    def run(self) -> None:
        self._install_signal_handlers()
        self.log(
            f"Training {len(self.objects)} objects on {self.device}, {torch.get_num_threads()} thread(s); "
            f"phases {','.join(self.config.phases)}; {self._progress_text()}"
        )
        if "vae" in self.config.phases:
            self.train_vae()
        if "unet" in self.config.phases and not self._should_stop():
            self.train_unet()
        if "decoder" in self.config.phases and not self._should_stop():
            self.train_decoder()
        self.save()
        self.log(f"Stopped. {self._progress_text()}")

    def train_vae(self) -> None:
        cfg, state = self.config, self.state
        if state.unet_steps > 0:
            # The UNet learned this VAE's latent space; changing the VAE now would undo that.
            self.log("VAE is frozen: the UNet has already trained on its latents.")
            return
        if state.vae_steps >= cfg.vae_steps:
            self._ensure_scaling_factor()
            return
        self.vae.train()
        optimizer = torch.optim.AdamW(self.vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
        if "vae" in self._optimizer_states:
            optimizer.load_state_dict(self._optimizer_states["vae"])
        self._vae_optimizer = optimizer
        window_loss, window_psnr, window_start = 0.0, 0.0, time.monotonic()
        batches = self._batches(state.vae_steps, cfg.vae_steps, cfg.vae_batch_size, 0.0, "vae")
        for run_step, (images, _) in enumerate(batches):
            if self._should_stop():
                break
            images = self._crop(images.to(self.device, non_blocking=True), state.vae_steps)
            # Cosine decay to 10% over the phase: the last, small steps are what sharpen the reconstructions.
            decay = 0.1 + 0.45 * (1 + math.cos(math.pi * state.vae_steps / cfg.vae_steps))
            for group in optimizer.param_groups:
                group["lr"] = cfg.vae_lr * self._lr_factor(run_step) * decay
            with self._autocast():
                posterior = self.vae.encode(images).latent_dist
                eps = torch.randn(posterior.mean.shape, generator=self._generator("vae", state.vae_steps))
                latents = posterior.mean + posterior.std * eps.to(self.device)
                reconstruction = self.vae.decode(latents).sample.float()
            mse = F.mse_loss(reconstruction, images)
            # L1 keeps edges sharper than MSE alone; the tiny KL term only keeps the latents well scaled.
            loss = F.l1_loss(reconstruction, images) + mse + 1e-6 * posterior.kl().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.vae.parameters(), 1.0)
            optimizer.step()
            self.vae_ema.update(self.vae, state.vae_steps)
            state.vae_steps += 1
            state.vae_images += images.shape[0]
            window_loss += loss.item()
            # PSNR over [0, 1] pixels: the images are in [-1, 1], so the MSE is four times larger.
            window_psnr += 10 * math.log10(4.0 / max(mse.item(), 1e-10))
            if (run_step + 1) % cfg.log_every == 0:
                elapsed = time.monotonic() - window_start
                state.train_seconds += elapsed
                self.log(
                    f"vae step {state.vae_steps}/{cfg.vae_steps} loss {window_loss / cfg.log_every:.4f} "
                    f"psnr {window_psnr / cfg.log_every:.2f} dB "
                    f"{cfg.log_every * cfg.vae_batch_size / elapsed:.1f} img/s"
                )
                window_loss, window_psnr, window_start = 0.0, 0.0, time.monotonic()
            self._maybe_checkpoint()
        if state.vae_steps >= cfg.vae_steps:
            self._ensure_scaling_factor()

    def train_decoder(self) -> None:
        """Sharpen the VAE decoder alone, at any time: the encoder (the UNet's latent space) stays put."""
        cfg, state = self.config, self.state
        if state.vae_scaling_factor is None:
            raise RuntimeError("Train the VAE first (phase 'vae'): there is no latent space to decode yet.")
        if state.decoder_steps >= cfg.decoder_steps:
            return
        # Start from the averaged weights: their encoder is the one the UNet has learned.
        self.vae.load_state_dict(self.vae_ema.module.state_dict())
        self.vae.train()
        encoder = self.vae_ema.module
        params = list(self.vae.decoder.parameters()) + list(self.vae.post_quant_conv.parameters())
        optimizer = torch.optim.AdamW(params, lr=cfg.vae_lr * 0.3, weight_decay=0.0)
        window_psnr, window_start = 0.0, time.monotonic()
        batches = self._batches(state.decoder_steps, cfg.decoder_steps, cfg.vae_batch_size, 0.0, "decoder")
        for run_step, (images, _) in enumerate(batches):
            if self._should_stop():
                break
            images = images.to(self.device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = cfg.vae_lr * 0.3 * self._lr_factor(run_step)
            with torch.no_grad(), self._autocast():
                generator = self._generator("decoder", state.decoder_steps)
                posterior = encoder.encode(images).latent_dist
                eps = torch.randn(posterior.mean.shape, generator=generator).to(self.device)
                latents = posterior.mean + posterior.std * eps
            with self._autocast():
                reconstruction = self.vae.decode(latents).sample.float()
            mse = F.mse_loss(reconstruction, images)
            loss = F.l1_loss(reconstruction, images) + mse
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            self.vae_ema.update(self.vae, state.vae_steps + state.decoder_steps)
            state.decoder_steps += 1
            window_psnr += 10 * math.log10(4.0 / max(mse.item(), 1e-10))
            if (run_step + 1) % cfg.log_every == 0:
                elapsed = time.monotonic() - window_start
                state.train_seconds += elapsed
                self.log(
                    f"decoder step {state.decoder_steps}/{cfg.decoder_steps} "
                    f"psnr {window_psnr / cfg.log_every:.2f} dB "
                    f"{cfg.log_every * cfg.vae_batch_size / elapsed:.1f} img/s"
                )
                window_psnr, window_start = 0.0, time.monotonic()
            self._maybe_checkpoint()

    @torch.no_grad()
    def _ensure_scaling_factor(self) -> None:
        if self.state.vae_scaling_factor is not None:
            return
        # Like Stable Diffusion's 0.18215: scale latents to unit variance so the noise schedule fits them.
        vae = self.vae_ema.module
        samples = []
        for index in range(8):
            images, _ = self.compositor.batch(index, 64, stream="scale")
            posterior = vae.encode(images.to(self.device)).latent_dist
            samples.append(posterior.mean + posterior.std * torch.randn(posterior.mean.shape).to(self.device))
        std = torch.cat(samples).float().std().item()
        self.state.vae_scaling_factor = round(1.0 / std, 5)
        self.vae.register_to_config(scaling_factor=self.state.vae_scaling_factor)
        vae.register_to_config(scaling_factor=self.state.vae_scaling_factor)
        self.log(f"VAE latent std {std:.4f}: scaling factor {self.state.vae_scaling_factor}")
        self.save()

    def _encode_text(self, encoder: CLIPTextModel, captions: list[str]) -> torch.Tensor:
        # Padded to 77 like StableDiffusionPipeline does, so training sees the same positions as inference.
        ids = self.tokenizer(
            captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
        ).input_ids.to(self.device)
        return encoder(ids)[0]

    def train_unet(self) -> None:
        cfg, state = self.config, self.state
        if state.vae_scaling_factor is None:
            raise RuntimeError("Train the VAE first (phase 'vae'): the UNet needs its latent space.")
        if state.unet_steps >= cfg.unet_steps:
            return
        noise_scheduler = networks.build_training_scheduler()
        alphas_cumprod = noise_scheduler.alphas_cumprod.to(self.device)
        snr = alphas_cumprod / (1 - alphas_cumprod)
        vae = self.vae_ema.module
        scaling = state.vae_scaling_factor
        self.unet.train()
        self.text_encoder.train()
        params = list(self.unet.parameters()) + list(self.text_encoder.parameters())
        optimizer = torch.optim.AdamW(params, lr=cfg.unet_lr, weight_decay=0.0)
        if "unet" in self._optimizer_states:
            optimizer.load_state_dict(self._optimizer_states["unet"])
        self._unet_optimizer = optimizer
        window_loss, window_start = 0.0, time.monotonic()
        probabilities = list(zip(state.objects, self.compositor.probabilities(), strict=True))
        batches = self._latent_batches(vae, state.unet_steps, cfg.unet_steps)
        for run_step, (mean, std, captions) in enumerate(batches):
            if self._should_stop():
                break
            step = state.unet_steps
            generator = self._generator("unet", step)
            batch = mean.shape[0]
            eps = torch.randn(mean.shape, generator=generator)
            latents = ((mean.float() + std.float() * eps.to(mean.device)) * scaling).to(self.device)
            noise = torch.randn(latents.shape, generator=generator)
            # Offset noise lets the model move the mean colour of the whole image (solid backgrounds).
            noise += cfg.offset_noise * torch.randn(batch, latents.shape[1], 1, 1, generator=generator)
            noise = noise.to(self.device)
            timesteps = torch.randint(
                0, noise_scheduler.config.num_train_timesteps, (batch,), generator=generator
            )
            timesteps = timesteps.to(self.device)
            noisy = noise_scheduler.add_noise(latents, noise, timesteps)
            for group in optimizer.param_groups:
                group["lr"] = cfg.unet_lr * self._lr_factor(run_step)
            with self._autocast():
                hidden = self._encode_text(self.text_encoder, captions)
                prediction = self.unet(noisy, timesteps, hidden).sample.float()
            # Min-SNR weighting: easy low-noise steps stop dominating, which speeds up convergence.
            weights = snr[timesteps].clamp(max=cfg.min_snr_gamma) / snr[timesteps]
            per_sample = F.mse_loss(prediction, noise, reduction="none").mean(dim=(1, 2, 3))
            loss = (per_sample * weights).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            self.unet_ema.update(self.unet, step)
            self.text_ema.update(self.text_encoder, step)
            state.unet_steps += 1
            state.unet_images += batch
            for name, probability in probabilities:
                state.object_images[name] = state.object_images.get(name, 0.0) + batch * probability
            window_loss += per_sample.mean().item()
            if (run_step + 1) % cfg.log_every == 0:
                elapsed = time.monotonic() - window_start
                state.train_seconds += elapsed
                self.log(
                    f"unet step {state.unet_steps} loss {window_loss / cfg.log_every:.4f} "
                    f"{cfg.log_every * batch / elapsed:.1f} img/s images {state.unet_images}"
                )
                window_loss, window_start = 0.0, time.monotonic()
            self._maybe_checkpoint()

    # --- saving -------------------------------------------------------------------------------------------
    def save(self) -> None:
        started = time.monotonic()
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        optimizers = {}
        if self._vae_optimizer is not None and self.state.unet_steps == 0:
            optimizers["vae"] = self._vae_optimizer.state_dict()
        if self._unet_optimizer is not None:
            optimizers["unet"] = self._unet_optimizer.state_dict()
        for name, saved in self._optimizer_states.items():
            optimizers.setdefault(name, saved)
        payload = {
            "state": asdict(self.state),
            "online": {
                "vae": self.vae.state_dict(),
                "unet": self.unet.state_dict(),
                "text_encoder": self.text_encoder.state_dict(),
            },
            "ema": {
                "vae": self.vae_ema.module.state_dict(),
                "unet": self.unet_ema.module.state_dict(),
                "text_encoder": self.text_ema.module.state_dict(),
            },
            "optimizers": optimizers,
            "config": {key: str(value) for key, value in asdict(self.config).items()},
        }
        _atomic_torch_save(payload, self.config.work_dir / CHECKPOINT_FILE)
        self.export(self.config.output_dir)
        self.last_checkpoint = time.monotonic()
        self.log(f"Checkpoint and export to {self.config.output_dir} in {time.monotonic() - started:.1f}s")

    def export(self, output_dir: Path) -> None:
        """Save the EMA pipeline (fp16 safetensors), objects.json and the training state, atomically."""
        export_pipeline(
            vae=self.vae_ema.module,
            unet=self.unet_ema.module,
            text_encoder=self.text_ema.module,
            tokenizer=self.tokenizer,
            objects=self.objects,
            state=self.state,
            output_dir=output_dir,
        )


def export_pipeline(
    *,
    vae: AutoencoderKL,
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    objects: Iterable[TrainingObject],
    state: TrainState,
    output_dir: Path,
) -> None:
    objects = list(objects)
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the export is meant to be shared and committed
    try:
        # fp16 halves the shipped size (the 60 MB budget); loaders pick their own compute dtype.
        pipeline = StableDiffusionPipeline(
            vae=copy.deepcopy(vae).to("cpu", torch.float16),
            text_encoder=copy.deepcopy(text_encoder).to("cpu", torch.float16),
            tokenizer=tokenizer,
            unet=copy.deepcopy(unet).to("cpu", torch.float16),
            scheduler=networks.build_inference_scheduler(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipeline.save_pretrained(staging, safe_serialization=True)
        # transformers loads a model in the dtype its config names; diffusers loads in float32. Naming
        # float32 keeps a plain from_pretrained() consistent (fp16 text features into an fp32 UNet fail).
        text_config_path = staging / "text_encoder" / "config.json"
        text_config = json.loads(text_config_path.read_text())
        text_config["dtype"] = "float32"
        text_config_path.write_text(json.dumps(text_config, indent=2) + "\n")
        names = [obj.package_name for obj in objects]
        (staging / OBJECTS_FILE).write_text(json.dumps(names, indent=1) + "\n")
        state_data = asdict(state)
        state_data["held_out_colours"] = {
            obj.package_name: held_out_colour(obj.entry.short_name) for obj in objects
        }
        state_data["prompt_words"] = {obj.package_name: list(obj.entry.words) for obj in objects}
        state_data["groups"] = {obj.package_name: obj.entry.group for obj in objects}
        state_data["held_out_scenes"] = {
            obj.package_name: sorted(held_out_scenes(obj.entry.short_name)) for obj in objects
        }
        state_data["looks"] = {key: look.label for key, look in LOOKS.items()}
        (staging / STATE_FILE).write_text(json.dumps(state_data, indent=1) + "\n")
        (staging / "NOTICE").write_text(MODEL_NOTICE)
        # Swap folders so a reader (or a commit) never sees half of one export and half of another.
        previous = output_dir.with_name(f".{output_dir.name}-previous")
        if previous.exists():
            shutil.rmtree(previous)
        if output_dir.exists():
            os.replace(output_dir, previous)
        os.replace(staging, output_dir)
        if previous.exists():
            shutil.rmtree(previous)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
