import cv2
import numpy as np
import pytest

from app.compositing import BackgroundError, BlendBuffers, Compositor, cover_resize
from conftest import level_frames, write_video

RNG = np.random.default_rng(7)
FRAME = RNG.integers(0, 256, (90, 160, 3), dtype=np.uint8)
ONES = np.ones((90, 160), np.float32)
ZEROS = np.zeros((90, 160), np.float32)


@pytest.fixture
def same_size_background(tmp_path):
    image = RNG.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    path = tmp_path / "same.png"  # PNG: lossless, so the file equals the array
    cv2.imwrite(str(path), image)
    return path, image


def compositors(tmp_path, same_size_background):
    video = write_video(tmp_path / "bg.mp4", level_frames(3, 160, 90))
    made = []
    for configure in (lambda c: c.set_blur(15), lambda c: c.set_color((10, 20, 30)),
                      lambda c: c.set_image(same_size_background[0]), lambda c: c.set_video(video),
                      lambda c: c.set_none()):
        compositor = Compositor()
        configure(compositor)
        made.append(compositor)
    return made


def test_full_foreground_alpha_gives_the_frame_exactly(tmp_path, same_size_background):
    for compositor in compositors(tmp_path, same_size_background):
        out = compositor.composite(FRAME, ONES)
        assert out.dtype == np.uint8 and np.array_equal(out, FRAME), compositor.mode


def test_full_background_alpha_gives_the_image_exactly(same_size_background):
    path, image = same_size_background
    compositor = Compositor()
    compositor.set_image(path)
    assert np.array_equal(compositor.composite(FRAME, ZEROS), image)


def test_colour_mode_is_exact():
    compositor = Compositor()
    compositor.set_color((0, 177, 64))
    out = compositor.composite(FRAME, ZEROS)
    assert np.all(out == np.array([0, 177, 64], np.uint8))
    half = compositor.composite(np.full_like(FRAME, 100), np.full((90, 160), 0.5, np.float32))
    assert np.abs(half.astype(int) - np.array([50, 138, 82])).max() <= 1


@pytest.mark.parametrize("bad", [(0, 0), (0, 0, 256), (-1, 0, 0)])
def test_invalid_colour_is_rejected(bad):
    with pytest.raises(BackgroundError):
        Compositor().set_color(bad)


def test_cover_scaling_keeps_aspect_and_centres():
    background = np.zeros((50, 100, 3), np.uint8)
    background[15:35, 40:60] = 255  # a 20x20 square in the centre
    out = cover_resize(background, 200, 200)  # scale x4 to 400x200, crop 100 px each side
    assert out.shape == (200, 200, 3)
    ys, xs = np.nonzero(out[..., 0] > 127)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert height == pytest.approx(80, abs=2) and width == pytest.approx(80, abs=2)
    assert (ys.min() + ys.max()) / 2 == pytest.approx(99.5, abs=1.5)
    assert (xs.min() + xs.max()) / 2 == pytest.approx(99.5, abs=1.5)


def test_cover_scaling_crops_without_scaling_when_height_matches():
    background = RNG.integers(0, 256, (100, 200, 3), dtype=np.uint8)
    assert np.array_equal(cover_resize(background, 100, 100), background[:, 50:150])


def test_failed_image_keeps_the_last_good_background(tmp_path, same_size_background):
    path, image = same_size_background
    compositor = Compositor()
    compositor.set_image(path)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(BackgroundError, match="corrupt.jpg"):
        compositor.set_image(corrupt)
    with pytest.raises(BackgroundError, match="missing.jpg"):
        compositor.set_image(tmp_path / "missing.jpg")
    with pytest.raises(BackgroundError, match="missing.mp4"):
        compositor.set_video(tmp_path / "missing.mp4")
    assert compositor.mode == "image"
    assert np.array_equal(compositor.composite(FRAME, ZEROS), image)


