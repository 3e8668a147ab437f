"""Test doubles for the training loop."""

from __future__ import annotations

from vggdeploy.train import state as train_state


class StopAfter(train_state.StopRequest):
    """A stop request that 'arrives' after ``n`` checks of the flag (one check per step)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self._left = n
        self.signal_name = "SIGINT"

    @property
    def requested(self) -> bool:
        self._left -= 1
        return self._left < 0

    @requested.setter
    def requested(self, value: bool) -> None:
        pass
