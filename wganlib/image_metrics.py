r"""Measuring image generators: sliced Wasserstein distance (ProGAN) and digit-class coverage.

* :func:`sliced_wasserstein` follows Karras et al. (2018, ProGAN): a Laplacian pyramid of each
  image set down to 16x16, 128 random 7x7 patches per image and level, each set's patches
  normalised per channel, 512 random unit directions, and per level the mean over directions of
  the 1-D Wasserstein-1 distance between the projected patch sets, reported x 1e3. Two
  protocols: ``protocol="progan"`` draws each set's patch positions independently, as ProGAN's
  code does (comparable with published numbers); ``protocol="paired"`` (the default) uses the
  same positions for both sets (less noise between runs, but a smaller value: see the docstring).
* :func:`train_digit_classifier`, :func:`class_histogram`, :func:`class_coverage`: a small CNN trained
  on scikit-learn's digits labels generated digits; the class histogram plays the role of the
  mode histogram of the toy mode-coverage metric.

FID and KID are in :mod:`wganlib.fid` (torchmetrics, with Inception weights from a file).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_GAUSS5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Depthwise 5x5 binomial filter (cv2.pyrDown's kernel) with mirror padding."""
    c = x.shape[1]
    k = (torch.outer(_GAUSS5, _GAUSS5) * scale).to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(x, k.expand(c, 1, 5, 5), groups=c)


def laplacian_pyramid(images: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    r"""Laplacian pyramid, finest level first: ``num_levels - 1`` band-pass levels
    :math:`L_i = G_i - \mathrm{up}(G_{i+1})` and the low-pass residual :math:`G_{n-1}` last, where
    :math:`G_{i+1} = \mathrm{down}(G_i)` blurs with the 5x5 binomial kernel and keeps every other pixel
    (as ``cv2.pyrDown``/``pyrUp``, and ProGAN's metric code)."""
    levels = [images.float()]
    for _ in range(1, num_levels):
        g = levels[-1]
        down = _blur(g)[:, :, ::2, ::2]
        up = down.new_zeros(*down.shape[:2], 2 * down.shape[2], 2 * down.shape[3])
        up[:, :, ::2, ::2] = down
        up = _blur(up, 4.0)[:, :, : g.shape[2], : g.shape[3]]
        levels[-1] = g - up
        levels.append(down)
    return levels


def _patches(
    level: torch.Tensor, img: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, size: int
) -> torch.Tensor:
    """Patches ``level[img[m], :, ys[m]:ys[m]+size, xs[m]:xs[m]+size]``, each channel normalised by
    its mean and standard deviation over all the patches, flattened to ``(M, C * size**2)``."""
    r = torch.arange(size)
    dev = level.device
    iy = (ys[:, None] + r)[:, :, None].to(dev)
    ix = (xs[:, None] + r)[:, None, :].to(dev)
    p = level[img.to(dev)[:, None, None], :, iy, ix].permute(0, 3, 1, 2)  # (M, C, size, size)
    mean = p.mean(dim=(0, 2, 3), keepdim=True)
    std = p.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-8)
    return ((p - mean) / std).reshape(len(img), -1)


def _sorted_projections(
    a: torch.Tensor, b: torch.Tensor, d: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``d @ a.T`` and ``d @ b.T`` sorted. On the CPU numpy's vectorised sort (several
    times faster than torch's there) runs in place, one set per thread (it releases the GIL)."""
    pa, pb = d @ a.T, d @ b.T
    if pa.device.type != "cpu":
        return pa.sort(dim=1).values, pb.sort(dim=1).values
    arrays = [pa.numpy(), pb.numpy()]
    if torch.get_num_threads() > 1:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda x: x.sort(axis=1), arrays))
    else:
        for x in arrays:
            x.sort(axis=1)
    return pa, pb


def _swd(
    a: torch.Tensor, b: torch.Tensor, num_directions: int, chunk: int, gen: torch.Generator
) -> float:
    """Mean over random unit directions of the 1-D W1 between the projected sets (equal sizes)."""
    total = 0.0
    done = 0
    while done < num_directions:
        k = min(chunk, num_directions - done)
        d = torch.randn(k, a.shape[1], generator=gen).to(a)
        d = d / d.norm(dim=1, keepdim=True)
        pa, pb = _sorted_projections(a, b, d)  # (k, M): one sorted row per direction
        total += float((pa - pb).abs_().mean(dim=1).sum())
        done += k
    return total / num_directions