def test_a_transparent_background_picture_shows_the_blurred_room_never_its_hidden_colours(tmp_path):
    # Left half transparent over magenta (what an editor may leave there), right half an opaque blue.
    picture = np.zeros((60, 80, 4), np.uint8)
    picture[..., :3] = (255, 0, 255)
    picture[:, 40:] = (200, 120, 40, 255)
    path = tmp_path / "frame_overlay.png"
    cv2.imwrite(str(path), picture)
    room = np.full((60, 80, 3), 90, np.uint8)
    compositor = Compositor()
    compositor.set_image(path)
    out = compositor.composite(room, np.zeros((60, 80), np.float32))
    assert np.abs(out[:, :30].astype(int) - 90).max() <= 1  # the (blurred, even) room shows through
    assert np.abs(out[:, 50:].astype(int) - (200, 120, 40)).max() <= 1  # the opaque picture
    # An opaque picture is as it was: no room in it.
    opaque = tmp_path / "opaque.png"
    cv2.imwrite(str(opaque), picture[..., :3])
    compositor.set_image(opaque)
    assert np.array_equal(compositor.composite(room, np.zeros((60, 80), np.float32)), picture[..., :3])


def test_video_background_loops(tmp_path):
    compositor = Compositor()
    compositor.set_video(write_video(tmp_path / "bg.mp4", level_frames(3, 160, 90), fps=15.0))
    compositor.output_fps = 15.0  # a frame of the video for each frame written
    levels = [compositor.composite(FRAME, ZEROS).mean() for _ in range(5)]
    assert levels == pytest.approx([20, 40, 60, 20, 40], abs=6)
    compositor.close()


def test_blur_changes_only_the_background():
    compositor = Compositor()
    compositor.set_blur(20)
    alpha = ZEROS.copy()
    alpha[:, :80] = 1.0
    out = compositor.composite(FRAME, alpha)
    assert np.array_equal(out[:, :80], FRAME[:, :80])
    # Blurred noise has far less local contrast than the noise itself.
    assert np.abs(np.diff(out[:, 90:].astype(int), axis=1)).mean() < \
        np.abs(np.diff(FRAME[:, 90:].astype(int), axis=1)).mean() / 4
    compositor.set_blur(0)
    assert np.array_equal(compositor.composite(FRAME, ZEROS), FRAME)


def test_mirror_flips_the_output():
    compositor = Compositor()
    compositor.set_color((255, 255, 255))
    alpha = ZEROS.copy()
    alpha[:, :40] = 1.0
    straight = compositor.composite(FRAME, alpha)
    compositor.mirror = True
    assert np.array_equal(compositor.composite(FRAME, alpha), straight[:, ::-1])
    compositor.set_none()
    assert np.array_equal(compositor.composite(FRAME, alpha), FRAME[:, ::-1])


def test_none_mode_passes_the_frame_through():
    compositor = Compositor()
    assert np.array_equal(compositor.composite(FRAME, ZEROS), FRAME)


def test_alpha_must_match_the_frame():
    with pytest.raises(ValueError):
        Compositor().composite(FRAME, np.ones((10, 10), np.float32))


def test_blur_strength_is_clamped_to_the_slider_range():
    from app.compositing import BLUR_MAX

    compositor = Compositor()
    compositor.set_blur(1e6)
    assert compositor.blur_strength == BLUR_MAX
    compositor.set_blur(float("nan"))
    assert 0.0 <= compositor.blur_strength <= BLUR_MAX


