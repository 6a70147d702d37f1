"""How alike ImageCaptcha draws 0 and O: mean pixel difference of each glyph pair, per font size.

    python benchmarks/glyphs.py

ImageCaptcha crops each glyph to its ink and stretches it back to the font's cell; this draws
the glyphs the same way (no rotation or warp) and prints, for each of its font sizes, the mean
absolute difference in [0, 1] between 0 and O, and between O and D for scale.
"""

from __future__ import annotations

import numpy as np
from captcha.image import ImageCaptcha
from PIL import Image, ImageDraw, ImageFont


def glyph(char: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
    _, _, width, height = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(
        (1, 1), char, font=font
    )
    canvas = Image.new("L", (width + 5, height + 5), 0)
    ImageDraw.Draw(canvas).text((1, 1), char, font=font, fill=255)
    ink = canvas.crop(canvas.getbbox()).resize((width, height))  # as ImageCaptcha does
    return np.asarray(ink, dtype=np.float32) / 255.0


def difference(a: str, b: str, font: ImageFont.FreeTypeFont) -> float:
    first, second = glyph(a, font), glyph(b, font)
    height = min(first.shape[0], second.shape[0])  # cells can differ by a pixel
    width = min(first.shape[1], second.shape[1])
    return float(np.abs(first[:height, :width] - second[:height, :width]).mean())


def main() -> None:
    print("| font size | 0 vs O | O vs D |")
    print("|---|---|---|")
    for font in ImageCaptcha(width=128, height=64).truefonts:
        print(
            f"| {font.size} | {difference('0', 'O', font):.3f} | {difference('O', 'D', font):.3f} |"
        )


if __name__ == "__main__":
    main()
