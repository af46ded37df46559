"""`tfls.training.model_cache`: the model cache's key and where it lives (shared by recipes and audit)."""

from __future__ import annotations

from pathlib import Path

from tfls.training import TrainConfig
from tfls.training import model_cache as cache


def test_config_hash_ignores_where_and_defaults():
    a = TrainConfig("fashion_mnist", "cnn4", label_smoothing=0.9, epochs=2)
    b = TrainConfig(
        "fashion_mnist", "cnn4", label_smoothing=0.9, epochs=2, optimizer="adam", data_dir="/x"
    )
    c = TrainConfig("fashion_mnist", "cnn4", label_smoothing=0.9, epochs=3)
    assert cache.config_hash(a) == cache.config_hash(b) != cache.config_hash(c)


def test_cache_root_is_the_argument_then_the_environment_then_runs_recipes(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.cache_root() == Path("runs") / "recipes"
    monkeypatch.setenv("TFLS_RECIPES_DIR", str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "arg") == tmp_path / "arg"
    config = TrainConfig("fashion_mnist", "cnn4", epochs=1)
    assert cache.run_dir_of(config) == tmp_path / "env" / cache.config_hash(config)


def test_the_recipes_reach_the_one_implementation():
    import tfls.recipes

    assert tfls.recipes.train_or_load is cache.train_or_load
    assert tfls.recipes.config_hash is cache.config_hash
    assert tfls.recipes.cache_root is cache.cache_root