def exact_alpha_scene(size=(180, 320)):
    """A known person colour F (skin-like with texture), the old room B (a white door) and a soft,
    hair-like alpha: the camera sees I = a*F + (1 - a)*B."""
    height, width = size
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:height, 0:width]
    fg = np.dstack([70 + 10 * np.sin(xx / 7.0), 100 + 10 * np.cos(yy / 5.0), 170 + 0 * xx]).astype(np.float32)
    fg += rng.normal(0, 3, fg.shape).astype(np.float32)
    room = np.full((height, width, 3), 235.0, np.float32)
    distance = np.hypot(yy - height * 0.8, xx - width / 2) - height * 0.5
    strands = 6.0 * (1 + np.sin(np.arctan2(yy - height * 0.8, xx - width / 2) * 40))  # hair-like wisps
    alpha = np.clip(0.5 - (distance - strands) / 12.0, 0.0, 1.0).astype(np.float32)
    frame = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * room + 0.5, 0, 255).astype(np.uint8)
    return frame, fg, alpha


def test_foreground_estimation_removes_the_old_room_from_the_edge():
    """Re-background error on an exact-alpha composite: the new background behind the known F and
    alpha is the truth; blending the camera pixel keeps (1 - a) of the white room (the fringe)."""
    frame, fg, alpha = exact_alpha_scene()
    alpha_u8 = (alpha * 255 + 0.5).astype(np.uint8)
    exact = alpha_u8.astype(np.float32)[..., None] / 255
    green = np.array([0, 177, 64], np.float32)
    truth = exact * fg + (1 - exact) * green
    band = (alpha_u8 > 0) & (alpha_u8 < 255)
    errors = {}
    for estimate in (False, True):
        compositor = Compositor()
        compositor.set_color((0, 177, 64))
        compositor.estimate_foreground = estimate
        out = compositor.composite(frame, alpha_u8).astype(np.float32)
        errors[estimate] = np.abs(out - truth)[band].mean()
        # Outside the edge nothing changes: the person's own pixels and the background are exact.
        assert np.array_equal(out[alpha_u8 == 255], frame[alpha_u8 == 255].astype(np.float32))
        assert np.all(out[alpha_u8 == 0] == green)
    assert errors[False] > 15  # the white room rides along the edge (20 levels on average)
    assert errors[True] < errors[False] / 3


def test_foreground_estimation_keeps_a_plain_picture_unchanged():
    compositor = Compositor()
    compositor.set_color((0, 177, 64))
    frame = np.full((90, 160, 3), 100, np.uint8)
    alpha = np.full((90, 160), 128, np.uint8)
    assert np.abs(compositor.composite(frame, alpha).astype(int) - [50, 139, 82]).max() <= 1


def test_an_unchanged_picture_reuses_the_blurred_room_and_edge_layers_only_when_told():
    frame, _, alpha = exact_alpha_scene()
    alpha_u8 = (alpha * 255 + 0.5).astype(np.uint8)
    brighter = cv2.add(frame, 40)
    blur = Compositor()
    blur.set_blur(10)
    first = blur.background_for(frame, alpha_u8).copy()
    assert np.array_equal(blur.background_for(brighter, alpha_u8, unchanged=True), first)
    assert not np.array_equal(blur.background_for(brighter, alpha_u8), first)
    blur.set_blur(20)  # a new strength is never "unchanged"
    assert not np.array_equal(blur.background_for(frame, alpha_u8, unchanged=True), first)
    blur.set_blur(0)  # no blur: the background is this frame's room, never the last one's
    blur.background_for(frame, alpha_u8)
    assert np.array_equal(blur.background_for(brighter, alpha_u8, unchanged=True), brighter)
    # Foreground estimation: the edge's colour means are reused, the edge pixels are this frame's.
    colour = Compositor()
    colour.set_color((0, 177, 64))
    colour.composite(frame, alpha_u8)
    reused = colour.composite(brighter, alpha_u8, unchanged=True)
    fresh = Compositor()
    fresh.set_color((0, 177, 64))
    band = (alpha_u8 > 4) & (alpha_u8 < 251)
    assert np.array_equal(reused[alpha_u8 == 255], brighter[alpha_u8 == 255])
    assert not np.array_equal(reused[band], fresh.composite(brighter, alpha_u8)[band])
    assert np.array_equal(colour.composite(brighter, alpha_u8)[band], fresh.composite(brighter, alpha_u8)[band])


