"""Does a viewer's screenshot show the source image where it should, at 1 screen pixel per
image pixel? The source's pixels come from an independent reader (Pillow), never from
gigatile.

The screenshot shows the image's bottom-right part: its top-left pixel is image pixel
(x0, y0) and the image ends `shown = (width, height)` pixels in; beyond is the viewer's
background. Three checks, each aimed at a way tiles go wrong:
- alignment: over a window of offsets, the mean absolute error against the source is
  lowest at (0, 0) (±1), and clearly lower than at any wrong offset (a misplaced picture);
- blocks: at (0, 0) no 32 × 32 block is far off (a missing, black, stretched, blurred or
  shifted tile is a few blocks of large error, lost in a whole-picture mean);
- background: beyond the image's corner the screen is uniform (a tile stretched past the
  edge, or drawn at the wrong size, leaves picture there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RADIUS = 4  # offsets searched: -RADIUS..RADIUS in x and y
BLOCK = 32
MAX_MAE = 10.0  # mean abs error (0-255) at the right offset: JPEG's loss on a noisy picture
MAX_BLOCK_MAE = 12.0
MIN_MARGIN = 2.0  # the best wrong offset's error must be at least this many times the right one's
MAX_BACKGROUND_STD = 3.0
MIN_DETAIL = 0.75  # each block's fine detail (Laplacian) must be this share of the source's
EDGE = 4  # the surface's own border left out of the background check (a panel's shadow falls there)


@dataclass
class Match:
    best: tuple[int, int]  # (dx, dy) of the lowest error
    mae: float  # at (0, 0)
    wrong_mae: float  # the lowest error at an offset more than 1 pixel away
    worst_block: float  # the highest 32 × 32 block error at (0, 0)
    least_detail: float  # the lowest ratio of a block's fine detail to the source's there
    background_std: float

    def problems(self) -> list[str]:
        found = []
        if max(abs(self.best[0]), abs(self.best[1])) > 1:
            found.append(f"best alignment at offset {self.best}, not (0, 0)")
        if self.mae > MAX_MAE:
            found.append(f"mean abs error {self.mae:.1f} > {MAX_MAE}")
        if self.wrong_mae < MIN_MARGIN * self.mae:
            found.append(f"a wrong offset matches almost as well ({self.wrong_mae:.1f} vs {self.mae:.1f})")
        if self.worst_block > MAX_BLOCK_MAE:
            found.append(f"a {BLOCK}×{BLOCK} block is off by {self.worst_block:.1f} > {MAX_BLOCK_MAE}")
        if self.least_detail < MIN_DETAIL:
            found.append(f"a blurred or stretched block (detail {self.least_detail:.2f} of the source's)")
        if self.background_std > MAX_BACKGROUND_STD:
            found.append(f"picture beyond the image's corner (std {self.background_std:.1f})")
        return found

    def __str__(self) -> str:
        return (
            f"MAE {self.mae:.2f} at (0,0) vs {self.wrong_mae:.2f} at the best wrong offset, best {self.best}, "
            f"worst {BLOCK}px block {self.worst_block:.2f}, least detail {self.least_detail:.2f}, "
            f"background std {self.background_std:.2f}"
        )


def match(shot: np.ndarray, source: np.ndarray, x0: int, y0: int, shown: tuple[int, int]) -> Match:
    """Compare `shot` (H × W × 3, uint8) with `source` (the full-resolution image)."""
    ww, hh = shown
    r = RADIUS
    shot = shot[..., :3].astype(np.int16)
    inner = shot[r : hh - r, r : ww - r]
    errors = {}
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ref = source[y0 + r + dy : y0 + hh - r + dy, x0 + r + dx : x0 + ww - r + dx, :3]
            errors[(dx, dy)] = float(np.abs(inner - ref).mean())
    best = min(errors, key=errors.__getitem__)
    wrong = min(e for (dx, dy), e in errors.items() if max(abs(dx), abs(dy)) > 1)
    seen, ref = shot[:hh, :ww], source[y0 : y0 + hh, x0 : x0 + ww, :3]
    diff = np.abs(seen - ref).mean(axis=2)
    detail = _block_means(_fine_detail(seen)) / np.maximum(_block_means(_fine_detail(ref)), 1e-6)
    blocks = _block_means(diff)
    right, below = shot[EDGE:-EDGE, ww + 1 : -EDGE], shot[hh + 1 : -EDGE, EDGE:ww]
    beyond = np.concatenate([right.reshape(-1, 3), below.reshape(-1, 3)])
    return Match(
        best=best,
        mae=errors[(0, 0)],
        wrong_mae=wrong,
        worst_block=float(blocks.max()),
        least_detail=float(detail.min()),
        background_std=float(beyond.std(axis=0).max()) if len(beyond) else 0.0,
    )


def _fine_detail(pixels: np.ndarray) -> np.ndarray:
    """|Laplacian| of the grey picture: what a blurred or up-scaled tile loses."""
    grey = pixels.astype(np.float32).mean(axis=2)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return np.pad(np.abs(lap), 1, mode="edge")


def _block_means(values: np.ndarray) -> np.ndarray:
    """Means over BLOCK × BLOCK blocks, laid from the top-left and again from the bottom-right
    corner (so the strips at the image's edges are covered too), as one flat array."""
    h, w = values.shape
    rows, cols = h // BLOCK, w // BLOCK
    parts = (values[: rows * BLOCK, : cols * BLOCK], values[h - rows * BLOCK :, w - cols * BLOCK :])
    return np.concatenate([p.reshape(rows, BLOCK, cols, BLOCK).mean(axis=(1, 3)).ravel() for p in parts])


def seams_overdrawn(source: np.ndarray, x0: int, y0: int, tile: int = 256) -> np.ndarray:
    """The picture OpenSeadragon's canvas drawer shows at full resolution: each tile of the
    `tile` × `tile` grid stretched by one screen pixel right and down, so that no seam shows
    between tiles (later tiles over earlier ones). Mirador 3.4.3 and 4.0.0 both bundle
    OpenSeadragon 5.0.1 and load tiles without CORS, so it falls back from WebGL to this
    drawer (measured on an uncompressed copy of the test image: MAE 2.3 against this
    picture, 13.9 against the plain one). Only the
    tiles from (x0, y0) on (less a margin for the offset search) are redrawn."""
    from PIL import Image

    out = source.copy()
    height, width = source.shape[:2]
    first_x = max(0, (x0 - RADIUS) // tile * tile)
    first_y = max(0, (y0 - RADIUS) // tile * tile)
    for y in range(first_y, height, tile):
        for x in range(first_x, width, tile):
            part = source[y : y + tile, x : x + tile, :3].astype(np.uint8)
            h, w = part.shape[:2]
            grown = np.asarray(Image.fromarray(part).resize((w + 1, h + 1), Image.BILINEAR))
            target = out[y : y + h + 1, x : x + w + 1]
            target[..., :3] = grown[: target.shape[0], : target.shape[1]]
    return out
