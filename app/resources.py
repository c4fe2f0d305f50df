"""Locations of bundled files, from a source checkout or a PyInstaller bundle."""
from __future__ import annotations

import sys
from pathlib import Path


def resource_root() -> Path:
    # PyInstaller unpacks bundled data under sys._MEIPASS; from source it is the repo root.
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else Path(__file__).resolve().parent.parent


ASSETS_DIR = resource_root() / "assets"
SAMPLE_CLIP = ASSETS_DIR / "samples" / "sample_clip.mp4"
BACKGROUNDS_DIR = ASSETS_DIR / "backgrounds"
BACKGROUND_EXTENSIONS = (".jpg", ".jpeg", ".png")


def bundled_backgrounds(folder: Path | None = None) -> list[Path]:
    folder = BACKGROUNDS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in BACKGROUND_EXTENSIONS)


def default_background(folder: Path | None = None) -> Path | None:
    """The bundled background named default.* if there is one, else the first; None if none."""
    backgrounds = bundled_backgrounds(folder)
    for path in backgrounds:
        if path.stem.lower() == "default":
            return path
    return backgrounds[0] if backgrounds else None