@pytest.mark.parametrize("source_size, output_size", [
    ((2, 4000), (640, 360)), ((1, 4000), (1280, 720)), ((4000, 1), (1280, 720)), ((4000, 3), (640, 360)),
    ((1, 1), (1920, 1080)), ((20000, 300), (1280, 720)),
])
def test_cover_resize_memory_is_bounded_by_the_output_size(monkeypatch, source_size, output_size):
    # Extreme strips behind a normal video: the old code scaled the whole strip first (2x4000 behind
    # 640x360: 2.5 GB; 1x4000 behind 720p: 19.7 GB). No picture bigger than a few outputs may be made.
    src_w, src_h = source_size
    width, height = output_size
    rows = np.linspace(0, 255, src_h, dtype=np.float32).astype(np.uint8)   # colour encodes the row
    cols = np.linspace(0, 255, src_w, dtype=np.float32).astype(np.uint8)   # ... and the column
    image = np.dstack([np.repeat(rows[:, None], src_w, 1), np.repeat(cols[None, :], src_h, 0),
                       np.full((src_h, src_w), 7, np.uint8)])
    real_resize = cv2.resize
    largest = []

    def bounded_resize(src, dsize, *args, **kwargs):
        largest.append(max(dsize[0] * dsize[1], src.shape[0] * src.shape[1]))
        assert dsize[0] * dsize[1] <= 4 * width * height, f"resize to {dsize} for a {output_size} output"
        return real_resize(src, dsize, *args, **kwargs)
    monkeypatch.setattr(cv2, "resize", bounded_resize)
    out = cover_resize(image, width, height)
    assert out.shape == (height, width, 3) and out.flags.c_contiguous
    # The middle of the source is in the middle of the output, whatever was cropped away.
    def at_middle(values):  # the source's value at its centre (between two pixels when even)
        return float(np.interp((len(values) - 1) / 2, np.arange(len(values)), values.astype(float)))
    centre = out[height // 2, width // 2].astype(float)
    assert centre[0] == pytest.approx(at_middle(rows), abs=3)
    assert centre[1] == pytest.approx(at_middle(cols), abs=3)
    assert np.all(out[..., 2] == 7)


def test_a_frame_pyramid_makes_each_halving_once_and_gives_reduce_by_power_of_two():
    from app.imaging import FramePyramid, reduce_by_power_of_two
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (181, 323, 3), dtype=np.uint8)  # odd sides: the last row/column drops
    pyramid = FramePyramid(image)
    for min_h, min_w in [(40, 1), (90, 160), (1, 1), (181, 1), (100, 1), (45, 81)]:
        shared = pyramid.reduce(min_h, min_w)
        assert np.array_equal(shared, reduce_by_power_of_two(image, min_h, min_w))
        assert pyramid.reduce(min_h, min_w) is shared  # made once, then handed out again
    assert reduce_by_power_of_two(image, 40, 1, pyramid) is pyramid.reduce(40)


@pytest.mark.parametrize("mode", ["blur", "color"])
def test_composite_with_the_frames_pyramid_is_the_composite_without_it(mode):
    from app.imaging import FramePyramid
    frame, _, alpha = exact_alpha_scene((360, 640))  # 640 wide: the blur and the edge means halve it
    compositor = Compositor()
    compositor.set_blur(21) if mode == "blur" else compositor.set_color((255, 0, 255))
    plain = compositor.composite(frame, alpha)
    assert np.array_equal(compositor.composite(frame, alpha, pyramid=FramePyramid(frame)), plain)
    # Another picture's pyramid (as a mirrored or reframed frame would have) is not used.
    other = FramePyramid(np.zeros_like(frame))
    assert np.array_equal(compositor.composite(frame, alpha, pyramid=other), plain)


