import pytest

from tfls.bench import memory as bench_memory


@pytest.mark.slow
def test_peak_memory_is_flat_from_1000_to_10000_images(capsys):
    bench_memory.main(["--sizes", "1000,10000"])
    out = capsys.readouterr().out
    growth = float(out.rsplit("images:", 1)[1].split("MB")[0])
    # 9,000 more 32x32x3 images are 110 MB of pixels; a streaming evaluator holds none of them.
    assert growth < 30, out
