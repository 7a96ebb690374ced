"""``pain3d push DIR REPO_ID``: upload a verified Hub-layout folder as a dataset repository.

The folder already is a valid dataset repository (card + ``data/<config>/<split>-*.parquet``),
so pushing is ``HfApi().create_repo(repo_type="dataset", exist_ok=True)`` and ``upload_folder``;
the run bookkeeping under ``.pain3d/`` stays local. Nothing is uploaded unless
``pain3d_dataset.verify.verify`` finds no problem.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from .verify import verify

IGNORE = [".pain3d/**", "data/.pieces/**", "**/.*.tmp"]


class PushError(ValueError):
    """The folder or repository id cannot be pushed (a one-line CLI error)."""


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise PushError(f"repository id {repo_id!r} must look like user/name (or org/name)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise PushError(f"repository id {repo_id!r} is not valid: {str(e).splitlines()[0]}") from None
    return repo_id


def push(folder: Path, repo_id: str, private: bool = False, token: str | None = None, sample: int | None = 64,
         commit_message: str | None = None) -> str:
    """Verify ``folder`` (decoding ``sample`` images per config and split), then create the
    dataset repo if needed and upload the folder; returns the repository URL."""
    folder = Path(folder)
    check_repo_id(repo_id)
    if not folder.is_dir():
        raise PushError(f"{folder}: no such folder")
    report = verify(folder, sample=sample)
    if not report.ok:
        raise PushError(
            f"{folder} fails verification ({len(report.problems)} problem(s), first: {report.problems[0]}); "
            f"run pain3d verify {folder}"
        )
    api = HfApi(token=token)
    repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        ignore_patterns=IGNORE,
        commit_message=commit_message or "Upload 3DPain dataset (pain3d)",
    )
    return str(getattr(repo, "url", None) or f"https://huggingface.co/datasets/{repo_id}")
