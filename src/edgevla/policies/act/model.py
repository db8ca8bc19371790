"""The ACT network (Zhao et al. 2023), module for module as LeRobot builds it.

Encoder tokens, in order: [latent, robot state?, env state?, camera 1 pixels..., camera 2 ...].
The decoder turns `chunk_size` learned queries into a chunk of actions by cross-attending to
them. In training with `use_vae`, a BERT-like VAE encoder reads [cls, state?, actions...] and
its cls output parameterizes the latent; otherwise (and always at inference) the latent is 0.
Attribute names are LeRobot's, so `ACTPolicy.state_dict()` keys (`model.encoder.layers.0...`)
are identical and checkpoints load in both directions.
"""

from __future__ import annotations

from itertools import chain

import torch
from torch import Tensor, nn

from edgevla.features import ACTION_KEY, ACTION_PAD_KEY, ENV_STATE_KEY, STATE_KEY
from edgevla.policies.act.config import ACTConfig
from edgevla.policies.act.transformer import (
    ACTDecoder,
    ACTEncoder,
    SinusoidalPositionEmbedding2d,
    sinusoidal_1d,
)
from edgevla.policies.resnet import ResNetBackbone

IMAGES_KEY = "observation.images"  # batch[IMAGES_KEY]: list of float[B, 3, H, W], config order


