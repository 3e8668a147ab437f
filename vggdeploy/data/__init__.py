"""Fashion-MNIST loading (validating IDX reader) and the shared preprocessing."""

from vggdeploy.data.fashion_mnist import Split, load_split, locate
from vggdeploy.data.idx import parse_idx, read_idx, write_idx
from vggdeploy.data.preprocess import preprocess

__all__ = ["Split", "load_split", "locate", "parse_idx", "preprocess", "read_idx", "write_idx"]
