import numpy as np

from handwriting.charset import Charset
from handwriting.config import PreprocessConfig
from handwriting.data import LineBatches, Sample, check_fit, frames_needed, prepare_lines
from handwriting.groundtruth import scan_line_dirs

from conftest import write_line_dir


def _sample(text, width, h=24):
    return Sample(text, np.full((h, width), 200, np.uint8), text, f"/x/{text}.png")


def test_frames_needed_counts_repeats():
    assert frames_needed([1, 2, 3]) == 3
    assert frames_needed([1, 1, 2, 2, 2]) == 8


def test_check_fit_reports_too_long_labels_by_file():
    cs = Charset(list("abc"))
    good, bad = check_fit(
        [_sample("abc", 40), _sample("aaaaaaaaaa", 40), _sample("abz", 40)], cs, 4
    )
    assert [s.text for s in good] == ["abc"]
    assert "aaaaaaaaaa.png" in str(bad[0].path) and "needs 19 frames" in bad[0].message
    assert "not in the charset" in bad[1].message


def test_batches_are_bucketed_padded_and_labelled():
    cs = Charset(list("abc"))
    samples = [_sample("ab" * (1 + i % 3), 40 + 10 * i) for i in range(10)]
    seq = LineBatches(
        samples, cs, batch_size=4, downsample=4, bucket_width=32, augment=True, seed=1
    )
    assert len(seq) == 3
    seen = 0
    for i in range(len(seq)):
        x, y = seq[i]
        assert x.shape[1] == 24 and x.shape[2] % 32 == 0 and x.shape[3] == 1
        assert x.max() <= 1.0
        for row in y:
            n = int((row[1:] > 0).sum())
            assert row[0] >= frames_needed(list(row[1 : 1 + n]))  # frames fit the label
            assert cs.decode(row[1 : 1 + n]).startswith("ab")
        seen += len(y)
    assert seen == 10
    x1, _ = seq[0]
    assert np.array_equal(x1, seq[0][0])  # deterministic within an epoch
    seq.set_epoch(1)
    seq2 = LineBatches(samples, cs, 4, 4, 32, augment=True, seed=1)
    seq2.set_epoch(1)
    assert np.array_equal(seq[0][0], seq2[0][0])


def test_augment_probability_sets_how_many_lines_are_distorted():
    cs = Charset(list("ab"))
    rng = np.random.default_rng(0)
    samples = [
        Sample(str(i), rng.integers(0, 255, (24, 120), dtype=np.uint8), "ab", "") for i in range(64)
    ]

    def changed(p):
        seq = LineBatches(samples, cs, 64, 4, 32, augment=True, seed=3, augment_p=p)
        x, _ = seq[0]
        order = seq.batches[0]
        return sum(
            not np.array_equal(x[r, :, :120, 0], samples[i].line / np.float32(255))
            for r, i in enumerate(order)
        )

    mild, strong = changed(0.1), changed(1.0)
    assert strong == 64 and 5 <= mild <= 40  # p=0.1: each line kept with chance 0.9**2 * 0.94**4


def test_prepare_lines_with_cache_and_problems(tmp_path):
    d = write_line_dir(tmp_path / "gt", ["12", "345"])
    (d / "bad.png").write_bytes(b"not an image")
    (d / "bad.gt.txt").write_text("7")
    records, problems = scan_line_dirs([d])
    cfg = PreprocessConfig(height=24)
    samples, bad = prepare_lines(
        records, cfg, cache_dir=tmp_path / "cache", progress=False, workers=1
    )
    assert sorted(s.text for s in samples) == ["12", "345"]
    assert len(bad) == 1 and "bad.png" in str(bad[0].path)
    again, bad2 = prepare_lines(
        records, cfg, cache_dir=tmp_path / "cache", progress=False, workers=1
    )
    assert [s.line.tobytes() for s in again] == [s.line.tobytes() for s in samples]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    # a corrected transcription is not hidden by the cache
    label = next(d.glob("*.gt.txt"))
    label.write_text("99")
    records, _ = scan_line_dirs([d])
    fixed, _ = prepare_lines(records, cfg, cache_dir=tmp_path / "cache", progress=False, workers=1)
    assert "99" in {s.text for s in fixed}


def test_prepare_lines_in_worker_threads_matches_one_worker(tmp_path):
    d = write_line_dir(tmp_path / "gt", [str(i) * 3 for i in range(80)])
    records, _ = scan_line_dirs([d])
    cfg = PreprocessConfig(height=24)
    one, _ = prepare_lines(records, cfg, progress=False, workers=1)
    two, _ = prepare_lines(records, cfg, progress=False, workers=2)
    assert [(s.text, s.line.tobytes()) for s in two] == [(s.text, s.line.tobytes()) for s in one]


def test_lines_of_xml_pages_load_each_page_once_in_threads(tmp_path, monkeypatch):
    import cv2

    from handwriting import groundtruth
    from handwriting.document import Page, TextLine

    from conftest import render_line, write_page_xml

    for p in range(3):
        page = np.full((60 * 30, 300), 255, np.uint8)
        lines = []
        for i in range(30):
            line = render_line(str(i))[:60, :300]
            page[60 * i : 60 * i + line.shape[0], : line.shape[1]] = line
            box = np.array(
                [[0, 60 * i], [299, 60 * i], [299, 60 * i + 59], [0, 60 * i + 59]], np.int32
            )
            lines.append(TextLine(f"l{i}", box, None, str(i)))
        cv2.imwrite(str(tmp_path / f"p{p}.png"), page)
        write_page_xml(Page(tmp_path / f"p{p}.png", 300, 1800, lines), tmp_path / f"p{p}.xml")
    records, _ = scan_line_dirs([tmp_path])
    assert len(records) == 90
    loads = []
    real = groundtruth.load_image
    monkeypatch.setattr(groundtruth, "load_image", lambda path: loads.append(path) or real(path))
    groundtruth._page_image.cache_clear()
    samples, bad = prepare_lines(records, PreprocessConfig(height=24), progress=False, workers=2)
    assert len(samples) == 90 and not bad
    assert len(loads) == 3  # one decode per page, however the threads interleave
