import os

import cv2
import numpy as np
import pytest

from app.capture import (CameraSource, FrameSource, ImageSource, PrefetchingSource, SourceError, VideoFileSource,
                         is_network_address, list_cameras, open_source, read_picture)
from conftest import deny_reading, level_frames, write_video

ABSENT_CAMERA = 63  # V4L2 index with no device on a test machine


def level(frame):
    return float(frame.mean())


def test_video_file_reads_every_frame_then_none(tmp_path):
    path = write_video(tmp_path / "levels.mp4", level_frames(8), fps=12.0)
    with VideoFileSource(path, loop=False) as source:
        assert source.size == (160, 120)
        assert source.fps == pytest.approx(12.0)
        assert source.frame_count == 8
        assert source.is_live is False
        assert "levels.mp4" in source.description
        levels = []
        while (frame := source.read()) is not None:
            assert frame.dtype == np.uint8 and frame.shape == (120, 160, 3)
            levels.append(level(frame))
    assert levels == pytest.approx([20 + 20 * i for i in range(8)], abs=6)


def test_video_file_loops(tmp_path):
    path = write_video(tmp_path / "levels.mp4", level_frames(4))
    with VideoFileSource(path, loop=True) as source:
        levels = [level(source.read()) for _ in range(10)]
    assert levels == pytest.approx([20, 40, 60, 80, 20, 40, 60, 80, 20, 40], abs=6)


def test_missing_video_raises_naming_file(tmp_path):
    with pytest.raises(SourceError, match="nothere.mp4"):
        VideoFileSource(tmp_path / "nothere.mp4")


def test_unsupported_file_raises(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video")
    with pytest.raises(SourceError, match="notes.mp4"):
        open_source(str(path))


def test_truncated_video_raises(tmp_path):
    path = write_video(tmp_path / "full.mp4", level_frames(10))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(SourceError, match="truncated.mp4"):
        VideoFileSource(truncated)


def test_video_that_vanishes_mid_stream_raises_when_looping(tmp_path):
    path = write_video(tmp_path / "levels.mp4", level_frames(5))
    source = VideoFileSource(path, loop=True)
    source.read()
    os.remove(path)
    with pytest.raises(SourceError, match="levels.mp4"):
        for _ in range(20):
            source.read()
    source.close()


def test_capture_failing_mid_stream_raises_instead_of_ending(tmp_path):
    # Noise frames compress badly, so the file is far larger than FFmpeg's read-ahead; cutting
    # it while open makes decoding fail part-way, which must not look like a normal end.
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(40)]
    path = write_video(tmp_path / "noise.avi", frames)
    source = VideoFileSource(path, loop=False)
    source.read()
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 4)
    with pytest.raises(SourceError, match="noise.avi"):
        for _ in range(40):
            if source.read() is None:
                break
    source.close()


def test_closed_video_raises(tmp_path):
    source = VideoFileSource(write_video(tmp_path / "a.mp4", level_frames(2)))
    source.close()
    with pytest.raises(SourceError):
        source.read()


def test_image_source_is_endless_and_returns_independent_copies(tmp_path):
    image = np.zeros((30, 40, 3), np.uint8)
    image[:, :20] = (255, 0, 0)
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), image)
    source = ImageSource(path, fps=25)
    assert source.size == (40, 30) and source.fps == 25 and source.frame_count is None
    first = source.read()
    first[:] = 0  # a consumer drawing on its frame
    for _ in range(5):
        assert np.array_equal(source.read(), image)


