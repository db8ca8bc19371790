"""The training loop: sample -> normalize -> loss -> step, with checkpoints in LeRobot's layout
(RUN/checkpoints/<step>/{pretrained_model, training_state}, RUN/checkpoints/last) that resume
bit-exactly, validation loss on the held-out split, and a progress bar with loss and samples/s.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edgevla.configio import load_config, save_config
from edgevla.dataset.reader import DatasetReader
from edgevla.features import image_key
from edgevla.policies.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    load_weights,
    resolve_pretrained_dir,
    save_pretrained,
    step_checkpoint_dir,
    update_last_checkpoint,
)
from edgevla.policies.checkpoint import load_config as load_policy_config
from edgevla.policies.resnet import thaw_batch_norm
from edgevla.policies.training.build import (
    build_policy,
    check_init_features,
    checkpoint_fields,
    init_weights_lacking,
)
from edgevla.policies.training.config import TrainConfig
from edgevla.policies.training.data import SplitFrames, load_split, make_batch, random_shift
from edgevla.policies.training.state import (
    TRAINING_STATE_DIR,
    load_training_state,
    save_training_state,
)

RUN_CONFIG = "train_config.json"
LOG_FILE = "train_log.jsonl"
PRETRAINED_DIR = "pretrained_model"


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.scheduler == "constant" and config.warmup_steps == 0:
        return None

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.scheduler == "constant":
            return 1.0
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """Constructing reads configs only; `run()` loads data and trains."""

    def __init__(self, config: TrainConfig, resume: bool = False, progress: bool = True) -> None:
        self.config = config
        self.resume = resume
        self.progress = progress
        self.run_dir = Path(config.output_dir)

    @classmethod
    def from_run(
        cls, run_dir: str | Path, steps: int | None = None, progress: bool = True
    ) -> Trainer:
        """Resume RUN: its saved config, optionally with more total steps."""
        config = load_config(TrainConfig, Path(run_dir) / RUN_CONFIG)
        if steps is not None:
            from dataclasses import replace

            config = replace(config, steps=steps)
        return cls(config, resume=True, progress=progress)

    def run(self) -> Path:
        cfg = self.config
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        reader = DatasetReader.open(cfg.dataset)
        train_eps = reader.episodes_in_split("train")
        try:
            held_out = reader.episodes_in_split("validation")
        except KeyError:  # a dataset without a held-out split: no validation loss
            held_out = []
        val_eps = [e for e in held_out if e not in set(train_eps)]
        cams = self._camera_keys(reader)
        torch.manual_seed(cfg.seed)
        fields = dict(cfg.policy_overrides)
        init_dir = None
        if cfg.init_from is not None:
            # A resume takes the architecture from its own checkpoint: the one it was
            # fine-tuned from may have moved since.
            last = self.run_dir / "checkpoints" / "last" / PRETRAINED_DIR
            resuming = self.resume and last.is_dir()
            init_dir = last if resuming else resolve_pretrained_dir(cfg.init_from)
            init_config = load_policy_config(init_dir)
            may_lack = init_weights_lacking(cfg.policy, init_config.type, init_dir)
            fields = {**checkpoint_fields(init_config), **fields}
        policy = build_policy(cfg.policy, reader, train_eps, cams, fields)
        if init_dir is not None and not self.resume:  # a resume loads its own weights
            check_init_features(policy, init_config, init_dir / CONFIG_NAME)
            load_weights(policy, init_dir / WEIGHTS_NAME, may_lack)
        if cfg.backbone_batch_norm and not thaw_batch_norm(policy):
            raise ValueError(f"backbone_batch_norm: a {cfg.policy} policy has no batch norm")
        lr = cfg.lr if cfg.lr is not None else policy.config.optimizer_lr
        pconf = policy.config  # the policy's own optimizer preset (LeRobot's), where it has one
        optimizer = torch.optim.AdamW(
            policy.optim_param_groups(),
            lr=lr,
            weight_decay=pconf.optimizer_weight_decay,
            betas=tuple(getattr(pconf, "optimizer_betas", (0.9, 0.999))),
            eps=getattr(pconf, "optimizer_eps", 1e-8),
            # PyTorch's CPU default steps parameter by parameter: a third of a demo ACT step.
            # The fused kernel is the same arithmetic ~4x faster (benchmarks/act.py).
            fused=True,
        )
        scheduler = _scheduler(optimizer, cfg)
        sampler = torch.Generator().manual_seed(cfg.seed)
        step = 0
        if self.resume:
            step = self._restore(policy, optimizer, scheduler, sampler)
        else:
            self._start_run_dir()
        chunk = policy.config.chunk_size
        frames = load_split(reader, train_eps, cams, self.progress)
        val = load_split(reader, val_eps, cams, self.progress) if val_eps else None
        val_index = self._val_index(val)
        self._loop(policy, optimizer, scheduler, sampler, frames, val, val_index, step, chunk)
        return self.run_dir

    # ---------------------------------------------------------------- pieces
    def _camera_keys(self, reader: DatasetReader) -> list[str]:
        if self.config.cameras is None:
            return list(reader.camera_keys)
        keys = [image_key(c) for c in self.config.cameras]
        missing = [k for k in keys if k not in reader.camera_keys]
        if missing:
            raise ValueError(
                f"cameras {missing} are not in {reader.root}: it has {reader.camera_keys}"
            )
        return keys

    def _start_run_dir(self) -> None:
        if self.run_dir.exists() and any(self.run_dir.iterdir()):
            raise FileExistsError(
                f"{self.run_dir} is not empty; resume it with --resume {self.run_dir} or pick a new --out"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.run_dir / RUN_CONFIG)

    def _restore(self, policy, optimizer, scheduler, sampler) -> int:
        last = self.run_dir / "checkpoints" / "last"
        if not last.exists():
            raise FileNotFoundError(f"cannot resume {self.run_dir}: no checkpoints/last in it")
        load_weights(policy, last / PRETRAINED_DIR / WEIGHTS_NAME)
        return load_training_state(last / TRAINING_STATE_DIR, optimizer, scheduler, sampler)

    def _val_index(self, val: SplitFrames | None) -> np.ndarray | None:
        if val is None:
            return None
        rng = np.random.default_rng(self.config.seed)
        n = min(self.config.val_samples, len(val))
        return np.sort(rng.choice(len(val), size=n, replace=False))

    def _loop(self, policy, optimizer, scheduler, sampler, frames, val, val_index, step, chunk):
        cfg = self.config
        log = (self.run_dir / LOG_FILE).open("a")
        bar = tqdm(total=cfg.steps, initial=step, unit="step", disable=not self.progress)
        window_start, window_samples = time.perf_counter(), 0
        try:
            while step < cfg.steps:
                index = torch.randint(len(frames), (cfg.batch_size,), generator=sampler).numpy()
                batch = make_batch(frames, index, chunk)
                for key in frames.images:
                    batch[key] = random_shift(batch[key], cfg.image_shift, sampler)
                batch = policy.preprocessor.normalize(batch)
                policy.train()
                with self._autocast():
                    loss, info = policy(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                window_samples += cfg.batch_size
                record = {
                    "step": step,
                    "loss": float(loss.item()),
                    "grad_norm": float(grad_norm),
                    **info,
                }
                validate = step % cfg.val_every == 0 or step == cfg.steps
                if validate and val is not None:
                    record["val_loss"] = self._val_loss(policy, val, val_index, chunk)
                if step % cfg.log_every == 0 or "val_loss" in record:
                    now = time.perf_counter()
                    record["samples_per_s"] = window_samples / max(now - window_start, 1e-9)
                    window_start, window_samples = now, 0
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    bar.set_postfix(
                        loss=f"{record['loss']:.4f}",
                        val=f"{record.get('val_loss', float('nan')):.4f}",
                        sps=f"{record['samples_per_s']:.1f}",
                    )
                bar.update(1)
                if step % cfg.save_every == 0 or step == cfg.steps:
                    self._checkpoint(policy, optimizer, scheduler, sampler, step)
        finally:
            bar.close()
            log.close()

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    @torch.no_grad()
    def _val_loss(self, policy, val: SplitFrames, index: np.ndarray, chunk: int) -> float:
        """Mean L1 of the predicted chunks on a fixed subset of held-out frames (eval mode).

        Runs under a forked RNG so validating never changes the training trajectory."""
        policy.eval()
        total, count = 0.0, 0
        with torch.random.fork_rng():
            for start in range(0, len(index), self.config.batch_size):
                part = index[start : start + self.config.batch_size]
                batch = policy.preprocessor.normalize(make_batch(val, part, chunk))
                loss, _ = policy(batch)
                total += float(loss) * len(part)
                count += len(part)
        policy.train()
        return total / max(count, 1)

    def _checkpoint(self, policy, optimizer, scheduler, sampler, step: int) -> Path:
        """Write into a temporary directory, then rename: a kill never leaves half a checkpoint."""
        final = step_checkpoint_dir(self.run_dir, step, self.config.steps)
        tmp = final.with_name(f".tmp-{final.name}")
        if tmp.exists():
            shutil.rmtree(tmp)
        save_pretrained(policy, tmp / PRETRAINED_DIR)
        save_config(self.config, tmp / PRETRAINED_DIR / RUN_CONFIG)
        save_training_state(tmp / TRAINING_STATE_DIR, step, optimizer, scheduler, sampler)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        update_last_checkpoint(final)
        return final
