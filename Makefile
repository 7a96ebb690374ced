# One entry point for people and CI. Each target sets up .venv itself (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean space-model test-pytorch3d gpu-site

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	# Debian's Chromium for the Space's real-browser test (Playwright drives it; no browser download).
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	touch $(STAMP)

# The main job on the embedded CPU default: a small dataset plus a contact sheet to look at.
demo: $(STAMP)
	$(BIN)/pain3d generate --out outputs/3dpain-demo --identities 8 --expressions 10 --views 3 --size 256 --seed 0 --overwrite
	$(BIN)/pain3d preview --out outputs/contact_sheet.png --identities 4 --seed 0

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) $(P3D_VENV) outputs

# The pytorch3d renderer backend in its own environment (~5 GB, ~2 min to install): torch
# 2.12.1 (CUDA 13 build; it also runs on a machine without a GPU) + easypytorch3d, which loads
# with no other torch. The main .venv keeps the CPU torch. Runs the agreement tests there.
P3D_VENV := .venv-pytorch3d
P3D_STAMP := $(P3D_VENV)/.installed-stamp

$(P3D_STAMP): pyproject.toml Makefile
	test -x $(P3D_VENV)/bin/python || $(PYTHON) -m venv $(P3D_VENV)
	$(P3D_VENV)/bin/python -m pip install -q --upgrade pip
	$(P3D_VENV)/bin/python -m pip install -q -e ".[pytorch3d]" "pytest>=8"
	touch $(P3D_STAMP)

test-pytorch3d: $(P3D_STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(P3D_VENV)/bin/python -m pytest -q -p no:cacheprovider tests_pytorch3d

# The Space's default checkpoint: the project's CPU recipe on generated data (tiny preset at 64 px from
# scratch, as benchmarks/table2.py: higher learning rates, a one-epoch warm-up, no frozen phase), batch
# 16 (from scratch the model needs some thousands of steps before the image counts; random crops,
# --augment, kept it from getting there in 9 epochs), trained on the face crops the Space makes of
# uploads (--face-crop), shipped in spaces/model/ and checked on the Space's own examples. One torch
# thread computes while one loader process decodes: torch's two threads spin against other load.
space-model: $(STAMP)
	$(BIN)/pain3d generate --out outputs/space-data --identities 400 --expressions 6 --views 3 --size 256 --seed 1 --workers 2 --quiet --overwrite
	OMP_NUM_THREADS=1 $(BIN)/python -m vitpain_hf.train --dataset outputs/space-data --modality rgb --preset tiny \
		--image-size 64 --epochs 30 --freeze-epochs 0 --warmup-epochs 1 --lr-backbone 3e-4 --lr-head 1e-3 \
		--batch-size 16 --num-workers 1 --face-crop --seed 1 --output-dir outputs/space-run
	rm -rf spaces/model && cp -r outputs/space-run/best spaces/model
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/test_space_model.py
	$(BIN)/python benchmarks/bench_space.py --model spaces/model --no-http

# pytorch3d for a lent GPU machine (Python 3.12 with its own torch; at most 64 MiB may travel):
# easypytorch3d's cp312 module with its debug info stripped (70 MB wheel -> 44 MB) in .gpu-site/.
# There: PYTHONPATH=.gpu-site python benchmarks/gpu_render_check.py --out $OUT/render
gpu-site:
	rm -rf .gpu-site && mkdir -p .gpu-site/wheel
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .gpu-site/wheel easypytorch3d==0.7.9.post1
	cd .gpu-site && $(PYTHON) -m zipfile -e wheel/easypytorch3d-*.whl . && rm -rf wheel
	strip --strip-debug .gpu-site/pytorch3d/_C*.so
	du -sh .gpu-site
