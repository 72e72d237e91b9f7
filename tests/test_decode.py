"""Decoder tests on hand-written probability matrices (no model needed)."""

import numpy as np
import pytest

from handwriting.charset import Charset
from handwriting.decode import beam_decode, decode, greedy_decode
from handwriting.metrics import cer, wer
from handwriting.preprocessing import bucket


def onehot(seq, n_classes=4, p=0.9):
    m = np.full((len(seq), n_classes), (1 - p) / (n_classes - 1))
    for t, k in enumerate(seq):
        m[t, k] = p
    return m


def test_greedy_merges_repeats_and_drops_blanks():
    d = greedy_decode(onehot([1, 1, 0, 1, 2, 2, 0, 0, 3]))
    assert d.labels == [1, 1, 2, 3]
    assert d.positions == [0, 3, 4, 8]
    assert d.char_confidences == pytest.approx([0.9] * 4)
    assert d.confidence == pytest.approx(0.9)


def test_greedy_respects_length():
    assert greedy_decode(onehot([1, 0, 2, 3]), length=2).labels == [1]


def test_char_confidence_is_peak_of_run():
    m = onehot([1, 1, 0])
    m[1] = [0.1, 0.8, 0.05, 0.05]
    m[0] = [0.3, 0.6, 0.05, 0.05]
    d = greedy_decode(m)
    assert d.labels == [1] and d.char_confidences == pytest.approx([0.8]) and d.positions == [1]


def test_beam_finds_more_probable_labelling_than_best_path():
    # best path is blank,blank (-> ""), but "a" has total probability 0.64 > 0.36
    m = np.array([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(m).labels == []
    d = beam_decode(m, beam_width=4)
    assert d.labels == [1]
    assert len(d.char_confidences) == 1


def test_beam_equals_greedy_on_peaked_matrix():
    m = onehot([1, 0, 1, 2, 2, 0, 3, 3], p=0.97)
    assert beam_decode(m, 8).labels == greedy_decode(m).labels == [1, 1, 2, 3]


def test_decode_batch_to_text_and_dict():
    cs = Charset(list("abc"))
    probs = np.stack([onehot([1, 0, 2, 3]), onehot([3, 3, 0, 0])])
    preds = decode(probs, [4, 4], cs)
    assert [p.text for p in preds] == ["abc", "c"]
    d = preds[0].to_dict()
    assert d["text"] == "abc" and [c["char"] for c in d["chars"]] == list("abc")
    assert [p.text for p in decode(probs, [4, 4], cs, beam=5)] == ["abc", "c"]


def test_empty_line_confidence_is_blank_probability():
    d = greedy_decode(onehot([0, 0], n_classes=3, p=0.8))
    assert d.labels == [] and d.confidence == pytest.approx(0.8)


def test_cer_wer():
    assert cer(["abcd"], ["abxd"]) == pytest.approx(25.0)
    assert cer(["ab", "cd"], ["ab", ""]) == pytest.approx(50.0)
    assert wer(["the cat sat"], ["the hat sat"]) == pytest.approx(100 / 3)
    assert cer([""], [""]) == 0.0


def test_bucket_widths():
    assert bucket(1) == 64 and bucket(64) == 64 and bucket(65) == 128
    assert bucket(1000) >= 1000 and bucket(1000) % 64 == 0
    assert len({bucket(w) for w in range(513, 3000)}) < 25


def test_word_spans_from_peaks():
    from handwriting.decode import Prediction, word_spans

    pred = Prediction("ab  cd", 0.7, [0.9, 0.7, 0.5, 0.5, 0.6, 0.4], [2, 5, 8, 9, 12, 20])
    spans = word_spans(pred)
    assert [s.text for s in spans] == ["ab", "cd"]
    assert (spans[0].first, spans[0].last) == (2.5, 5.5)
    assert (spans[1].first, spans[1].last) == (12.5, 20.5)
    assert spans[0].confidence == pytest.approx(0.8) and spans[1].confidence == pytest.approx(0.5)
    assert word_spans(Prediction("ab", 0.5)) == []  # no peak positions: nothing to place
    assert word_spans(Prediction("", 0.9, [], [])) == []


def test_confusions_count_substitutions_deletions_insertions():
    from handwriting.metrics import confusions

    got = confusions(["abc", "xy", "rn", "rn"], ["abd", "x", "m", "rnn"])
    assert {(c["truth"], c["prediction"]): c["count"] for c in got} == {
        ("c", "d"): 1,
        ("y", ""): 1,
        ("r", "m"): 1,
        ("n", ""): 1,
        ("", "n"): 1,
    }
    assert sum(c["count"] for c in got) == round(
        cer(["abc", "xy", "rn", "rn"], ["abd", "x", "m", "rnn"]) * 9 / 100
    )
    assert confusions(["a"] * 3 + ["b"], ["x"] * 3 + ["y"], top=1) == [
        {"truth": "a", "prediction": "x", "count": 3}
    ]


def test_a_line_reads_the_same_alone_or_with_others():
    """The model sees the padding (its backward LSTM starts there), so each line is padded to
    its own width bucket whatever it is batched with: the reading cannot depend on the batch."""
    from handwriting.decode import predict_lines

    charset = Charset(list("abc"))
    seen = []

    def predict(x):  # every frame "reads" the character named by the padded width
        seen.append(x.shape)
        probs = np.full((x.shape[0], x.shape[2] // 4, 4), 0.01, np.float32)
        probs[:, ::2, 1 + (x.shape[2] // 64) % 3] = 0.97
        probs[:, 1::2, 0] = 0.97
        return probs

    lines = [np.ones((8, w), np.float32) for w in (40, 600, 100, 70)]
    alone = [predict_lines(predict, [l], charset, 4)[0].text for l in lines]
    together = [p.text for p in predict_lines(predict, lines, charset, 4, batch_size=16)]
    assert together == alone and len(set(alone)) > 1
    assert all(w == bucket(w) for _, _, w, _ in seen)
    assert [p.text for p in predict_lines(predict, lines, charset, 4, batch_size=1)] == alone