def test_a_blend_with_the_same_layers_equals_a_fresh_blend_frame_after_frame():
    """Frames with the same matte and room reuse the blend's room share (a still speaker); the output
    is still exactly the whole-frame blend of this frame, frame after frame, a new array each time,
    for a soft edge, a matte soft everywhere, nobody in the picture and a hard cut-out."""
    rng = np.random.default_rng(3)
    room = rng.integers(0, 256, (90, 160, 3), np.uint8)
    compact = np.zeros((90, 160), np.float32)
    cv2.circle(compact, (80, 70), 40, 1.0, -1)
    compact = cv2.GaussianBlur(compact, (0, 0), 2)
    soft_everywhere = np.clip(rng.random((90, 160)), 0.01, 0.99).astype(np.float32)
    nobody, hard = np.zeros((90, 160), np.float32), (compact > 0.5).astype(np.float32)  # no soft edge at all
    for alpha in (compact, soft_everywhere, nobody, hard):
        alpha_u8 = (alpha * 255 + 0.5).astype(np.uint8)
        buffers = BlendBuffers()
        outputs = []
        for index in range(4):
            frame = rng.integers(0, 256, (90, 160, 3), np.uint8)
            output = buffers.blend(frame, room, alpha_u8, same_layers=index > 0)
            assert np.array_equal(output, BlendBuffers().blend(frame, room, alpha_u8))
            outputs.append((output, output.copy()))
        assert all(np.array_equal(output, kept) for output, kept in outputs)  # none reused as scratch
    # A new matte after reused ones: its own share, not the old one
    moved = np.ascontiguousarray((compact[:, ::-1] * 255 + 0.5).astype(np.uint8))
    buffers.blend(frame, room, moved)
    assert np.array_equal(buffers.blend(frame, room, moved, same_layers=True), BlendBuffers().blend(frame, room, moved))
    assert np.array_equal(buffers.blend(frame, room, moved, same_layers=True), BlendBuffers().blend(frame, room, moved))


def test_an_unchanged_frame_reuses_the_blends_background_share_only_when_it_is_the_same():
    """With the matte and the background layer those of the frame before (unchanged), the blend reuses
    its background share: the output equals a fresh blend of this frame; a new colour, a mirror
    toggle or a frame that the effects stage blended in between are never served the old share."""
    frame, _, alpha = exact_alpha_scene()
    alpha_u8 = (alpha * 255 + 0.5).astype(np.uint8)
    brighter = cv2.add(frame, 40)

    def compositor(setup, mirror=False):
        c = Compositor()
        c.estimate_foreground = False
        c.mirror = mirror
        setup(c)
        return c

    green = lambda c: c.set_color((0, 177, 64))  # noqa: E731
    reused = compositor(green)
    reused.composite(frame, alpha_u8)
    assert np.array_equal(reused.composite(brighter, alpha_u8, unchanged=True),
                          compositor(green).composite(brighter, alpha_u8))
    # Blur: the reused room is the first frame's; the person's share is this frame's.
    blurred = compositor(lambda c: c.set_blur(10))
    blurred.composite(frame, alpha_u8)
    room = compositor(lambda c: c.set_blur(10)).background_for(frame, alpha_u8).copy()
    assert np.array_equal(blurred.composite(brighter, alpha_u8, unchanged=True),
                          BlendBuffers().blend(brighter, room, alpha_u8))
    # A new colour, then a mirror toggle, each with the matte "unchanged"
    reused.set_color((200, 0, 0))
    assert np.array_equal(reused.composite(brighter, alpha_u8, unchanged=True),
                          compositor(lambda c: c.set_color((200, 0, 0))).composite(brighter, alpha_u8))
    reused.mirror = True
    assert np.array_equal(reused.composite(brighter, alpha_u8, unchanged=True),
                          compositor(lambda c: c.set_color((200, 0, 0)), mirror=True).composite(brighter, alpha_u8))
    # The effects stage blends with its own buffers after background_for: the next frame's blend here
    # must not take the share of the last frame blended here (another matte).
    reused.mirror = False
    reused.composite(brighter, alpha_u8)
    other = np.ascontiguousarray(alpha_u8[:, ::-1])
    reused.background_for(brighter, other)  # a frame composited by the effects stage
    assert np.array_equal(reused.composite(brighter, other, unchanged=True),
                          compositor(lambda c: c.set_color((200, 0, 0))).composite(brighter, other))
    # A frame with no background ("none") while the matte changed, then the colour again, unchanged
    reused.composite(brighter, alpha_u8)
    reused.set_none()
    reused.composite(brighter, other)
    reused.set_color((200, 0, 0))
    assert np.array_equal(reused.composite(brighter, other, unchanged=True),
                          compositor(lambda c: c.set_color((200, 0, 0))).composite(brighter, other))