def test_a_transparent_cut_out_is_seen_on_white_not_on_the_colours_it_hides(tmp_path):
    cut_out = np.zeros((30, 40, 4), np.uint8)
    cut_out[..., :3] = (0, 0, 0)  # what the transparent pixels hide: black, as editors often leave
    cut_out[5:25, 10:30] = (40, 160, 220, 255)  # the opaque person
    cut_out[5:25, 9] = (40, 160, 220, 128)  # and a half-transparent edge
    path = tmp_path / "cut_out.png"
    cv2.imwrite(str(path), cut_out)
    frame = ImageSource(path).read()
    assert frame.shape == (30, 40, 3)
    assert np.array_equal(frame[0, 0], (255, 255, 255)) and np.array_equal(frame[10, 20], (40, 160, 220))
    assert np.abs(frame[10, 9].astype(int) - (148, 208, 237)).max() <= 1  # half over white
    # 16-bit alpha too; an opaque picture and a JPEG keep their own colours.
    cv2.imwrite(str(tmp_path / "deep.png"), cut_out.astype(np.uint16) * 257)
    assert np.array_equal(ImageSource(tmp_path / "deep.png").read()[0, 0], (255, 255, 255))
    cv2.imwrite(str(tmp_path / "opaque.png"), cut_out[..., :3])
    assert np.array_equal(ImageSource(tmp_path / "opaque.png").read()[0, 0], (0, 0, 0))


def _with_exif_orientation(png: bytes, orientation: int) -> bytes:
    """The PNG with an eXIf chunk (before its first IDAT) whose Orientation tag is `orientation`."""
    import struct
    import zlib

    exif = b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x0112, 3, 1, orientation) + struct.pack("<I", 0)
    chunk = struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif))
    at = png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_cut_out_keeps_its_transparency_where_its_colours_are(tmp_path, orientation):
    # OpenCV turns the colour read by the EXIF orientation, not the read that keeps the alpha: the
    # transparency of a phone's sideways cut-out was on the wrong side (3: turned 180 degrees) or
    # dropped (6, 8: a quarter turn changes the shape).
    cut_out = np.zeros((30, 60, 4), np.uint8)  # what the transparent part hides: black
    cut_out[:, :20] = (40, 160, 220, 255)  # the opaque part, on the left as stored
    cut_out[:10, 20:30] = (40, 160, 220, 255)  # and a notch, so no turn looks like another
    path = tmp_path / "turned.png"
    path.write_bytes(_with_exif_orientation(cv2.imencode(".png", cut_out)[1].tobytes(), orientation))
    colours, alpha = read_picture(path)
    assert colours is not None and alpha is not None and alpha.shape == colours.shape[:2]
    opaque = np.all(colours == (40, 160, 220), axis=2)
    assert np.array_equal(alpha == 1.0, opaque)  # transparent exactly where the hidden black is
    assert opaque.any() and not opaque.all()
    frame = ImageSource(path).read()
    assert np.array_equal(frame[~opaque], np.full((np.count_nonzero(~opaque), 3), 255))  # on white


@pytest.mark.parametrize("orientation, opaque_corner", [(1, (0, 0)), (3, (-1, -1)), (6, (0, -1)), (8, (-1, 0))])
def test_a_turned_logo_of_one_flat_colour_keeps_its_transparency_turned(tmp_path, orientation, opaque_corner):
    # One flat colour matches every turn of itself: the EXIF tag decides where its transparency goes
    # (it stayed the file's own way, wrong for a sideways phone's logo).
    logo = np.zeros((30, 60, 4), np.uint8)
    logo[..., :3] = (0, 0, 255)  # red everywhere, even under the transparent part
    logo[:10, :20, 3] = 255  # the opaque mark, top left as stored
    path = tmp_path / "logo.png"
    path.write_bytes(_with_exif_orientation(cv2.imencode(".png", logo)[1].tobytes(), orientation))
    colours, alpha = read_picture(path)
    assert alpha is not None and alpha.shape == colours.shape[:2]
    assert alpha[opaque_corner] == 1.0 and alpha.mean() == pytest.approx(200 / 1800)


