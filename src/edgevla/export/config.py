"""`edgevla export`'s one config, saved beside the bundle as export_config.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "export_config.json"
LOG_NAME = "export.log"  # the exporters' and quantizers' own output
DEFAULT_FPS = 30.0  # what the bundle records when neither `fps` nor a dataset says


@dataclass(frozen=True)
class ExportConfig:
    policy: Path  # a checkpoint directory (LeRobot's layout)
    out: Path  # the bundle directory to create
    dataset: Path | None = None  # parity and calibration frames; None: synthetic, no int8-static
    recipe: str = "optimized"  # a shipped recipe's name or a recipe file
    parity_frames: int = 8
    calibration_frames: int = 32
    episodes: int = 4  # episodes the frames are spread over
    fps: float | None = None  # None: the dataset's, or DEFAULT_FPS without one

    def __post_init__(self) -> None:
        if self.parity_frames < 1 or self.calibration_frames < 1 or self.episodes < 1:
            raise ValueError(
                "parity_frames, calibration_frames and episodes must be >= 1, got "
                f"{self.parity_frames}, {self.calibration_frames}, {self.episodes}"
            )