def test_a_truncated_jpeg_background_is_refused_not_half_decoded(tmp_path, capfd):
    import cv2

    ok, data = cv2.imencode(".jpg", RNG.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    half = tmp_path / "half.jpg"
    half.write_bytes(data.tobytes()[: len(data) // 2])
    compositor = Compositor()
    with pytest.raises(BackgroundError, match="half.jpg: truncated"):  # was a grey lower half, no word
        compositor.set_image(half)
    with pytest.raises(BackgroundError, match="folder"):
        compositor.set_image(tmp_path)
    assert "Premature end" not in capfd.readouterr().err


def test_a_background_named_by_an_address_is_shown_as_written_and_a_file_link_opens(tmp_path):
    for setter, kind, address in ((Compositor.set_image, "image", "http://host/wall.jpg"),
                                  (Compositor.set_video, "video", "https://host/loop.mp4")):
        with pytest.raises(BackgroundError, match=f"Cannot load background {kind}: ") as raised:
            setter(Compositor(), address)
        # Named as written (a Path folds it into "http:/host/wall.jpg") and called what it is.
        assert f"{address} is a network address" in str(raised.value)
    wall = tmp_path / "my wall.png"
    cv2.imwrite(str(wall), np.full((30, 40, 3), (10, 200, 30), np.uint8))
    compositor = Compositor()
    compositor.set_image(wall.as_uri())  # file:///.../my%20wall.png, as a file manager drags it in
    assert compositor.mode == "image"
    with pytest.raises(BackgroundError, match="not found"):
        compositor.set_image((tmp_path / "gone.png").as_uri())


def _background_levels(compositor, outputs, clock=None):
    """The background video's frame index (from its grey level) behind each of `outputs` frames."""
    frame = np.zeros((60, 80, 3), np.uint8)
    alpha = np.zeros((60, 80), np.float32)
    levels = []
    for n in range(outputs):
        if clock is not None:
            clock(n)
        levels.append(round((float(compositor.composite(frame, alpha)[30, 40, 0]) - 20) / 20))
    return levels


@pytest.mark.parametrize("video_fps, output_fps, expected", [
    (10.0, 30.0, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]),  # was 0, 1, 2, ...: three times too fast
    (30.0, 30.0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]),
    (20.0, 10.0, [0, 2, 4, 6, 8, 0, 2, 4, 6, 8, 0, 2]),  # every other frame, looping after 10
])
def test_a_background_video_plays_at_its_own_rate_in_a_file(tmp_path, video_fps, output_fps, expected):
    video = write_video(tmp_path / "loop.avi", level_frames(10, 80, 60), fps=video_fps)
    compositor = Compositor()
    compositor.set_video(video)
    compositor.output_fps = output_fps
    assert _background_levels(compositor, 12) == expected


def test_a_background_video_follows_the_clock_live_and_skips_a_stall(tmp_path, monkeypatch):
    import app.compositing

    video = write_video(tmp_path / "loop.avi", level_frames(10, 80, 60), fps=10.0)
    compositor = Compositor()
    compositor.set_video(video)
    now = [100.0]
    monkeypatch.setattr(app.compositing.time, "monotonic", lambda: now[0])

    def at(times):
        return lambda n: now.__setitem__(0, 100.0 + times[n])

    # A camera at 25 FPS: 0.04 s a frame.
    assert _background_levels(compositor, 6, at([0, 0.04, 0.08, 0.12, 0.16, 0.2])) == [0, 0, 0, 1, 1, 2]
    # The window froze for 30 s: the video goes on from where it was, one frame on, without decoding
    # the 300 frames it missed in one go.
    reads = []
    original_read = compositor._video.read
    monkeypatch.setattr(compositor._video, "read", lambda: reads.append(1) or original_read())
    assert _background_levels(compositor, 3, at([30.2, 30.3, 30.4])) == [3, 4, 5]
    assert len(reads) == 3


def test_a_video_chosen_as_a_picture_plays_as_a_video(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", level_frames(3, 160, 90), fps=15.0)
    misnamed = tmp_path / "beach.jpg"
    misnamed.write_bytes(clip.read_bytes())
    compositor = Compositor()
    compositor.output_fps = 15.0
    compositor.set_image(misnamed)  # was "Cannot load background image ...: unsupported format or corrupt"
    assert compositor.mode == "video"
    levels = [compositor.composite(FRAME, ZEROS).mean() for _ in range(3)]
    assert levels == pytest.approx([20, 40, 60], abs=6)
    compositor.close()


def test_an_animated_webp_background_plays(tmp_path):
    animation = cv2.Animation()
    animation.frames = [np.full((90, 160, 4), (v, v, v, 255), np.uint8) for v in (20, 40, 60)]
    animation.durations = [200, 200, 200]  # 5 frames a second
    assert cv2.imwriteanimation(str(tmp_path / "loop.webp"), animation)
    compositor = Compositor()
    compositor.output_fps = 10.0
    compositor.set_image(tmp_path / "loop.webp")  # was its first frame, still
    assert compositor.mode == "video"
    levels = [compositor.composite(FRAME, ZEROS).mean() for _ in range(7)]
    assert levels == pytest.approx([20, 20, 40, 40, 60, 60, 20], abs=6)


def test_a_still_pictures_edge_colour_comes_from_finer_means():
    # A photo's edge layers are made once: blur-fusion's means at up to 512 rows, not 64 (90 at 720p),
    # where a person's fine pattern at the edge (12-px stripes) was averaged into the room's colour.
    from app.compositing import PHOTO_FOREGROUND_WORK_HEIGHT, edge_layers, foreground_at
    h, w = 720, 1280
    ys_all, xs_all = np.mgrid[0:h, 0:w]
    person = np.empty((h, w, 3), np.float32)
    person[:] = (40, 60, 200)
    person[(xs_all // 12) % 2 == 1] = (220, 200, 60)
    room = np.empty((h, w, 3), np.float32)
    room[:] = (250, 250, 250)
    room[(ys_all // 40) % 2 == 1] = (30, 120, 30)
    alpha = np.zeros((h, w), np.uint8)
    cv2.circle(alpha, (640, 720), 420, 255, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 4)
    a = alpha.astype(np.float32)[..., None] / 255
    frame = np.clip(person * a + room * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    green = np.float32((0, 177, 64))
    errors = {}
    for still in (False, True):
        (ys, xs), means = edge_layers(frame, alpha, None, still)
        colour, edge_alpha = foreground_at(frame, alpha, ys, xs, means)
        truth = person[ys, xs] * edge_alpha + green * (1 - edge_alpha)
        errors[still] = float(np.abs(colour * edge_alpha + green * (1 - edge_alpha) - truth).mean())
        assert means[0].shape[0] == (h if still else h // 8)  # 720 rows need no halving under 512
    assert PHOTO_FOREGROUND_WORK_HEIGHT == 512
    assert errors[True] < 0.9 * errors[False], errors
