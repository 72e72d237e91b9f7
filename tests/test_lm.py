"""Character language model: estimates, file round trip, and its pull in beam search."""

import gzip
import json
import math
import re

import numpy as np
import pytest

from handwriting.cli import main
from handwriting.decode import beam_decode, greedy_decode
from handwriting.errors import ArtifactError, DataError, HandwritingError
from handwriting.lm import EOS, CharLM, Fusion, read_texts

from conftest import write_line_dir

TEXTS = ["the seeds arrived", "the seeds were sown", "many thanks", "Kew, 1847"]


def test_probabilities_sum_to_one_after_any_history():
    lm = CharLM.train(TEXTS, order=4)
    vocab = sorted(set("".join(TEXTS))) + [EOS]
    for history in ("", "the s", "seed", "zzz", "Kew, 18"):
        total = sum(math.exp(lm.logp(history, c)) for c in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), history
    # what the text says is likely is likely
    assert lm.logp("the se", "e") > math.log(0.5) > lm.logp("the se", "x")
    assert lm.perplexity(["the seeds"]) < lm.perplexity(["xqz vvk"])


def test_save_load_round_trip_and_bad_files(tmp_path):
    lm = CharLM.train(TEXTS, order=5)
    path = lm.save(tmp_path / "m.lm.json.gz")
    back = CharLM.load(path)
    assert back.order == 5
    for h, c in (("the ", "s"), ("", "K"), ("thanks", EOS)):
        assert back.logp(h, c) == lm.logp(h, c)
    with pytest.raises(ArtifactError, match="not found"):
        CharLM.load(tmp_path / "none.gz")
    (tmp_path / "junk.gz").write_bytes(b"junk")
    with pytest.raises(ArtifactError, match="not a language model"):
        CharLM.load(tmp_path / "junk.gz")
    old = tmp_path / "old.gz"
    old.write_bytes(
        gzip.compress(
            json.dumps(
                {"kind": "handwriting character LM", "format_version": 99, "order": 2, "counts": {}}
            ).encode()
        )
    )
    with pytest.raises(ArtifactError, match="rebuild it"):
        CharLM.load(old)


def test_lm_tips_an_ambiguous_character():
    """The model hesitates between 'b' and 'd' after 'a'; the LM has only seen 'ab'."""
    chars = ["a", "b", "d"]
    probs = np.array(
        [
            [0.05, 0.9, 0.025, 0.025],  # a
            [0.9, 0.04, 0.03, 0.03],  # blank
            [0.1, 0.0, 0.4, 0.5],  # b or d?
            [0.9, 0.04, 0.03, 0.03],
        ]
    )
    assert greedy_decode(probs).labels == [1, 3]
    assert beam_decode(probs, 5).labels == [1, 3]
    fusion = Fusion(CharLM.train(["ab", "ab", "ba"], order=3), chars, weight=1.0, bonus=0.0)
    assert beam_decode(probs, 5, fusion=fusion).labels == [1, 2]


def test_read_texts_from_files_and_ground_truth(tmp_path):
    gt = write_line_dir(tmp_path / "gt", ["12", "345"])
    text = tmp_path / "corpus.txt"
    text.write_text("first line\n\n  second  line \n", encoding="utf-8")
    assert sorted(read_texts([gt, text])) == ["12", "345", "first line", "second line"]
    with pytest.raises(DataError, match="not found"):
        read_texts([tmp_path / "nope.txt"])
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(DataError, match="no text"):
        read_texts([tmp_path / "empty.txt"])


