"""What tfls knows of each dataset: name, classes, image shape (no data, no heavy imports)."""

from __future__ import annotations

import dataclasses

from tfls._validation import check_choice

SPLITS = ("train", "test")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

# CIFAR-100 fine labels, in the order of `meta["fine_label_names"]` of the python release.
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup",
    "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house",
    "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man",
    "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid",
    "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy",
    "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
    "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman",
    "worm",
)  # fmt: skip

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

MNIST_CLASSES = tuple(str(i) for i in range(10))


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset.

    Args:
        name: the normalised dataset spec: a built-in name such as `"cifar10"`,
            `"tfds:NAME[:config]"`, or the absolute path of a folder, archive or array file.
        num_classes: number of classes; labels are `0 .. num_classes - 1`.
        input_shape: `(height, width, channels)` of one image; height and width are None when
            the native sizes vary (see `tfls.data.info`).
        class_names: human-readable name of each label index, in label order.
        split_sizes: number of examples in each split, where known.
    """

    name: str
    num_classes: int
    input_shape: tuple[int | None, int | None, int]
    class_names: tuple[str, ...]
    split_sizes: tuple[tuple[str, int], ...] = ()

    @property
    def is_cifar(self) -> bool:
        return self.name.startswith("cifar")


_INFOS = {
    "mnist": DatasetInfo(
        "mnist", 10, (28, 28, 1), MNIST_CLASSES, (("train", 60000), ("test", 10000))
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", 10, (28, 28, 1), FASHION_MNIST_CLASSES, (("train", 60000), ("test", 10000))
    ),
    "cifar10": DatasetInfo(
        "cifar10", 10, (32, 32, 3), CIFAR10_CLASSES, (("train", 50000), ("test", 10000))
    ),
    "cifar100": DatasetInfo(
        "cifar100", 100, (32, 32, 3), CIFAR100_CLASSES, (("train", 50000), ("test", 10000))
    ),
}

NAMES = tuple(_INFOS)

assert len(CIFAR100_CLASSES) == 100 and len(set(CIFAR100_CLASSES)) == 100


def info(name: str) -> DatasetInfo:
    """Returns the `DatasetInfo` of dataset `name` (one of `tfls.data.NAMES`).

    Example:
        >>> tfls.data.info("cifar10").input_shape
        (32, 32, 3)
    """
    return _INFOS[check_choice(name, NAMES, name="dataset")]


def check_split(split: str) -> str:
    return check_choice(split, SPLITS, name="split")