def test_a_grey_png_with_a_transparent_grey_value_is_seen_on_white(tmp_path):
    # A grey PNG marks its transparency as one grey value (a tRNS chunk); OpenCV's unchanged read
    # gives the grey alone, and the hidden black showed as the picture.
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    # 8- and 16-bit; and one whose tRNS comes after 70 KB of text (an editor's metadata)
    for dtype, key, before in ((np.uint8, 0, b""), (np.uint16, 0, b""), (np.uint8, 0, b"x" * 70_000)):
        grey = np.zeros((30, 40), dtype)
        grey[5:25, 10:30] = np.iinfo(dtype).max * 3 // 4  # the opaque part
        png = cv2.imencode(".png", grey)[1].tobytes()
        at = png.index(b"IDAT") - 4
        extra = (chunk(b"tEXt", b"Comment\x00" + before) if before else b"") + chunk(b"tRNS", key.to_bytes(2, "big"))
        path = tmp_path / f"grey_{np.dtype(dtype).name}_{len(before)}.png"
        path.write_bytes(png[:at] + extra + png[at:])
        colours, alpha = read_picture(path)
        assert alpha is not None and np.array_equal(alpha == 1.0, grey != key), dtype
        frame = ImageSource(path).read()
        assert np.array_equal(frame[0, 0], (255, 255, 255)) and frame[10, 20, 0] in (190, 191), dtype
    # Without the chunk the grey is opaque: its black stays black.
    cv2.imwrite(str(tmp_path / "opaque_grey.png"), grey)
    assert read_picture(tmp_path / "opaque_grey.png")[1] is None


def test_image_source_errors(tmp_path):
    with pytest.raises(SourceError, match="missing.png"):
        ImageSource(tmp_path / "missing.png")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(SourceError, match="corrupt.jpg"):
        ImageSource(corrupt)


def test_nonexistent_camera_index_raises_naming_it():
    with pytest.raises(SourceError, match=f"Camera {ABSENT_CAMERA}"):
        CameraSource(ABSENT_CAMERA)


def test_open_source_dispatch(tmp_path):
    video = write_video(tmp_path / "v.mp4", level_frames(3))
    image = tmp_path / "p.jpg"
    cv2.imwrite(str(image), np.zeros((10, 10, 3), np.uint8))
    with open_source(str(video), loop=False, width=5) as source:
        assert isinstance(source, VideoFileSource) and source.loop is False
    with open_source(str(image), fps=10, loop=True) as source:
        assert isinstance(source, ImageSource) and source.fps == 10
        assert source.is_still  # a photo: the segmenter may take two looks at it
    with PrefetchingSource(open_source(str(video), loop=False)) as source:
        assert not source.is_still and not source.source.is_still
    with PrefetchingSource(ImageSource(image)) as source:
        assert source.is_still  # wrappers pass it on
    with pytest.raises(SourceError, match=f"Camera {ABSENT_CAMERA}"):
        open_source(str(ABSENT_CAMERA))
    with pytest.raises(SourceError, match=f"Camera {ABSENT_CAMERA}"):
        open_source(ABSENT_CAMERA, loop=True)


def test_an_address_is_named_as_given_and_a_file_link_opens_its_file(tmp_path, monkeypatch):
    for address in ("http://127.0.0.1:9/x.mp4", "rtsp://camera.local/stream", "HTTPS://host/a b.mp4"):
        with pytest.raises(SourceError, match="is a network address") as raised:
            open_source(address)
        assert address in str(raised.value)  # not folded into a path ("http:/127.0.0.1:9/x.mp4")
        assert is_network_address(address)
    video = write_video(tmp_path / "my clip.mp4", level_frames(3))
    with open_source(video.as_uri(), loop=False) as source:  # file:///.../my%20clip.mp4
        assert isinstance(source, VideoFileSource) and source.path == video
    with pytest.raises(SourceError, match="not found"):
        open_source((tmp_path / "gone.mp4").as_uri())
    # A file link, a path, a camera and a file that happens to be named like an address are not
    # addresses (the window keeps an address as written and resolves the rest).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "http:" / "host").mkdir(parents=True)
    (tmp_path / "http:" / "host" / "x.mp4").write_bytes(b"")
    for spec in (video.as_uri(), str(video), "0", "http://host/x.mp4"):
        assert not is_network_address(spec), spec


def test_frame_source_is_a_base_class():
    assert issubclass(VideoFileSource, FrameSource) and issubclass(CameraSource, FrameSource)


@pytest.mark.skipif(any(name.startswith("video") for name in os.listdir("/dev")) if os.path.isdir("/dev") else True,
                    reason="machine has video devices")
def test_list_cameras_is_empty_without_devices():
    assert list_cameras(max_index=3) == []