def test_cli_builds_and_uses_a_language_model(model_dir, tmp_path, capsys):
    gt = write_line_dir(tmp_path / "gt", ["12 34", "567", "89"])
    out = tmp_path / "digits.lm.json.gz"
    assert main(["lm", str(gt), "--out", str(out), "--order", "3", "--val", str(gt)]) == 0
    printed = capsys.readouterr().out
    assert "order 3 from 3 lines" in printed and CharLM.load(out).order == 3
    assert (
        f"on 3 held-out lines: {CharLM.load(out).perplexity(['12 34', '567', '89']):.2f}" in printed
    )
    assert (
        main(
            [
                "evaluate",
                str(gt),
                "--model",
                str(model_dir),
                "--lm",
                str(out),
                "--json",
                "--lm-weight",
                "0.4",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["overall"]["lines"] == 3
    assert result["decoding"] == {
        "model": str(model_dir),
        "backend": "keras",
        "beam": 10,
        "lm": str(out),
        "lm_weight": 0.4,
        "lm_bonus": 1.0,
    }
    assert (
        main(["evaluate", str(gt), "--model", str(model_dir), "--lm", str(out), "--beam", "4"]) == 0
    )
    assert f"decoding: beam 4 with {out} (weight 0.3, bonus 1.0)" in capsys.readouterr().out
    assert (
        main(
            [
                "recognize",
                str(gt / "l0000.png"),
                "--model",
                str(model_dir),
                "--lm",
                str(tmp_path / "missing.gz"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "language model not found" in err and "Traceback" not in err


def test_cli_lm_model_means_the_model_s_own_lm(model_dir, tmp_path, capsys):
    """`--lm model` reads <model dir>/lm.json.gz (also for a .tflite inside it); a model
    without one gets a one-line error, exit code 2."""
    import shutil

    from handwriting.lm import MODEL_LM, load_fusion

    gt = write_line_dir(tmp_path / "gt", ["12 34", "567"])
    args = ["evaluate", str(gt), "--lm", "model", "--json"]
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    assert main(args + ["--model", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "this model has no language model (lm.json.gz)" in err and "Traceback" not in err
    CharLM.train(["12 34", "567"], order=3).save(bare / MODEL_LM)
    assert main(args + ["--model", str(bare)]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["lines"] == 2
    (bare / "m.tflite").write_bytes(b"")  # only its folder matters here
    fusion, beam = load_fusion("model", ["1", "2"], model=bare / "m.tflite")
    assert fusion.lm.order == 3 and beam == 10


def test_wordfreq_texts_are_seeded_and_written_like_text():
    pytest.importorskip("wordfreq", reason="wordfreq not installed (pip install wordfreq)")
    from handwriting.lm import wordfreq_texts

    texts = wordfreq_texts(["en", "fr"], lines=400, words=5000, seed=1)
    assert texts == wordfreq_texts(["en", "fr"], lines=400, words=5000, seed=1)
    assert texts != wordfreq_texts(["en", "fr"], lines=400, words=5000, seed=2)
    words = " ".join(texts).split()
    assert 400 * 3 <= len(words) <= 400 * 11
    joined = "\n".join(texts)
    assert re.search(r"\bI\b", joined) and not re.search(r"\bi'(m|ll|ve|d)\b", joined)  # "I'm"
    assert re.search(r"\b[lL]'[aeiouhéèêâ]", joined)  # French elision before a vowel: "l'homme"
    assert not re.search(r"\b[lLdDjJ]' ", joined)  # never cut off: "l' homme"
    assert not re.search(r"\b[lL]'[bcdfgjkmnpqrstvwxz]", joined)  # "le chat", not "l'chat"
    assert any(c in ",.;:!?" for c in "".join(texts)) and any(w[0].isupper() for w in words)
    with pytest.raises(HandwritingError, match="no word list for 'xx'"):
        wordfreq_texts(["xx"], lines=1)


def test_cli_lm_needs_something_to_count(capsys):
    assert main(["lm", "--out", "x.lm.json.gz"]) == 2
    assert "--wordfreq" in capsys.readouterr().err


def test_fusion_weight_recorded_in_the_lm_unless_overridden(tmp_path):
    from handwriting.lm import BONUS, WEIGHT, load_fusion

    path = tmp_path / "w.lm.json.gz"
    CharLM.train(TEXTS, order=3).save(path)
    fusion, _ = load_fusion(path, list("abc"))
    assert (fusion.weight, fusion.bonus) == (WEIGHT, BONUS)  # none recorded
    lm = CharLM.train(TEXTS, order=3)
    lm.weight, lm.bonus = 0.15, 0.5
    lm.save(path)
    fusion, _ = load_fusion(path, list("abc"))
    assert (fusion.weight, fusion.bonus) == (0.15, 0.5)
    fusion, _ = load_fusion(path, list("abc"), weight=0.7, bonus=2.0)
    assert (fusion.weight, fusion.bonus) == (0.7, 2.0)
    direct = Fusion(CharLM.load(path), list("abc"))  # built directly: the same defaults
    assert (direct.weight, direct.bonus) == (0.15, 0.5)
    assert Fusion(CharLM.load(path), list("abc"), weight=0.0).weight == 0.0


def test_lm_model_needs_a_model_and_a_file_named_model_is_still_a_file(tmp_path, monkeypatch):
    from handwriting.lm import load_fusion

    with pytest.raises(ArtifactError, match="--lm model needs a model"):
        load_fusion("model", list("abc"))
    monkeypatch.chdir(tmp_path)
    CharLM.train(TEXTS, order=2).save(tmp_path / "model")
    fusion, _ = load_fusion(tmp_path / "model", list("abc"))  # a Path: the file
    assert fusion.lm.order == 2
    fusion, _ = load_fusion("./model", list("abc"))
    assert fusion.lm.order == 2


def test_min_count_prunes_rare_long_ngrams_only(capsys):
    full = CharLM.train(TEXTS, order=4)
    pruned = CharLM.train(TEXTS, order=4, min_count=2)
    assert pruned.counts[""] == full.counts[""]  # single characters all kept
    assert all(pruned.counts[h] == full.counts[h] for h in full.counts if len(h) == 1)
    assert full.counts["Kew"] == {",": 1} and "Kew" not in pruned.counts  # seen once: gone
    assert pruned.counts["the"] == {" ": 2}  # "the " twice: kept
    kept = sum(map(len, pruned.counts.values()))
    assert kept < sum(map(len, full.counts.values()))
    for history in ("", "the", "Kew", "xyz"):  # still a distribution after any history
        total = sum(math.exp(pruned.logp(history, c)) for c in set("".join(TEXTS)) | {EOS})
        assert total == pytest.approx(1.0)
    assert main(["lm", "--wordfreq", "en", "--min-count", "0", "--out", "x.lm.json.gz"]) == 2
    assert "--min-count must be >= 1" in capsys.readouterr().err
    assert main(["lm", "--wordfreq", "en", "--seed", "-1", "--out", "x.lm.json.gz"]) == 2
    assert "--seed must be 0..4294967295, got -1" in capsys.readouterr().err


def test_wordfreq_missing_is_one_clear_line(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "wordfreq", None)  # as if not installed
    assert main(["lm", "--wordfreq", "en", "--out", "x.lm.json.gz"]) == 2
    err = capsys.readouterr().err
    assert "needs the wordfreq package: pip install wordfreq" in err and "Traceback" not in err


def test_fusion_state_is_the_last_characters_and_scores_them():
    lm = CharLM.train(TEXTS, order=4)
    text = "the seeds were sown"
    chars = sorted(set(text))
    fusion = Fusion(lm, chars, weight=0.5, bonus=1.0)
    state = fusion.start()
    for i, c in enumerate(text):
        score, state = fusion.extend(state, chars.index(c) + 1)
        assert score == pytest.approx(0.5 * lm.logp(text[max(0, i - 3) : i], c) + 1.0)
        assert state == text[max(0, i - 2) : i + 1]  # the LM's three characters of context
    assert fusion.end(state) == pytest.approx(0.5 * lm.logp("own", EOS))


def test_a_character_the_lm_never_saw_scores_as_uniform_and_the_history_moves_on():
    """Markup or '&' unknown to the LM gets no penalty beyond the LM's uniform prior (its
    counts would make it near impossible); the next character is scored after it."""
    lm = CharLM.train(TEXTS, order=4)
    chars = sorted(set("".join(TEXTS))) + ["&"]
    fusion = Fusion(lm, chars, weight=0.5, bonus=1.0)
    amp = chars.index("&") + 1
    score, state = fusion.extend("the", amp)
    assert score == pytest.approx(0.5 * math.log(lm._uniform) + 1.0)
    assert 0.5 * lm.logp("the", "&") + 1.0 < score  # what the counts alone would give
    assert state == "he&"
    score, state = fusion.extend(state, chars.index("s") + 1)
    assert score == pytest.approx(0.5 * lm.logp("he&", "s") + 1.0)
    assert state == "e&s"


def test_typographic_apostrophes_and_quotes_count_as_plain_ones():
    lm = CharLM.train(["l’arbre", "«oui»"], order=3)
    assert "’" not in lm.counts[""] and "'" in lm.counts[""] and '"' in lm.counts[""]
    assert lm.perplexity(["l’arbre"]) == lm.perplexity(["l'arbre"])
    chars = ["'", "’", "a", "l"]
    fusion = Fusion(lm, chars, weight=1.0, bonus=0.0)
    assert fusion.extend("l", 1) == fusion.extend("l", 2) == (lm.logp("l", "'"), "l'")


@pytest.mark.parametrize(
    "body",
    [
        {"order": 2},
        {"order": "six", "counts": {}},
        {"order": 2, "counts": []},
        {"order": 2, "counts": {"": 5}},
    ],
)
def test_a_damaged_lm_file_is_one_clear_error(tmp_path, body):
    path = tmp_path / "bad.lm.json.gz"
    path.write_bytes(
        gzip.compress(
            json.dumps({"kind": "handwriting character LM", "format_version": 1, **body}).encode()
        )
    )
    with pytest.raises(ArtifactError, match="damaged language model"):
        CharLM.load(path)
