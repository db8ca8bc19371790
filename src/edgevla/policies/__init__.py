"""edgevla.policies — ACT and SmolVLA with LeRobot-compatible weights (DESIGN §2).

- `checkpoint`: `load_policy(path)` / `save_pretrained(policy, dir)` in LeRobot's layout
- `chunk_policy`: `TorchChunkPolicy`, any loaded policy as a ChunkPolicy
- `config_base`: `PolicyConfigBase`, LeRobot's base config fields, accessors and JSON form
- `normalization`: LeRobot's MEAN_STD / MIN_MAX / QUANTILES formulas and stats files
- `policy_normalizers`: a policy's two Normalizers, as LeRobot's pipeline steps
- `processors`: LeRobot processor pipeline files (JSON + safetensors state)
- `registry`: policy types by config "type" (act, smolvla)
- `resnet`: torchvision-named ResNet trunk with frozen batch norm
- `act`: the Action Chunking Transformer
"""
