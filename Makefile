# CharLM. `make demo` and `make test` are all a fresh clone needs.
SWIFT        ?= swift
BIN          := .build/release/charlm
CORPUS       := corpora/tinyshakespeare.txt
CORPUS_URL   := https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
CORPUS_SHA256 := 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
DEMO_TIME    ?= 3m
DEMO_OUT     := checkpoints/demo

.PHONY: all build demo test corpora bench bench-kernels bench-compare parity clean help
PYTHON       ?= $(HOME)/torchenv/bin/python

all: build

help:
	@echo "make demo    get tinyshakespeare, build, train an LSTM for $(DEMO_TIME), print perplexity and a sample"
	@echo "make test    build and run every test (release mode)"
	@echo "make build   build the charlm command into $(BIN)"
	@echo "make corpora fetch the corpora (from \$$CORPUS_MIRROR if set)"
	@echo "make bench   training and sampling speed, memory, GEMM kernels"
	@echo "make bench-compare  the same in CharLM and PyTorch, alternating, with ratios (needs torch: PYTHON=...)"
	@echo "make parity  logits, gradients and Adam steps against PyTorch (needs torch: PYTHON=...)"

build:
	$(SWIFT) build -c release --product charlm

corpora: $(CORPUS)

# Copied from $CORPUS_MIRROR when set, otherwise downloaded; either way checked.
$(CORPUS):
	@mkdir -p corpora
	@if [ -n "$(CORPUS_MIRROR)" ]; then \
	  echo "copying tinyshakespeare from $(CORPUS_MIRROR)"; \
	  cp "$(CORPUS_MIRROR)/tinyshakespeare.txt" $@.part; \
	else \
	  echo "downloading tinyshakespeare"; \
	  curl -fsSL "$(CORPUS_URL)" -o $@.part; \
	fi
	@echo "$(CORPUS_SHA256)  $@.part" | sha256sum -c --quiet - \
	  || { rm -f $@.part; echo "checksum mismatch for $@; not using it" >&2; exit 1; }
	@mv $@.part $@

demo: $(CORPUS) build
	$(BIN) train --corpus $(CORPUS) --layers 2 --hidden 128 --batch 50 --window 50 --lr 2e-3 \
	  --time $(DEMO_TIME) --eval-every 200 --out $(DEMO_OUT) --overwrite
	$(BIN) eval --checkpoint $(DEMO_OUT) --corpus $(CORPUS) --split val
	@echo "--- 500 characters at temperature 0.8 ---"
	$(BIN) sample --checkpoint $(DEMO_OUT) --prime "ROMEO:" --length 500 --temperature 0.8 --seed 7

test:
	$(SWIFT) test -c release

bench: $(CORPUS) build
	$(BIN) bench --corpus $(CORPUS)
	$(BIN) bench --kernels

bench-kernels: build
	$(BIN) bench --kernels

# PyTorch runs from a venv outside the repo: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch
bench-compare: $(CORPUS) build
	@$(PYTHON) -c "import torch" 2>/dev/null || { \
	  echo "bench-compare needs PyTorch: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch"; \
	  echo "then: make bench-compare PYTHON=~/torchenv/bin/python"; exit 1; }
	$(PYTHON) bench/compare.py --python $(PYTHON) --charlm $(BIN) --rounds 3

# CharLM against PyTorch on the same weights and windows: logits, gradients, 10 Adam steps.
parity: build
	@$(PYTHON) -c "import torch, safetensors" 2>/dev/null || { \
	  echo "parity needs PyTorch and safetensors: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch safetensors"; \
	  echo "then: make parity PYTHON=~/torchenv/bin/python"; exit 1; }
	$(PYTHON) python/parity.py --charlm $(BIN)

clean:
	rm -rf .build checkpoints/demo
