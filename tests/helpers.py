"""Assertions and fixtures' builders shared by the CLI, writer and model tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pain3d.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


def run(argv, capsys) -> tuple[int, str, str]:
    """``main(argv)`` in-process -> (exit status, stdout, stderr); argparse exits count too."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def tree(root: Path, skip=()) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too): relative path -> bytes, minus ``skip``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() not in skip
    }


def assert_same_tree(a: Path, b: Path, skip=()) -> None:
    ta, tb = tree(a, skip), tree(b, skip)
    assert sorted(ta) == sorted(tb)
    differ = [k for k in ta if ta[k] != tb[k]]
    assert not differ, f"files differ: {differ[:5]}"


def assert_one_error_line(err: str) -> None:
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("pain3d: error: "), err


def tiny_vitpain(path: Path, seed: int = 0, **config) -> Path:
    """A saved random ViTPainModel (32x32 input, hidden 32, 2 layers; the class the trainer saves) with its
    image processor; its PSPI logits are spread (last layer x50) so the classes' scores differ clearly."""
    import torch
    from transformers import ViTConfig

    from vitpain_hf import ViTPainConfig, ViTPainModel, make_image_processor

    backbone = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                         image_size=32, patch_size=8)
    torch.manual_seed(seed)
    model = ViTPainModel(ViTPainConfig(backbone_config=backbone, **config))
    with torch.no_grad():
        model.pspi_head[-1].weight.mul_(50)
    model.save_pretrained(path)
    make_image_processor(model.config).save_pretrained(path)
    return path


def run_without_vitpain_hf(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Runs the Python `body` in a fresh interpreter where vitpain_hf cannot be imported (it is installed
    editable in this venv: an import hook hides it), as on a machine with only transformers, so a saved
    folder must bring its own code (trust_remote_code). Offline; its own modules cache under tmp_path."""
    script = textwrap.dedent(f"""
        import sys

        class _Block:
            @staticmethod
            def find_spec(name, path=None, target=None):
                if name == "vitpain_hf" or name.startswith("vitpain_hf."):
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, _Block)
        sys.path = [p for p in sys.path if p not in ("", {str(REPO_ROOT)!r})]
        try:
            import vitpain_hf  # noqa: F401
            raise SystemExit("vitpain_hf is importable")
        except ModuleNotFoundError:
            pass
        """) + textwrap.dedent(body) + textwrap.dedent("""
        assert not any(m.startswith("vitpain_hf") for m in sys.modules)
        """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