@dataclass(frozen=True)
class SWDResult:
    """Per-level sliced Wasserstein distances (x 1e3, finest level first) and their mean."""

    levels: tuple[float, ...]
    resolutions: tuple[int, ...]
    mean: float


def sliced_wasserstein(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    patch_size: int = 7,
    patches_per_image: int = 128,
    num_directions: int = 512,
    min_resolution: int = 16,
    seed: int = 0,
    device: torch.device | str | None = None,
    chunk: int = 128,
    protocol: str = "paired",
) -> SWDResult:
    r"""Sliced Wasserstein distance between two image sets, ProGAN protocol (Karras et al. 2018).

    For each level :math:`\ell` of the Laplacian pyramid (resolutions :math:`H, H/2, \dots` down to
    ``min_resolution``; the last level is the low-pass residual), draw ``patches_per_image`` random
    ``patch_size`` x ``patch_size`` patches per image, normalise each set's patches per channel by
    their own mean and standard deviation (as ProGAN does, so a global affine change of a channel's
    intensity is not measured), flatten them to :math:`D = C \cdot p^2` numbers, and compute

    .. math:: \mathrm{SWD}_\ell = 10^3 \cdot \frac{1}{K}\sum_{k=1}^{K} W_1(\langle A, \theta_k\rangle,
              \langle B, \theta_k\rangle), \qquad \theta_k \sim \mathrm{Unif}(S^{D-1}),

    where the 1-D :math:`W_1` between two equal-size samples is the mean absolute difference of their
    sorted values. The same ``num_directions`` directions serve both sets.

    ``protocol`` says where the patches come from:

    ``"progan"``
        ProGAN's protocol: each set draws its own patch positions (and, when the sets differ in
        size, its own images), independently. Two samples of one distribution then give a
        positive value, the finite-sample floor, which published numbers include: use this
        protocol to compare with them.
    ``"paired"`` (default)
        Both sets use the same random positions (common random numbers). This removes much of
        the floor: two samples of one distribution give a *smaller* value than ProGAN's (and
        identical sets exactly 0), so the numbers are **not** comparable with published SWDs.
        It varies less between evaluations, which suits curves during training.

    Images smaller than ``min_resolution`` (e.g. raw 8x8 digits) get a single level at their own size;
    images smaller than ``patch_size`` raise ``ValueError``. When the sets differ in size, a random
    subset of the larger set, as many images as the smaller holds, is used. All randomness comes from
    ``seed`` (drawn on the CPU, so results do not depend on the device).

    Parameters
    ----------
    real, fake : ``(N, C, H, W)`` tensors on the same scale (e.g. [-1, 1]); same ``C, H, W``.
    device : where to compute (default: ``real``'s device).
    chunk : directions per matrix product (memory: ``2 * N * patches_per_image * chunk`` floats).
    """
    if real.ndim != 4 or fake.ndim != 4 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real and fake must be (N, C, H, W) with equal C, H, W; got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if min(len(real), len(fake)) < 2:
        raise ValueError("need at least 2 images in each set")
    size = min(real.shape[2], real.shape[3])
    if size < patch_size:
        raise ValueError(
            f"images of {size} pixels are smaller than the {patch_size}x{patch_size} patches"
        )
    resolutions = [size]
    while resolutions[-1] // 2 >= max(min_resolution, patch_size):
        resolutions.append(resolutions[-1] // 2)
    if protocol not in ("paired", "progan"):
        raise ValueError(f"protocol must be 'paired' or 'progan', got {protocol!r}")
    device = real.device if device is None else torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    n = min(len(real), len(fake))

    def pick(size: int) -> torch.Tensor:  # the images each patch comes from
        chosen = torch.arange(n) if size == n else torch.randperm(size, generator=gen)[:n]
        return chosen.repeat_interleave(patches_per_image)

    pyr_a = laplacian_pyramid(real.to(device), len(resolutions))
    pyr_b = laplacian_pyramid(fake.to(device), len(resolutions))
    levels = []
    for la, lb in zip(pyr_a, pyr_b, strict=True):
        h, w = la.shape[2:]
        m = n * patches_per_image
        ys = torch.randint(0, h - patch_size + 1, (m,), generator=gen)
        xs = torch.randint(0, w - patch_size + 1, (m,), generator=gen)
        a = _patches(la, pick(len(real)), ys, xs, patch_size)
        if protocol == "progan":  # the second set's own positions
            ys = torch.randint(0, h - patch_size + 1, (m,), generator=gen)
            xs = torch.randint(0, w - patch_size + 1, (m,), generator=gen)
        b = _patches(lb, pick(len(fake)), ys, xs, patch_size)
        levels.append(1e3 * _swd(a, b, num_directions, chunk, gen))
    return SWDResult(tuple(levels), tuple(resolutions), float(np.mean(levels)))


class DigitClassifier(nn.Module):
    """A small CNN for the 10 digit classes; forward returns logits ``(B, 10)``.

    Accepts ``(B, 1 or 3, H, W)`` images in [-1, 1] of any size: RGB is averaged to grey and the
    image is resized (bilinear, antialiased) to ``input_size`` (16: the digits hold 8x8 pixels of
    information), then two strided 4x4 convolutions (16 and 32 channels) and a 64-unit hidden layer.
    """

    def __init__(self, input_size: int = 16, width: int = 16) -> None:
        super().__init__()
        if input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4, got {input_size}")
        self.input_size = input_size
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * (input_size // 4) ** 2, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        s = self.input_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        return self.net(x)


class TrainedDigitClassifier(NamedTuple):
    classifier: DigitClassifier
    test_accuracy: float


@torch.no_grad()
def _predict(classifier: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    classifier.eval()
    dev = next(classifier.parameters()).device
    probs = [
        F.softmax(classifier(images[i : i + batch_size].to(dev)), dim=1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(probs)


def train_digit_classifier(
    image_size: int = 32,
    *,
    epochs: int = 15,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    test_fraction: float = 0.2,
    device: torch.device | str | None = None,
) -> TrainedDigitClassifier:
    """Train :class:`DigitClassifier` on the digits' train split (``digits_dataset(split="train")``).

    Adam, cross-entropy, ``epochs`` passes; weights and batch order come from ``seed`` (the global
    RNG is left untouched). Returns the classifier (in eval mode) and its accuracy on the held-out
    test split drawn with the same ``seed`` and ``test_fraction``.
    """
    from wganlib.images import digits_dataset

    device = torch.device("cpu") if device is None else torch.device(device)
    kw = {"test_fraction": test_fraction, "seed": seed}
    train = digits_dataset(image_size, split="train", **kw)
    test = digits_dataset(image_size, split="test", **kw)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier().to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():  # resize once to the classifier's input size
        x = F.interpolate(
            train.images, size=(model.input_size,) * 2, mode="bilinear", antialias=True
        )
    x, y = x.to(device), train.labels.to(device)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen).to(device)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    pred = _predict(model, test.images, 512).argmax(dim=1)
    acc = float((pred == test.labels).float().mean())
    return TrainedDigitClassifier(model, acc)


def class_histogram(
    classifier: nn.Module, images: torch.Tensor, *, batch_size: int = 512, num_classes: int = 10
) -> torch.Tensor:
    """Counts of the predicted class (argmax) over ``images``: an int64 tensor ``(num_classes,)``."""
    pred = _predict(classifier, images, batch_size).argmax(dim=1)
    return torch.bincount(pred, minlength=num_classes)


@dataclass(frozen=True)
class ClassCoverage:
    """Classes covered, the class histogram, its reverse KL to uniform and the confident fraction."""

    classes: int
    histogram: tuple[int, ...]
    reverse_kl: float
    confident: float


def class_coverage(
    classifier: nn.Module,
    images: torch.Tensor,
    *,
    min_count: int = 1,
    confidence: float = 0.9,
    batch_size: int = 512,
) -> ClassCoverage:
    r"""Digit-class coverage of generated images, the image analogue of the toy mode coverage.

    ``classes`` counts the classes predicted for at least ``min_count`` images; ``confident`` is the
    fraction of images whose top softmax probability is at least ``confidence``; ``reverse_kl`` is
    :math:`\mathrm{KL}(q \,\|\, u) = \sum_k q_k \log(K q_k)` between the normalised class histogram
    :math:`q` and the uniform distribution :math:`u` over the :math:`K` classes, with the convention
    :math:`0 \log 0 = 0` (an empty class adds nothing, no epsilon is needed): 0 for a perfectly
    balanced set, :math:`\log K` when every image falls in one class.
    """
    if len(images) == 0:
        raise ValueError("class_coverage needs at least one image")
    probs = _predict(classifier, images, batch_size)
    hist = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1])
    q = hist.double() / hist.sum()
    k = len(q)
    nz = q > 0
    rkl = float((q[nz] * torch.log(k * q[nz])).sum())
    return ClassCoverage(
        classes=int((hist >= min_count).sum()),
        histogram=tuple(int(v) for v in hist),
        reverse_kl=rkl,
        confident=float((probs.max(dim=1).values >= confidence).float().mean()),
    )
