# Set-up and everyday commands. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench pretrained general-model general-fast-model clean

install: $(STAMP)

# torch gets a step of its own, pinned to the CPU build, so that the
# package's `torch>=2.2` range installs nothing more (an unpinned torch
# would pull several GB of CUDA packages).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,serve,dev]'
	touch $(STAMP)

demo: install
	$(BIN)/ctcocr demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy src

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/synthetic.py

# The shipped model: the default CAPTCHA style (128x64, length 4-6, digits + upper case),
# trained for PRETRAINED_MINUTES, exported with float16 weights (1.6 MB; float32 arithmetic) and
# verified on 2,000 fresh images against its PyTorch run before it replaces the shipped file.
PRETRAINED_MINUTES ?= 15
PRETRAINED_RUN := runs/pretrained
PRETRAINED := src/ctcocr/models/captcha.onnx

pretrained: install
	rm -rf $(PRETRAINED_RUN) $(PRETRAINED_RUN)-test
	$(BIN)/ctcocr train --synthetic --out $(PRETRAINED_RUN) --max-minutes $(PRETRAINED_MINUTES)
	$(BIN)/ctcocr synth $(PRETRAINED_RUN)-test --count 2000 --seed 424242
	$(BIN)/ctcocr export $(PRETRAINED_RUN) $(PRETRAINED_RUN)/captcha.onnx --quantize fp16
	$(BIN)/ctcocr verify $(PRETRAINED_RUN)/captcha.onnx $(PRETRAINED_RUN)-test
	cp $(PRETRAINED_RUN)/captcha.onnx $(PRETRAINED)

# The general model (what `predict`, `serve` and `Recognizer()` use when no model is named, and
# what `--init general` starts from): every synthesis style (`--style mix`), any CAPTCHA size
# stretched to 160x48, texts of 3-8 characters over digits, a-z, A-Z and + - × = ?, a CNN with
# no BiLSTM (the speed target). GENERAL_MINUTES of training (2 CPU cores: see docs/general-model.md),
# exported as float32: the fastest form `verify` accepts (int8 static lost 0.95 points; int8
# dynamic passed but read 3x slower; see docs/general-model.md), verified on 2,000 fresh mix images, and
# copied with its run folder (for --init) into the package.
GENERAL_MINUTES ?= 90
GENERAL_RUN := runs/general
MIX_FLAGS := --synthetic --style mix --size 160x48 --length 3-8 --model cnn --features 256
GENERAL_FLAGS := $(MIX_FLAGS) --depths 1,1,2,2
GENERAL := src/ctcocr/models

general-model: install
	$(BIN)/python -m pip install --quiet -e '.[fonts]'
	rm -rf $(GENERAL_RUN) $(GENERAL_RUN)-test
	$(BIN)/ctcocr train $(GENERAL_FLAGS) --out $(GENERAL_RUN) --max-minutes $(GENERAL_MINUTES)
	$(BIN)/ctcocr synth $(GENERAL_RUN)-test --style mix --length 3-8 --count 2000 --seed 424243
	$(BIN)/ctcocr export $(GENERAL_RUN) $(GENERAL_RUN)/general.onnx
	$(BIN)/ctcocr verify $(GENERAL_RUN)/general.onnx $(GENERAL_RUN)-test
	mkdir -p $(GENERAL)/general
	cp $(GENERAL_RUN)/config.json $(GENERAL_RUN)/model.safetensors $(GENERAL)/general/
	cp $(GENERAL_RUN)/general.onnx $(GENERAL)/general.onnx

# `general-fast`: the same styles and characters with one convolution per stage (--depths 1,1,1,1, the
# speed target), trained GENERAL_MINUTES from scratch, then FAST_DISTILL_MINUTES more at half
# the learning rate, distilled from the shipped general model (--teacher general: it reads the
# real sets better, and the fast one learns from it some of what synthesis alone did not teach).
# See docs/general-model.md#the-fast-variant.
FAST_DISTILL_MINUTES ?= 45
FAST_RUN := runs/general-fast
FAST_FLAGS := $(MIX_FLAGS) --depths 1,1,1,1

general-fast-model: install
	$(BIN)/python -m pip install --quiet -e '.[fonts]'
	rm -rf $(FAST_RUN) $(FAST_RUN)-scratch $(FAST_RUN)-test
	$(BIN)/ctcocr train $(FAST_FLAGS) --out $(FAST_RUN)-scratch --max-minutes $(GENERAL_MINUTES)
	$(BIN)/ctcocr train $(FAST_FLAGS) --init $(FAST_RUN)-scratch --teacher general --lr 0.001 \
		--out $(FAST_RUN) --max-minutes $(FAST_DISTILL_MINUTES)
	$(BIN)/ctcocr synth $(FAST_RUN)-test --style mix --length 3-8 --count 2000 --seed 424243
	$(BIN)/ctcocr export $(FAST_RUN) $(FAST_RUN)/general-fast.onnx
	$(BIN)/ctcocr verify $(FAST_RUN)/general-fast.onnx $(FAST_RUN)-test
	mkdir -p $(GENERAL)/general-fast
	cp $(FAST_RUN)/config.json $(FAST_RUN)/model.safetensors $(GENERAL)/general-fast/
	cp $(FAST_RUN)/general-fast.onnx $(GENERAL)/general-fast.onnx

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
