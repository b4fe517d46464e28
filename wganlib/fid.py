r"""FID and KID of generated images, through torchmetrics, with Inception weights from a file.

The Fréchet Inception distance (Heusel et al. 2017) fits a Gaussian to the features
:math:`\phi(x)` of each image set and compares the two:

.. math:: \mathrm{FID} = \lVert \mu_r - \mu_g \rVert^2
          + \operatorname{Tr}\bigl(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\bigr),

with the means :math:`\mu` and the unbiased covariances :math:`\Sigma` of the features. The
kernel Inception distance (Bińkowski et al. 2018) is the unbiased squared MMD with the kernel
:math:`k(a, b) = (a^\top b / d + 1)^3`, averaged over ``kid_subsets`` random subsets.

Both are computed by a kept library, :mod:`torchmetrics` (``FrechetInceptionDistance`` and
``KernelInceptionDistance`` with a feature extractor we pass in; install the ``fid`` extra).
Nothing is downloaded: the Inception network comes from a file the user supplies,
``weights_path``, a TorchScript Inception-v3 that maps ``uint8`` images ``(N, 3, H, W)`` to
2,048 pool features when called with ``return_features=True`` (the ``inception-2015-12-05.pt``
file of NVIDIA's StyleGAN2-ADA metrics and of clean-fid, whose numbers match the TensorFlow
reference). Any other ``nn.Module`` mapping the images (floats in [-1, 1], as the trainer
produces them) to ``(N, d)`` features can be passed as ``feature_extractor`` — the tests use a
small one whose FID is known in closed form.

The real images come from a tensor, a dataset, or a path: an image folder or an LSUN-format LMDB
(:mod:`wganlib.images`, :mod:`wganlib.lsun`), read at the generated images' size.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["FIDKID", "InceptionFeatures", "load_inception", "fid_kid", "real_images_from"]


class InceptionFeatures(nn.Module):
    """Wrap a TorchScript Inception-v3: images in [-1, 1] -> ``(N, 2048)`` pool features.

    Grey images are repeated to three channels; the network resizes to 299x299 itself.
    """

    num_features = 2048

    def __init__(self, model: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        u8 = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return self.model(u8, return_features=True)


def load_inception(weights_path: str | os.PathLike) -> InceptionFeatures:
    """Load the Inception feature extractor from ``weights_path`` (a TorchScript file).

    Raises
    ------
    FileNotFoundError
        One line naming the path and the file expected (nothing is downloaded).
    """
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception weights not found at {path}: pass the path of a TorchScript "
            "Inception-v3 file (inception-2015-12-05.pt, as used by StyleGAN2-ADA and clean-fid); "
            "nothing is downloaded"
        )
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # not a TorchScript archive
        raise ValueError(f"{path} is not a TorchScript Inception file: {err}") from None
    return InceptionFeatures(model).eval()


def real_images_from(
    source: Any, n: int, image_size: int, channels: int = 3, *, seed: int = 0
) -> torch.Tensor:
    """``n`` real images ``(n, C, S, S)`` in [-1, 1] from a tensor, a dataset or a path.

    A path is an image folder or an LSUN-format LMDB; ``n`` images are drawn without
    replacement with ``seed`` (all of them when the set is smaller).
    """
    if isinstance(source, torch.Tensor):
        return source[:n]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"reference images not found: {path} (a folder or an LMDB)")
        if (path / "data.mdb").is_file() or path.suffix == ".mdb":
            from wganlib.lsun import LSUNDataset

            source = LSUNDataset(path, image_size=image_size, nc=channels)
        else:
            from wganlib.images import ImageFolderDataset

            source = ImageFolderDataset(path, image_size, nc=channels)
    size = len(source)
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(size, generator=g)[: min(n, size)].tolist()
    items = [source[i] for i in idx]
    return torch.stack([x[0] if isinstance(x, (tuple, list)) else x for x in items])


@dataclass(frozen=True)
class FIDKID:
    """FID, KID (mean and standard deviation over subsets) and the set sizes."""

    fid: float
    kid_mean: float
    kid_std: float
    n_fake: int
    n_real: int


def _batches(x: torch.Tensor, batch_size: int):
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size]


def fid_kid(
    fake: torch.Tensor,
    real: Any,
    *,
    feature_extractor: nn.Module | None = None,
    weights_path: str | os.PathLike | None = None,
    n_real: int | None = None,
    batch_size: int = 100,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> FIDKID:
    """FID and KID between generated images ``fake`` ``(N, C, H, W)`` in [-1, 1] and ``real``.

    Parameters
    ----------
    fake : Tensor, shape (N, C, H, W)
        The trainer's samples, e.g. ``run.sample(10_000)``.
    real : Tensor, dataset, or path of an image folder / LSUN LMDB
        Reference images (:func:`real_images_from`; ``n_real`` of them, default ``len(fake)``).
    feature_extractor, weights_path
        The features: a module mapping images to ``(N, d)``, or the TorchScript Inception at
        ``weights_path`` (:func:`load_inception`). One of the two is required.
    kid_subsets, kid_subset_size
        KID's subsets (the subset size is capped at the smaller set's size).
    """
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance
    except ImportError:
        raise ImportError(
            "FID/KID need torchmetrics: pip install 'wganlib[fid]' (or torchmetrics)"
        ) from None
    if feature_extractor is None:
        if weights_path is None:
            raise ValueError(
                "fid_kid needs weights_path (a TorchScript Inception) or a feature_extractor"
            )
        feature_extractor = load_inception(weights_path)
    real_x = real_images_from(real, n_real or len(fake), fake.shape[-1], fake.shape[1], seed=seed)
    if min(len(fake), len(real_x)) < 2:
        raise ValueError("FID/KID need at least 2 images in each set")
    dev = torch.device(device) if device is not None else fake.device
    feature_extractor = feature_extractor.to(dev).eval()
    subset = min(kid_subset_size, len(fake), len(real_x))
    with warnings.catch_warnings():  # torchmetrics warns that KID keeps all features in memory
        warnings.simplefilter("ignore")
        fid = FrechetInceptionDistance(feature=feature_extractor, reset_real_features=True).to(dev)
        kid = KernelInceptionDistance(
            feature=feature_extractor, subsets=kid_subsets, subset_size=subset
        ).to(dev)
    with torch.no_grad():
        for is_real, images in ((True, real_x), (False, fake)):
            for batch in _batches(images, batch_size):
                batch = batch.to(dev)
                fid.update(batch, real=is_real)
                kid.update(batch, real=is_real)
        with torch.random.fork_rng(devices=[]):  # KID's subsets come from the global RNG
            torch.manual_seed(int(seed))
            kid_mean, kid_std = kid.compute()
        fid_value = float(fid.compute())
    return FIDKID(fid_value, float(kid_mean), float(kid_std), len(fake), len(real_x))
