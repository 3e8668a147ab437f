"""One error hierarchy; each class maps to a documented process exit code.

The CLI catches :class:`VggDeployError` and exits with ``exc.exit_code`` after printing the
message (no traceback unless ``--debug``). Library users catch the same classes.

Exit codes (also in README):

====  =========================  ==================================================
code  class                      meaning
====  =========================  ==================================================
1     VggDeployError             unexpected failure inside vggdeploy
2     UsageError                 bad argument or option value (click uses 2 as well)
3     DataError                  dataset missing, corrupt or inconsistent
4     ArtifactError              checkpoint / ONNX / engine / sidecar missing, corrupt or mismatched
5     MissingDependencyError     an optional package is not installed
6     BackendUnavailableError    the hardware/runtime a backend needs is absent (no CUDA GPU)
7     VerificationError          a numerical check (parity, accuracy) failed its tolerance
8     OutputError                an output location cannot be written
====  =========================  ==================================================
"""

from __future__ import annotations


class VggDeployError(Exception):
    """Base class of every error vggdeploy raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(VggDeployError, ValueError):
    exit_code = 2


class DataError(VggDeployError):
    exit_code = 3


class ArtifactError(VggDeployError):
    exit_code = 4


class MissingDependencyError(VggDeployError, ImportError):
    exit_code = 5


class BackendUnavailableError(VggDeployError):
    exit_code = 6


class VerificationError(VggDeployError):
    exit_code = 7


class OutputError(VggDeployError, OSError):
    exit_code = 8


EXIT_CODES: dict[int, str] = {
    cls.exit_code: cls.__name__
    for cls in (
        VggDeployError,
        UsageError,
        DataError,
        ArtifactError,
        MissingDependencyError,
        BackendUnavailableError,
        VerificationError,
        OutputError,
    )
}


# ---- specific cases (each keeps its parent's exit code) -----------------------------------------
class RunLockedError(OutputError):
    """Another vggdeploy process is writing the same run folder (see vggdeploy.runlock)."""


class RunExistsError(UsageError):
    """``train --out DIR`` names a folder that already holds a run (use --resume or --force)."""


class TrainingDivergedError(VerificationError):
    """The training loss or the weights became NaN/inf; nothing non-finite was saved."""
