"""`tfls.hashing`: every digest the project names folders and fingerprints with keeps its value.

The pinned hex strings were computed with the code before `tfls.hashing` existed (each caller
hashing on its own); the committed `results/` folders are checked against their own contents.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tfls import hashing
from tfls.data import cache as data_cache
from tfls.eval import fingerprint, record_format
from tfls.eval.fingerprint import model_fingerprint

REPO = Path(__file__).resolve().parents[1]


def test_digest_is_sha256_of_canonical_json():
    obj = {"b": [1, 2.5, None], "a": "x"}
    text = json.dumps(obj, sort_keys=True)
    assert hashing.digest(obj) == hashlib.sha256(text.encode()).hexdigest()
    assert hashing.digest(obj, length=8) == hashlib.sha256(text.encode()).hexdigest()[:8]
    assert hashing.digest(obj, algorithm="sha1") == hashlib.sha1(text.encode()).hexdigest()
    assert hashing.digest({"a": "x", "b": [1, 2.5, None]}) == hashing.digest(obj)


def test_digest_chunks_known_answer():
    # FIPS 180-2 test vector.
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hashing.digest_chunks([b"abc"]) == expected
    assert hashing.digest_chunks(["a", b"b", "c"], length=12) == expected[:12]


@pytest.mark.parametrize(
    "kwargs", [{"algorithm": "md5"}, {"length": 0}, {"length": -3}, {"length": 2.0}]
)
def test_bad_arguments_name_the_value(kwargs):
    with pytest.raises(ValueError, match="Received"):
        hashing.digest_chunks([b"x"], **kwargs)


def test_recipe_config_hash_unchanged():
    from tfls.training import TrainConfig
    from tfls.training.model_cache import config_hash

    config = TrainConfig(
        dataset="mnist", model="cnn4", method="natural", label_smoothing=0.1, epochs=2, seed=3
    )
    assert config_hash(config) == "94282cb4e0db7b94"


def test_recipe_eval_folder_digest_unchanged():
    from tfls.recipes.measure import eval_key_digest

    key = {
        "model": "abc",
        "norm": "linf",
        "eps": 0.1,
        "n": 10,
        "attacks": [("pgd20", "pgd", {"steps": 20}, None)],
        "p": Path("/x"),
    }
    assert eval_key_digest(key) == "1d09b776"


def test_data_cache_fingerprint_unchanged():
    assert data_cache.fingerprint("/a/b.npz", 123, 456789) == "21d78646b208d66d"


def test_eval_fingerprint_and_batch_digest_unchanged():
    components = {
        "model": {"class": "M", "params": 3},
        "n": np.int64(5),
        "arr": np.arange(3),
        "path": Path("/tmp"),
    }
    assert (
        fingerprint.fingerprint_digest(components)
        == "77aa52a74db59952b4dbb7f8c55d6dab3e94b4c0f5b27d0d304411063639ba3e"
    )
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 24
    y = np.array([1, 7], dtype=np.int32)
    assert record_format.batch_digest(x, y) == "9e3d94b3200b4ecb0298ddddbcde5566a53b0eda"


def test_model_fingerprint_unchanged():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.set_weights(
        [np.arange(6, dtype=np.float32).reshape(3, 2) / 10, np.array([0.5, -1], np.float32)]
    )
    assert model_fingerprint(model) == {
        "class": "Sequential",
        "params": 8,
        "weights_sha256": "4798cee1f2999e095cc7f24992ddec70901ec61d231ac3b1fb670b71e1ff0de8",
    }


def test_tui_results_key_unchanged():
    from tui.runs import results_key

    key = results_key([("pgd20", {"steps": 30}), ("fgsm", {})], eps=8 / 255, norm="linf", n=500)
    assert key == "pgd20+fgsm_linf_eps0.0313725_n500_3a63ffd2"


# Evaluation stores are run state and are not committed (results/ keeps the reports): these are
# eight of the stores' `fingerprint.json` files, one per recipe, copied when they left results/.
FINGERPRINTS = json.loads(
    (REPO / "tests" / "eval" / "data" / "committed_fingerprints.json").read_text(encoding="utf-8")
)
RESULTS = sorted(REPO.glob("results/*/results.json"))


def test_committed_results_are_found():
    assert FINGERPRINTS and RESULTS


@pytest.mark.parametrize("stored", FINGERPRINTS, ids=lambda s: s["report"])
def test_committed_evaluation_fingerprints_still_match(stored):
    assert fingerprint.fingerprint_digest(stored["components"]) == stored["digest"]
    # The committed report names the same evaluation.
    report = json.loads((REPO / stored["report"]).read_text(encoding="utf-8"))
    assert report["fingerprint"] == stored["digest"]


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_model_hashes_still_match(path):
    from tfls.training import TrainConfig
    from tfls.training.model_cache import config_hash

    models = json.loads(path.read_text()).get("models", {})
    for mid, m in models.items():
        assert config_hash(TrainConfig.from_dict(m["config"])) == m["hash"], mid
