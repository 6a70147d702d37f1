"""`ctcocr styles`: list the synthesis styles, or draw a sheet of samples of each."""

from __future__ import annotations

import argparse
from pathlib import Path

from ctcocr.core.config_flags import parse_range


def add_styles_parser(commands: argparse._SubParsersAction) -> None:
    styles = commands.add_parser(
        "styles", help="list the synthesis styles (--style), or draw samples of each"
    )
    styles.add_argument(
        "--out", type=Path, help="folder for NAME.png per style, overview.png and index.md"
    )
    styles.add_argument("--only", help="comma-separated style names (default: all)")
    styles.add_argument("--seed", type=int, default=0, help="same seed, same pictures")
    styles.add_argument("--length", type=parse_range, default=(3, 7), help="text length A-B")
    styles.add_argument("--font-dir", default="", help="a folder of extra .ttf/.otf fonts")


def cmd_styles(args: argparse.Namespace) -> int:
    from ctcocr.data.fonts import available_fonts
    from ctcocr.data.styles import STYLES, style_named

    names = [n.strip() for n in args.only.split(",")] if args.only else list(STYLES)
    for name in names:
        style = style_named(name)
        about = " ".join((type(style).__doc__ or "").split())
        print(f"{name:12} {about}")
    fonts = available_fonts(args.font_dir)
    families = sorted({font.family for font in fonts})
    print(f"\n{len(fonts)} font files in {len(families)} families: {', '.join(families)}")
    if args.out is None:
        return 0
    from ctcocr.core.run_folder import check_out
    from ctcocr.data.style_sheets import write_style_sheets

    check_out(args.out, folder=True)
    written = write_style_sheets(args.out, names, args.seed, args.length, args.font_dir)
    print(f"wrote {len(written)} files to {args.out} (open {args.out / 'index.md'})")
    return 0
