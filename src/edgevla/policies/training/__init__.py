"""Training: dataset -> batches -> optimizer steps -> LeRobot-layout checkpoints, resumable."""