class _ScriptedSource(FrameSource):
    """Frames 0..n-1 (each filled with its index), then either the end or an error."""

    def __init__(self, n: int, error: Exception | None = None) -> None:
        super().__init__()
        self.n, self.error, self.index, self.closed = n, error, 0, False
        self._size = (8, 6)

    def read(self):
        if self.index == self.n:
            if self.error is not None:
                raise self.error
            return None
        self.index += 1
        return np.full((6, 8, 3), self.index - 1, np.uint8)

    def close(self) -> None:
        self.closed = True


def test_prefetching_source_keeps_frames_and_order_and_ends():
    from app.capture import PrefetchingSource

    inner = _ScriptedSource(7)
    source = PrefetchingSource(inner)
    assert source.size == (8, 6)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(int(frame[0, 0, 0]))
    assert frames == list(range(7))
    assert source.read() is None  # stays ended
    source.close()
    assert inner.closed


def test_prefetching_source_raises_a_read_error_where_it_happened():
    from app.capture import PrefetchingSource

    source = PrefetchingSource(_ScriptedSource(3, SourceError("camera unplugged")))
    assert [int(source.read()[0, 0, 0]) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(SourceError, match="unplugged"):
        source.read()
    source.close()


def test_prefetching_source_close_stops_an_endless_source():
    from app.capture import PrefetchingSource

    inner = _ScriptedSource(10**9)
    source = PrefetchingSource(inner, depth=1)
    source.read()
    source.close()
    assert inner.closed and not source._thread.is_alive()


# --- inputs named the way users (and attackers) name them (issue 15) ------------------------------
@pytest.mark.parametrize("spec", ["²", "³", "٣", "１", "-²", "2²", "⁴"])
def test_unicode_digits_are_file_names_not_camera_indices(tmp_path, spec):
    # int() takes many of these ("٣" is 3); a camera index is ASCII digits only.
    from app.capture import parse_camera_index

    assert parse_camera_index(spec) is None
    with pytest.raises(SourceError, match="not found"):
        open_source(spec)


@pytest.mark.parametrize("spec", ["99999999999", "256", 256, "9" * 5000, "-99999999999"])
def test_an_impossible_camera_index_is_a_clear_error(spec):
    with pytest.raises(SourceError, match="Camera index .* (out of range|not valid)"):
        open_source(spec)


def test_a_file_named_like_a_negative_number_is_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "v.avi", level_frames(2)).rename(tmp_path / "-1")
    with open_source("-1", loop=False) as source:
        assert isinstance(source, VideoFileSource)


@pytest.mark.parametrize("make, fragment", [
    (lambda d: (d / "clips.mp4").mkdir() or d / "clips.mp4", "is a folder"),
    (lambda d: (d / "photos.png").mkdir() or d / "photos.png", "is a folder"),
    (lambda d: d / ("x" * 300 + ".mp4"), "too long"),
    (lambda d: d / ("x" * 300 + ".jpg"), "too long"),
    (lambda d: ((d / "f").write_text("x"), d / "f" / "clip.mp4")[1], "not found"),
])
def test_each_unreadable_input_says_why(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(SourceError, match=fragment) as raised:
        open_source(str(path))
    assert "\n" not in str(raised.value)


def test_a_folder_without_a_pictures_name_is_not_called_a_video_file(tmp_path):
    (tmp_path / "takes").mkdir()
    with pytest.raises(SourceError, match="it is a folder, not a file") as raised:
        open_source(str(tmp_path / "takes"))
    assert "video file" not in str(raised.value)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_as_input_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        open_source(str(fifo))


@pytest.mark.parametrize("name", ["clip.mp4", "photo.jpg"])
def test_an_unreadable_file_says_permission_denied_not_corrupt(tmp_path, monkeypatch, name):
    # Tests run as root, for whom chmod 000 changes nothing: make the OS say what it says to a user.
    path = tmp_path / name
    if name.endswith(".mp4"):
        write_video(path, level_frames(2))
    else:
        cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    path.chmod(0o000)
    deny_reading(monkeypatch, path)
    with pytest.raises(SourceError, match="permission denied") as raised:
        open_source(str(path))
    assert "corrupt" not in str(raised.value)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.1])