class ACTModel(nn.Module):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim_model
        state = config.robot_state_feature
        env_state = config.env_state_feature
        action = config.action_feature
        assert action is not None  # ACTConfig guarantees it
        if config.use_vae:
            self.vae_encoder = ACTEncoder(config, is_vae_encoder=True)
            self.vae_encoder_cls_embed = nn.Embedding(1, d)
            if state is not None:
                self.vae_encoder_robot_state_input_proj = nn.Linear(state.shape[0], d)
            self.vae_encoder_action_input_proj = nn.Linear(action.shape[0], d)
            self.vae_encoder_latent_output_proj = nn.Linear(d, config.latent_dim * 2)
            n_vae_tokens = 1 + config.chunk_size + (1 if state is not None else 0)
            self.register_buffer("vae_encoder_pos_enc", sinusoidal_1d(n_vae_tokens, d).unsqueeze(0))
        if config.image_features:
            self.backbone = ResNetBackbone(
                config.vision_backbone, bool(config.replace_final_stride_with_dilation)
            )
        self.encoder = ACTEncoder(config)
        self.decoder = ACTDecoder(config)
        if state is not None:
            self.encoder_robot_state_input_proj = nn.Linear(state.shape[0], d)
        if env_state is not None:
            self.encoder_env_state_input_proj = nn.Linear(env_state.shape[0], d)
        self.encoder_latent_input_proj = nn.Linear(config.latent_dim, d)
        if config.image_features:
            self.encoder_img_feat_input_proj = nn.Conv2d(
                self.backbone.out_channels, d, kernel_size=1
            )
        n_1d_tokens = 1 + (state is not None) + (env_state is not None)
        self.encoder_1d_feature_pos_embed = nn.Embedding(n_1d_tokens, d)
        if config.image_features:
            self.encoder_cam_feat_pos_embed = SinusoidalPositionEmbedding2d(d // 2)
        self.decoder_pos_embed = nn.Embedding(config.chunk_size, d)
        self.action_head = nn.Linear(d, action.shape[0])
        for p in chain(self.encoder.parameters(), self.decoder.parameters()):
            if p.dim() > 1:  # Xavier-uniform for the transformer, as in the original code
                nn.init.xavier_uniform_(p)

    def _image_features(self, images: list[Tensor]) -> list[Tensor]:
        """Backbone feature maps, one per camera, each camera its own call as in LeRobot (the
        golden numbers depend on it: convolution rounding varies with the batch size). Only
        while batch norm is being trained (`thaw_batch_norm`) do cameras of one size go through
        as one batch, so it normalizes with statistics over all cameras — the mix its running
        statistics hold at inference."""
        if not images:
            return []
        trains_norm = self.backbone.training and isinstance(self.backbone.bn1, nn.BatchNorm2d)
        if trains_norm and len(images) > 1 and len({tuple(i.shape) for i in images}) == 1:
            return list(self.backbone(torch.cat(images))["feature_map"].chunk(len(images)))
        return [self.backbone(image)["feature_map"] for image in images]

    def forward(
        self, batch: dict[str, Tensor]
    ) -> tuple[Tensor, tuple[Tensor | None, Tensor | None]]:
        """Normalized batch -> (actions float[B, chunk_size, A], (mu, log_sigma_x2) or Nones).

        batch: `observation.state` [B, S]; `observation.images` list of [B, 3, H, W] and/or
        `observation.environment_state` [B, E]; in VAE training also `action` [B, T, A] and
        `action_is_pad` bool[B, T].
        """
        config = self.config
        if IMAGES_KEY in batch:
            batch_size = batch[IMAGES_KEY][0].shape[0]
        else:
            batch_size = batch[ENV_STATE_KEY].shape[0]
        if config.use_vae and self.training:
            if ACTION_KEY not in batch:
                raise ValueError("VAE training needs 'action' (and 'action_is_pad') in the batch")
            mu, log_sigma_x2 = self._encode_latent(batch, batch_size)
            latent = mu + log_sigma_x2.div(2).exp() * torch.randn_like(mu)
        else:
            mu = log_sigma_x2 = None
            device = self.encoder_latent_input_proj.weight.device
            latent = torch.zeros(
                [batch_size, config.latent_dim], dtype=torch.float32, device=device
            )

        images = batch.get(IMAGES_KEY, []) if config.image_features else []
        actions = self.chunk_from_features(batch, latent, self._image_features(images))
        return actions, (mu, log_sigma_x2)

    def chunk_from_features(
        self, batch: dict[str, Tensor], latent: Tensor, image_features: list[Tensor]
    ) -> Tensor:
        """Everything after the backbone: (latent [B, L], backbone maps, one [B, C, h, w] per
        camera) -> actions float[B, chunk_size, A]. Its own method so export can cut ACT into
        the backbone block and this, the transformer block."""
        config = self.config
        batch_size = latent.shape[0]
        tokens = [self.encoder_latent_input_proj(latent)]
        pos = list(self.encoder_1d_feature_pos_embed.weight.unsqueeze(1))
        if config.robot_state_feature is not None:
            tokens.append(self.encoder_robot_state_input_proj(batch[STATE_KEY]))
        if config.env_state_feature is not None:
            tokens.append(self.encoder_env_state_input_proj(batch[ENV_STATE_KEY]))
        for features in image_features:
            cam_pos = self.encoder_cam_feat_pos_embed(features).to(dtype=features.dtype)
            features = self.encoder_img_feat_input_proj(features)
            # [B, D, h, w] -> h*w tokens of [B, D]; positions [1, D, h, w] -> h*w of [1, D].
            tokens.extend(features.flatten(2).permute(2, 0, 1))
            pos.extend(cam_pos.flatten(2).permute(2, 0, 1))
        encoder_in = torch.stack(tokens, dim=0)  # [S, B, D]
        encoder_pos = torch.stack(pos, dim=0)  # [S, 1, D]
        encoder_out = self.encoder(encoder_in, pos_embed=encoder_pos)
        queries = self._decoder_queries(batch, batch_size, encoder_pos)
        decoder_out = self.decoder(
            queries,
            encoder_out,
            decoder_pos_embed=self.decoder_pos_embed.weight.unsqueeze(1),
            encoder_pos_embed=encoder_pos,
        )
        return self.action_head(decoder_out.transpose(0, 1))

    def _decoder_queries(self, batch: dict[str, Tensor], batch_size: int, like: Tensor) -> Tensor:
        """The decoder's input [chunk_size, B, D]: zeros in ACT (its queries are positions only);
        a subclass may condition it on more of the batch."""
        shape = (self.config.chunk_size, batch_size, self.config.dim_model)
        return torch.zeros(shape, dtype=like.dtype, device=like.device)

    def _encode_latent(self, batch: dict[str, Tensor], batch_size: int) -> tuple[Tensor, Tensor]:
        """VAE encoder: [cls, state?, actions] -> (mu, log_sigma_x2), each [B, latent_dim]."""
        has_state = self.config.robot_state_feature is not None
        cls = self.vae_encoder_cls_embed.weight.unsqueeze(0).expand(batch_size, -1, -1)
        parts = [cls]
        if has_state:
            parts.append(self.vae_encoder_robot_state_input_proj(batch[STATE_KEY]).unsqueeze(1))
        parts.append(self.vae_encoder_action_input_proj(batch[ACTION_KEY]))
        vae_in = torch.cat(parts, dim=1)  # [B, S, D]
        action_is_pad = batch.get(ACTION_PAD_KEY)
        if action_is_pad is None:
            action_is_pad = torch.zeros(batch[ACTION_KEY].shape[:2], dtype=torch.bool)
        prefix_pad = torch.zeros((batch_size, 1 + has_state), dtype=torch.bool)
        key_padding_mask = torch.cat(
            [prefix_pad.to(vae_in.device), action_is_pad.to(vae_in.device)], 1
        )
        pos = self.vae_encoder_pos_enc.clone().detach()  # [1, S, D]
        cls_out = self.vae_encoder(
            vae_in.permute(1, 0, 2),
            pos_embed=pos.permute(1, 0, 2),
            key_padding_mask=key_padding_mask,
        )[0]
        params = self.vae_encoder_latent_output_proj(cls_out)
        return params[:, : self.config.latent_dim], params[:, self.config.latent_dim :]
