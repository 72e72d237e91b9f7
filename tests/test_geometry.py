"""Line geometry made consistent for validators: word boxes apart, line polygons that are
valid and hold their baselines and words (``handwriting.geometry``)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon, box

from handwriting.document import TextLine, Word
from handwriting.geometry import WORD_GAP, outline, separate_words, settle_line


def holds(poly: np.ndarray, shapes) -> bool:
    p = Polygon(poly)
    return p.is_valid and all(p.buffer(1.0).contains(s) for s in shapes)


def test_touching_and_overlapping_words_are_set_apart():
    words = [
        Word("a", (10, 5, 50, 30)),
        Word("b", (50, 6, 90, 31)),  # touches a
        Word("c", (80, 5, 130, 30)),  # overlaps b by 10
        Word("d", (135, 5, 170, 30)),  # apart already
    ]
    out = separate_words(words)
    for a, b in zip(out, out[1:]):
        assert b.box[0] - a.box[2] >= WORD_GAP, (a, b)
    assert out[3] == words[3] and out[0].box[0] == 10 and out[2].box[2] == 130
    assert [w.text for w in out] == list("abcd") and all(w.box[2] > w.box[0] for w in out)
    # a one-pixel word inside its neighbour keeps a pixel; the neighbour gives way
    a, b = separate_words([Word("x", (0, 0, 40, 9)), Word("y", (20, 0, 21, 9))])
    assert b.box[2] - b.box[0] == 1 and a.box[2] <= b.box[0] - WORD_GAP


def test_a_good_polygon_is_kept_as_it_is():
    poly = np.array([[10, 10], [200, 10], [200, 60], [10, 60]], np.int32)
    out = outline(poly, np.array([[15, 50], [195, 50]]), [(20, 20, 80, 55)], 300, 100)
    assert np.array_equal(out, poly)


def test_words_and_baseline_outside_the_polygon_are_taken_in():
    poly = np.array([[10, 20], [200, 20], [200, 40], [10, 40]])
    baseline = np.array([[5, 45], [210, 45]])
    words = [(12, 10, 60, 48), (70, 22, 120, 38)]
    out = outline(poly, baseline, words, 300, 100)
    assert holds(out, [Polygon(poly), LineString(baseline), *(box(*w) for w in words)])


def test_a_self_crossing_polygon_becomes_a_simple_one():
    bow_tie = np.array([[0, 0], [100, 40], [100, 0], [0, 40]])
    assert not Polygon(bow_tie).is_valid
    out = outline(bow_tie, None, [], 200, 100)
    halves = [Polygon([(0, 0), (50, 20), (0, 40)]), Polygon([(100, 0), (100, 40), (50, 20)])]
    assert holds(out, halves)


def test_pieces_that_do_not_meet_are_joined_and_kept_in_the_image():
    poly = np.array([[0, 0], [50, 0], [50, 20], [0, 20]])
    words = [(120, 0, 160, 20)]  # far to the right of the polygon
    out = outline(poly, None, words, 160, 20)
    assert holds(out, [box(0, 0, 50, 20), box(*words[0])])
    assert out.min() >= 0 and out[:, 0].max() <= 160 and out[:, 1].max() <= 20


def test_settle_line_clips_and_separates_words():
    line = TextLine(
        "l1",
        np.array([[0, 10], [100, 10], [100, 30], [0, 30]]),
        np.array([[0, 28], [120, 28]]),
        "ab cd",
        0.9,
        [Word("ab", (-5, 5, 50, 33), 0.9), Word("cd", (50, 5, 130, 33), 0.8)],
    )
    settle_line(line, 110, 40)
    (a, b) = line.words
    # within the polygon's box (and the image), then apart
    assert a.box[:2] == (0, 10) and b.box[2:] == (100, 30) and b.box[0] - a.box[2] >= WORD_GAP
    assert line.baseline[:, 0].max() == 110
    assert holds(line.polygon, [LineString(line.baseline), box(*a.box), box(*b.box)])


@settings(max_examples=200, deadline=None)
@given(
    pts=st.lists(st.tuples(st.integers(-20, 220), st.integers(-20, 120)), min_size=0, max_size=12),
    words=st.lists(
        st.tuples(st.integers(0, 190), st.integers(0, 90), st.integers(1, 60), st.integers(1, 40)),
        max_size=5,
    ),
    with_baseline=st.booleans(),
)
def test_outline_is_always_valid_and_holds_what_it_must(pts, words, with_baseline):
    """Whatever the polygon (degenerate, crossing, outside the image), the outline is a
    valid polygon inside the 200 x 100 image holding the word boxes and the baseline."""
    if not pts and not words:
        return
    boxes = [(x, y, min(200, x + w), min(100, y + h)) for x, y, w, h in words]
    baseline = np.array([[5, 80], [150, 70]]) if with_baseline else None
    out = outline(np.array(pts, np.int64).reshape(-1, 2), baseline, boxes, 200, 100)
    assert out.ndim == 2 and out.shape[1] == 2 and len(out) >= 3
    assert out.min() >= 0 and out[:, 0].max() <= 200 and out[:, 1].max() <= 100
    must = [box(*b) for b in boxes] + ([LineString(baseline)] if with_baseline else [])
    assert holds(out, must), (pts, boxes)