def test_a_truncated_picture_is_named_as_such_without_libjpeg_lines(tmp_path, capfd, cut):
    for suffix in (".jpg", ".png"):
        whole = tmp_path / f"whole{suffix}"
        cv2.imwrite(str(whole), np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        data = whole.read_bytes()
        cut_file = tmp_path / f"cut{suffix}"
        cut_file.write_bytes(data[:int(len(data) * cut)])
        with pytest.raises(SourceError, match="truncated"):
            ImageSource(cut_file)
    # libjpeg prints "Premature end of JPEG file" itself, straight to stderr, when it gets to read one.
    assert capfd.readouterr().err == ""


def test_image_problem_accepts_whole_pictures_of_every_listed_format(tmp_path):
    from app.capture import IMAGE_EXTENSIONS, image_problem

    for suffix in sorted(IMAGE_EXTENSIONS):
        path = tmp_path / f"p{suffix}"
        assert cv2.imwrite(str(path), np.full((9, 7, 3), 99, np.uint8)), suffix
        assert image_problem(path) is None, suffix
        with ImageSource(path) as source:
            assert source.size == (7, 9)
    # A JPEG with an EXIF thumbnail (its own end marker before the picture's) and trailing bytes.
    jpeg = (tmp_path / "p.jpg").read_bytes()
    thumbnail = b"\xff\xe1" + (2 + 10).to_bytes(2, "big") + b"Exif\x00\x00\xff\xd9\x00\x00"
    (tmp_path / "exif.jpg").write_bytes(jpeg[:2] + thumbnail + jpeg[2:] + b"\x00" * 16)
    assert image_problem(tmp_path / "exif.jpg") is None
    (tmp_path / "exif_cut.jpg").write_bytes((jpeg[:2] + thumbnail + jpeg[2:])[:-40])
    assert "truncated" in image_problem(tmp_path / "exif_cut.jpg")


def test_a_damaged_frame_rate_in_a_video_header_falls_back(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.avi", level_frames(2))
    real_capture = cv2.VideoCapture
    for bad in (float("inf"), float("nan"), 0.0, -5.0, 1e308):
        class Capture:  # a wrapper: subclassing OpenCV's class crashes it
            def __init__(self, *args):
                self._capture = real_capture(*args)

            def get(self, prop, bad=bad):
                return bad if prop == cv2.CAP_PROP_FPS else self._capture.get(prop)

            def __getattr__(self, name):
                return getattr(self._capture, name)
        monkeypatch.setattr(cv2, "VideoCapture", Capture)
        with VideoFileSource(path) as source:
            assert source.fps == 30.0


def _declaring_size(tmp_path, suffix: str, width: int, height: int):
    """A small picture whose header declares width x height (as a decompression bomb's does)."""
    ok, encoded = cv2.imencode(suffix, np.full((16, 16, 3), 90, np.uint8))
    data = bytearray(encoded.tobytes())
    if suffix == ".png":
        data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    elif suffix == ".jpg":
        at = data.find(b"\xff\xc0")
        data[at + 5:at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    else:  # .bmp: little-endian width and height at 18 and 22
        data[18:26] = width.to_bytes(4, "little") + height.to_bytes(4, "little")
    path = tmp_path / f"bomb{suffix}"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_picture_over_opencvs_pixel_limit_is_named_too_large_as_source_and_background(tmp_path, suffix):
    from app.compositing import BackgroundError, Compositor

    path = _declaring_size(tmp_path, suffix, 40000, 40000)  # 1.6e9 pixels: OpenCV raises on it
    with pytest.raises(SourceError, match=r"too large \(40000 x 40000 pixels"):
        ImageSource(path)
    with pytest.raises(BackgroundError, match="too large"):
        Compositor().set_image(path)
    assert ImageSource(_declaring_size(tmp_path, suffix, 16, 16)).size == (16, 16)  # the header's own size


def test_a_bmp_over_opencvs_pixel_limit_is_unreadable_not_a_traceback(tmp_path):
    from app.capture import read_picture

    assert read_picture(_declaring_size(tmp_path, ".bmp", 40000, 40000)) == (None, None)
    with pytest.raises(SourceError, match="Cannot read image"):
        ImageSource(_declaring_size(tmp_path, ".bmp", 40000, 40000))


def test_a_floating_point_tiff_is_read_with_its_colours_and_transparency(tmp_path):
    # OpenCV's colour read refuses 32- and 64-bit samples ("can not handle images with 32-bit
    # samples") and the picture was called "unsupported format or corrupt".
    from app.capture import read_picture

    ramp = np.linspace(0.0, 1.0, 48, dtype=np.float32)[None, :].repeat(16, axis=0)
    colour = np.dstack([ramp, 1.0 - ramp, np.full_like(ramp, 0.25)])
    for name, samples, alpha in (("rgb32.tif", colour, None), ("rgb64.tif", colour.astype(np.float64), None),
                                 ("grey32.tif", ramp, None),
                                 ("rgba32.tif", np.dstack([colour, ramp]), ramp)):
        path = tmp_path / name
        assert cv2.imwrite(str(path), samples)
        image, transparency = read_picture(path)
        expected = samples[..., :3] if samples.ndim == 3 else np.dstack([samples] * 3)
        assert image.dtype == np.uint8 and image.shape == (16, 48, 3), name
        assert np.abs(image.astype(np.float32) - expected * 255).max() <= 1.0, name
        if alpha is None:
            assert transparency is None, name
        else:
            assert np.allclose(transparency, alpha, atol=1e-6), name
    hdr = tmp_path / "hdr.tif"  # values past 1 and NaN (an HDR render) are clipped, not wrapped
    assert cv2.imwrite(str(hdr), np.dstack([np.full((4, 4), v, np.float32) for v in (3.0, -1.0, np.nan)]))
    image, _ = read_picture(hdr)
    assert image[0, 0].tolist() == [255, 0, 0]
    with open_source(tmp_path / "rgb32.tif") as source:  # as the camera's stand-in
        assert source.read().shape == (16, 48, 3)
    # The fallback read must not turn "not a picture" into an exception (a saved background that
    # was moved once stopped the window from opening).
    for not_a_picture in (tmp_path / "gone.png", tmp_path, str(tmp_path / "nul\0.png")):
        assert read_picture(not_a_picture) == (None, None)


def test_a_video_named_like_a_picture_opens_as_the_video_it_is(tmp_path):
    from app.capture import is_video_file

    clip = write_video(tmp_path / "clip.mp4", level_frames(3))
    misnamed = tmp_path / "clip.jpg"  # a messenger's download, a rename
    misnamed.write_bytes(clip.read_bytes())
    with open_source(str(misnamed), loop=False) as source:  # was "Cannot read image: unsupported format"
        assert isinstance(source, VideoFileSource) and not source.is_still
        assert sum(1 for _ in iter(lambda: source.read() is not None or None, None)) == 3
    avi = write_video(tmp_path / "clip.avi", level_frames(2))
    assert is_video_file(misnamed) and is_video_file(avi)
    # A HEIF or AVIF photo shares MP4's box but is no video; nor is a real picture, or no file.
    heif = tmp_path / "photo.jpg"
    heif.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(40))
    picture = tmp_path / "real.jpg"
    cv2.imwrite(str(picture), level_frames(1)[0])
    assert not any(is_video_file(p) for p in (heif, picture, tmp_path / "gone.jpg", tmp_path))
    with open_source(str(picture)) as source:
        assert isinstance(source, ImageSource)
    # A HEIF photo by any name is named as one (OpenCV cannot read it), not a "broken video"; an
    # AVIF photo, which OpenCV reads, is opened as the picture it is, also under another name.
    for name in ("photo.heic", "photo.jpg"):
        (tmp_path / name).write_bytes(heif.read_bytes())
        with pytest.raises(SourceError, match="a HEIF/HEIC photo, which PortraitCam cannot read"):
            open_source(str(tmp_path / name))
    assert cv2.imwrite(str(tmp_path / "photo.avif"), level_frames(1)[0])
    (tmp_path / "avif_named.mp4").write_bytes((tmp_path / "photo.avif").read_bytes())
    for name in ("photo.avif", "avif_named.mp4"):
        with open_source(str(tmp_path / name)) as source:
            assert isinstance(source, ImageSource) and source.read().shape == level_frames(1)[0].shape
    # An animated AVIF ("avis") is its first frame (it was "a video with no readable frames").
    animation = cv2.Animation()
    animation.frames = [np.full((30, 40, 4), (level, level, level, 255), np.uint8) for level in (50, 200)]
    animation.durations = [100, 100]
    assert cv2.imwriteanimation(str(tmp_path / "moving.avif"), animation)
    with open_source(str(tmp_path / "moving.avif")) as source:
        assert isinstance(source, ImageSource) and abs(int(source.read()[10, 10, 0]) - 50) < 8


def _animated_webp(path, levels, durations):
    animation = cv2.Animation()
    animation.frames = [np.full((30, 40, 4), (level, level, level, 255), np.uint8) for level in levels]
    animation.durations = durations
    assert cv2.imwriteanimation(str(path), animation)
    return path


def test_an_animated_webp_plays_its_frames_at_their_pace(tmp_path):
    from app.capture import AnimatedPictureSource, is_animated_picture

    webp = _animated_webp(tmp_path / "sticker.webp", [40, 120, 200], [100, 100, 100])
    still = tmp_path / "still.webp"
    cv2.imwrite(str(still), np.full((30, 40, 3), 90, np.uint8))
    assert is_animated_picture(webp) and not is_animated_picture(still) and not is_animated_picture(tmp_path)
    with open_source(str(webp), loop=True) as source:  # was the first frame, still, with no word
        assert isinstance(source, AnimatedPictureSource) and not source.is_still
        assert source.fps == pytest.approx(10.0) and source.size == (40, 30) and source.frame_count == 3
        levels = [int(source.read()[15, 20, 0]) for _ in range(5)]
    assert levels == pytest.approx([40, 120, 200, 40, 120], abs=6)
    with open_source(str(webp), loop=False) as source:
        assert [source.read() is None for _ in range(4)] == [False, False, False, True]
    # One that would not fit in memory plays its first frames, and says so.
    bounded = AnimatedPictureSource(webp, max_bytes=2 * 30 * 40 * 3)
    assert bounded.frame_count == 2 and "first 2 frames" in bounded.header_notes[0]
    broken = tmp_path / "broken.webp"
    broken.write_bytes(webp.read_bytes()[:60])
    assert is_animated_picture(broken)  # its header is whole; its frames are not
    with pytest.raises(SourceError, match="broken.webp"):
        AnimatedPictureSource(broken)


def test_a_picture_is_read_no_larger_than_asked(tmp_path):
    # A background, a thumbnail and a live preview need no more than a few thousand pixels; a JPEG
    # is then decoded at a reduced size by libjpeg itself, anything else scaled after reading.
    rng = np.random.default_rng(1)
    picture = cv2.resize(rng.integers(0, 256, (30, 45, 3), dtype=np.uint8), (1800, 1200), interpolation=cv2.INTER_CUBIC)
    cut_out = np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)])
    cut_out[:, :600, 3] = 0
    cv2.imwrite(str(tmp_path / "photo.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(tmp_path / "cut_out.png"), cut_out)
    for name in ("photo.jpg", "cut_out.png"):
        full, full_alpha = read_picture(tmp_path / name)
        small, small_alpha = read_picture(tmp_path / name, max_side=400)
        assert full.shape == (1200, 1800, 3) and small.shape == (267, 400, 3), name
        expected = cv2.resize(full, (400, 267), interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - expected).mean() < 4, name  # the same picture, smaller
        if full_alpha is not None:
            assert small_alpha.shape == (267, 400) and small_alpha[:, :130].max() == 0 and small_alpha[:, 140:].min() > 0.999
    assert read_picture(tmp_path / "photo.jpg", max_side=4000)[0].shape == (1200, 1800, 3)  # never enlarged
    with ImageSource(tmp_path / "photo.jpg", max_side=900) as source:
        assert source.size == (900, 600)
