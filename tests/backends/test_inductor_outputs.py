"""AOTInductor build: the output folder is checked before the compile, the library's own
deprecation noise is hidden (and nothing else), and each stage is reported."""

from __future__ import annotations

import warnings

import pytest

from vggdeploy.backends import inductor
from vggdeploy.errors import OutputError


def test_unwritable_output_is_refused_before_exporting(tiny_run, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(
        torch.export, "export", lambda *a, **k: pytest.fail("compiled before the check")
    )
    (tmp_path / "f").write_text("a file")
    with pytest.raises(OutputError, match="package folder") as info:
        inductor.build_inductor(tiny_run, tmp_path / "f" / "m.pt2")
    assert info.value.exit_code == 8


def test_only_the_known_library_warnings_are_hidden():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with inductor._quiet_library_warnings():
            warnings.warn(
                "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, "
                "TreeSpec) and treespec.is_leaf()` instead.",
                FutureWarning,
                stacklevel=1,
            )
            warnings.warn("something the user should see", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["something the user should see"]


def test_build_reports_each_stage_and_no_future_warning(tiny_run, tmp_path, monkeypatch):
    """The stages are logged before the (slow) steps run; export and compile are stubbed here to
    keep the test fast, and made to emit the library warning the real ones emit."""
    import torch

    def fake_export(*a, **k):
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, stacklevel=1)
        return object()

    def fake_compile(program, package_path, inductor_configs):
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, stacklevel=1)
        package_path.write(b"PK not really a package")

    monkeypatch.setattr(torch.export, "export", fake_export)
    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", fake_compile)
    lines: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        inductor.build_inductor(tiny_run, tmp_path / "m.pt2", max_batch=8, log=lines.append)
    assert not [w for w in seen if issubclass(w.category, FutureWarning)]
    assert lines[0].startswith("exporting") and lines[1].startswith("compiling")
    assert "package" in lines[-1] and (tmp_path / "m.pt2").is_file()
