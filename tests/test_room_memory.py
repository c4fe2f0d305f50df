"""app/matting.RoomMemory: a video's memory of the room keeps the room out of the outline where the
frame repeats it, and only there."""
import numpy as np
import pytest

from app.imaging import FramePyramid
from app.matting import ROOM_FORGET_FRAMES, RoomMemory

H, W = 180, 320                       # judged at its own size (app/matting.ROOM_ROWS: 180 rows)
PERSON_COLOUR = (40, 90, 200)         # a flat shirt, unlike either room
WEDGE = (slice(60, 120), slice(150, 160))  # room beside the person that the matte will call person
# Its part clear of the person by the memory's working pixel and window
CLEAR = (slice(62, 118), slice(155, 159))


def textured_room(seed: int = 1) -> np.ndarray:
    """A busy pattern (a wallpaper, a bookshelf): texture the memory can recognise."""
    return np.random.default_rng(seed).integers(30, 226, (H, W, 3)).astype(np.uint8)


def flat_room() -> np.ndarray:
    return np.full((H, W, 3), 120, np.uint8)


def frame_with_person(room: np.ndarray, left: int, noise: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The room with a person (a flat block from `left` to left + 60, rows 40 on) and their exact
    alpha (uint8), with a little sensor noise."""
    frame = room.astype(np.int16) + noise.integers(-2, 3, room.shape)
    alpha = np.zeros((H, W), np.uint8)
    alpha[40:, left:left + 60] = 255
    frame[alpha > 0] = PERSON_COLOUR
    return np.clip(frame, 0, 255).astype(np.uint8), alpha


def run(memory: RoomMemory, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return memory.apply(alpha, FramePyramid(frame))


def learn_room(memory: RoomMemory, room: np.ndarray, noise: np.random.Generator, frames: int = 6) -> None:
    """The person stands far to the left for a few frames: the wedge's room is seen."""
    for _ in range(frames):
        run(memory, *frame_with_person(room, 20, noise))


def with_wedge(room: np.ndarray, noise: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The person moved beside the wedge, and the matte wrongly calls the wedge's room person."""
    frame, alpha = frame_with_person(room, 90, noise)
    alpha[WEDGE] = 255
    return frame, alpha


def scaled(frame: np.ndarray, alpha: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """A frame and its alpha `scale` times larger (nearest: each pixel becomes a block)."""
    import cv2

    size = (W * scale, H * scale)
    return cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST), cv2.resize(alpha, size, interpolation=cv2.INTER_NEAREST)


def test_room_seen_before_is_taken_out_of_the_outline_and_the_person_kept():
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    learn_room(memory, room, noise)
    frame, alpha = with_wedge(room, noise)
    out = run(memory, frame, alpha)
    assert out[CLEAR].mean() < 20                   # the wedge of room is gone
    assert (out[45:, 95:145] == 255).all()          # the person, whose colour is not the room's, is whole
    assert (out[alpha == 0] == 0).all()             # and nothing is ever added


def test_a_flat_wall_is_left_to_the_model():
    """A plain wall has no texture to recognise: a shirt of its colour would look like it, so the
    memory says nothing there."""
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = flat_room()
    learn_room(memory, room, noise)
    frame, alpha = with_wedge(room, noise)
    assert np.array_equal(run(memory, frame, alpha), alpha)


def test_room_seen_through_a_gap_deep_inside_the_outline_is_taken_out():
    """The room seen through a gap between arm and head lies deeper inside the matte's outline than
    a wedge beside it: a 20-px gap in the middle of the person, which the matte fills, goes (at the
    band of session 36's 4 or rule 20's 10 working px it stayed; rule 21)."""
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    learn_room(memory, room, noise)
    frame, alpha = frame_with_person(room, 90, noise)  # the person's block, columns 90-149
    gap = (slice(80, 120), slice(110, 130))
    frame[gap] = room[gap]   # the room shows through the gap...
    out = run(memory, frame, alpha)  # ... which the matte calls person
    assert out[84:116, 113:127].mean() < 20
    assert (out[45:, 95:105] == 255).all() and (out[45:, 135:145] == 255).all()  # the person beside it is whole
    assert (out <= alpha).all()


def test_room_never_seen_is_left_to_the_model():
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    frame, alpha = with_wedge(room, noise)
    for _ in range(6):  # the wedge was called person from the start: nothing is known about it
        out = run(memory, frame, alpha)
    assert np.array_equal(out, alpha)


def test_a_changed_picture_is_left_to_the_model():
    """A frame that differs from the remembered room (a shadow falls on it, the camera moved) gives
    no evidence: alpha stays."""
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    learn_room(memory, room, noise)
    shadowed = (room // 2).astype(np.uint8)
    shifted = np.roll(room, 7, axis=1)
    for changed in (shadowed, shifted):
        frame, alpha = with_wedge(changed, noise)
        assert run(memory, frame, alpha)[WEDGE].mean() > 200


def test_the_memory_forgets_what_it_has_not_seen_for_a_while():
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    learn_room(memory, room, noise)
    frame, alpha = frame_with_person(room, 140, noise)  # the person covers the wedge's room
    for _ in range(ROOM_FORGET_FRAMES + 1):
        run(memory, frame, alpha)
    frame, alpha = with_wedge(room, noise)
    assert np.array_equal(run(memory, frame, alpha)[WEDGE], alpha[WEDGE])


def test_reset_forgets_the_room():
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    learn_room(memory, room, noise)
    memory.reset()
    frame, alpha = with_wedge(room, noise)
    assert np.array_equal(run(memory, frame, alpha), alpha)


@pytest.mark.parametrize("scale", [2, 4, 6])
def test_larger_frames_are_judged_at_the_working_size(scale):
    """Larger frames (360 and 720 rows) are compared at their 180-row halving, 1080p's 270-row
    halving scaled to 180 rows too (its cost); the cut applies at the frame's size."""
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()

    for _ in range(6):
        frame, alpha = scaled(*frame_with_person(room, 20, noise), scale)
        memory.apply(alpha, FramePyramid(frame))
    frame, alpha = scaled(*with_wedge(room, noise), scale)
    out = memory.apply(alpha, FramePyramid(frame))
    assert memory._room.shape[:2] == (H, W)
    assert out.shape == alpha.shape
    rows, cols = CLEAR
    inner = out[rows.start * scale:rows.stop * scale, cols.start * scale:cols.stop * scale]
    assert inner.mean() < 20
    assert (out[45 * scale:, 95 * scale:145 * scale] == 255).all()


def test_a_narrow_wedge_of_room_at_720p_is_taken_out():
    """At 720p the memory works at 180 rows (4 frame px a working px): a wedge of room 16 px wide
    beside an arm, four working pixels, is recognised and cut with steps no coarser than that. At
    90 rows (session 36's size) it was two working pixels, under the window, and stayed."""
    scale = 4
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()  # scaled up, each working pixel keeps its own colour
    for _ in range(6):  # the person stands far to the left: the wedge's room is seen
        frame, alpha = scaled(*frame_with_person(room, 20, noise), scale)
        memory.apply(alpha, FramePyramid(frame))
    frame, alpha = scaled(*frame_with_person(room, 90, noise), scale)
    wedge = (slice(60 * scale, 120 * scale), slice(150 * scale, 150 * scale + 16))
    alpha[wedge] = 255
    out = memory.apply(alpha, FramePyramid(frame))
    inner = out[64 * scale:116 * scale, 150 * scale + 6:150 * scale + 14]  # clear of the person's edge
    assert inner.mean() < 20
    assert (out[45 * scale:, 95 * scale:145 * scale] == 255).all()  # the person is whole
    assert (out <= alpha).all()


@pytest.mark.parametrize("case", ["video", "photo", "off"])
def test_the_pipeline_remembers_the_room_for_video_only_when_on(mean_model, case):
    """The finished matte of a camera or video goes through the memory (the app's default); a
    photo's does not (it has no history), nor does any with the setting off, and then the memory is
    emptied, so nothing stale comes back when it is switched on again."""
    import dataclasses

    from app.compositing import Compositor
    from app.matting import MatteRefiner, MatteSettings
    from app.pipeline import Pipeline
    from app.segmentation import Segmenter

    assert MatteSettings().room_memory  # on by default
    pipeline = Pipeline(Segmenter(mean_model, threads=1), MatteRefiner(), Compositor())
    pipeline.still_source = case == "photo"
    if case == "off":
        pipeline.refiner.settings = dataclasses.replace(pipeline.refiner.settings, room_memory=False)
    calls = []
    original = pipeline.room.apply

    def spy(alpha, pyramid):
        out = original(alpha, pyramid)
        calls.append(out)
        return out

    pipeline.room.apply = spy
    pipeline.room._sightings = np.ones((1, 1), np.int32)  # something to forget
    noise = np.random.default_rng(0)
    for left in (20, 40, 60):
        pipeline.process(frame_with_person(textured_room(), left, noise)[0])
    if case == "video":
        assert len(calls) == 3 and np.array_equal(pipeline.last_alpha, calls[-1])
    else:
        assert not calls and pipeline.room._sightings is None


def test_a_piece_of_a_still_person_missed_for_one_frame_is_not_learned_as_room():
    """A speaker sitting still never shows the room behind them again to correct the memory: a piece
    of their patterned shirt that the matte missed in one frame must not be remembered as room, or
    the memory would cut it from the following frames (training.matte_eval --still)."""
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    room = textured_room()
    shirt = textured_room(seed=7)  # the person wears a busy pattern of their own
    def still_frame():
        frame, alpha = frame_with_person(room, 90, noise)
        frame[alpha > 0] = shirt[alpha > 0]
        return frame, alpha
    for _ in range(8):
        run(memory, *still_frame())
    frame, alpha = still_frame()
    missed = alpha.copy()
    missed[60:120, 130:150] = 0  # the matte drops the shirt's right side for one frame
    run(memory, frame, missed)
    for _ in range(5):
        frame, alpha = still_frame()
        assert np.array_equal(run(memory, frame, alpha), alpha)


@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (1, 4), (2, 7), (3, 3), (5, 4), (300, 2), (300, 5)])
def test_a_frame_a_few_pixels_across_passes_through(shape):
    """A source a few pixels across (a hostile or broken stream) must not fail every frame: where
    there is no neighbourhood to compare, the memory says nothing; where there is, it still only
    lowers alpha."""
    noise = np.random.default_rng(0)
    memory = RoomMemory()
    for t in range(8):
        frame = noise.integers(0, 256, shape + (3,), dtype=np.uint8)
        alpha = np.zeros(shape, np.uint8)
        alpha[:, t % shape[1]:] = 255
        out = run(memory, frame, alpha)
        assert out.shape == shape and out.dtype == np.uint8 and (out <= alpha).all()
