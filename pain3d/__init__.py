"""The ``pain3d`` command: the top layer, composing generation, pain3d_dataset and vitpain_hf.

Imports run one way, generation <- pain3d_dataset <- vitpain_hf <- this package (and the Space);
no library imports from here. ``python -m pain3d ...`` is the same as the ``pain3d`` script.
"""
