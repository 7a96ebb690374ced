"""Importers of other pain datasets into 3DPain's typed ``datasets`` layout.

- ``import_3dpain``: the authors' public 3D-Pain release (``SoroushMehraban/3D-Pain``, folders of
  ``.tar.gz`` shards) -> a Hub-layout folder (Parquet shards + dataset card) with the ``frames``
  schema of ``pain3d_dataset.features``. CLI: ``pain3d import-3dpain SRC --out DIR``.
- ``load_unbc``: a user-supplied copy of the UNBC-McMaster Shoulder Pain archive -> a
  ``DatasetDict`` with the same label fields and the subject-grouped 5-fold split.
"""

from .threedpain import ImportReport, Problem, ReleaseError, assign_splits, import_3dpain, register_cli
from .unbc import UNBCError, load_unbc, subject_groups, unbc_features, unbc_folds

__all__ = [
    "ImportReport",
    "Problem",
    "ReleaseError",
    "UNBCError",
    "assign_splits",
    "import_3dpain",
    "load_unbc",
    "register_cli",
    "subject_groups",
    "unbc_features",
    "unbc_folds",
]
