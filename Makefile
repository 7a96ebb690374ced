# One entry point for people and CI. Each target sets up .venv itself (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean space-model

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
	rm -rf $(VENV) outputs

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
