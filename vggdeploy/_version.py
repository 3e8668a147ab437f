"""The package version: one home, imported by every module that records it (no import of the
package root, so nothing below the CLI depends on ``vggdeploy/__init__``)."""

__version__ = "0.1.0"
