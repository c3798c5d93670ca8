# CharLM. `make demo` and `make test` are all a fresh clone needs.
SWIFT        ?= swift
BIN          := .build/release/charlm
CORPUS       := corpora/tinyshakespeare.txt
CORPUS_URL   := https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
CORPUS_SHA256 := 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
SHERLOCK     := corpora/sherlock.txt
SHERLOCK_URL := https://raw.githubusercontent.com/nikhilbarhate99/Char-RNN-PyTorch/master/data/sherlock.txt
SHERLOCK_SHA256 := dc830e0866bd57bc42d8b3b76fc9616aa5fc2dce11b7decb2d2169d82c03d99f
CMUDICT      := corpora/cmudict.dict
CMUDICT_URL  := https://raw.githubusercontent.com/cmusphinx/cmudict/master/cmudict.dict
CMUDICT_SHA256 := 81917843c7f44ce2b094ac63873c2c7a4cf802040792c455ba3ca406891c3d22
DEMO_TIME    ?= 3m
DEMO_OUT     := checkpoints/demo

.PHONY: bptt-windows g2p g2p-peer bench-seq2seq context-mini all build demo context-demo test fuzz fuzz-cli stress bench-contention corpora bench bench-kernels bench-compare parity clean help
PYTHON       ?= $(HOME)/torchenv/bin/python

all: build

help:
	@echo "make demo    get tinyshakespeare, build, train for $(DEMO_TIME) with the recipe for that budget, print perplexity and a sample"
	@echo "make context-demo  the 'I live in Gujarat … I know ___' probe: RNN, GRU and LSTM in four stages, ~12 minutes"
	@echo "make context-mini  the same on gaps up to 100, a first look in ~2 minutes"
	@echo "make bptt-windows  truncated BPTT shown: an LSTM with windows of 25, 50, 100, probed by gap (~6 minutes)"
	@echo "make test    build and run every test (release mode)"
	@echo "make fuzz    1,000,000 damaged checkpoints and 50,000 states through the loader (FUZZ_CASES=, FUZZ_SEED=)"
	@echo "make fuzz-cli  2,400 hostile invocations of every command, counted by class (FUZZ_CLI_CASES=, FUZZ_SEED=)"
	@echo "make stress  kill -9 training 20+ times, resume each time, compare bit for bit"
	@echo "make build   build the charlm command into $(BIN)"
	@echo "make corpora fetch the corpora (from \$$CORPUS_MIRROR if set)"
	@echo "make bench   training and sampling speed, memory, GEMM kernels"
	@echo "make bench-contention  default threads vs --threads 1 with one core busy"
	@echo "make bench-compare  the same in CharLM and PyTorch, alternating, with ratios; then the seq2seq model's (needs torch: PYTHON=...)"
	@echo "make parity  logits, gradients and Adam steps against PyTorch (needs torch: PYTHON=...)"
	@echo "make g2p     grapheme-to-phoneme on CMUdict: a seq2seq model with attention for G2P_TIME (30m), then its scores"
	@echo "make bench-seq2seq  G2P training speed against the PyTorch twin, alternating (needs torch: PYTHON=...)"
	@echo "make g2p-peer  DeepPhonemizer on the same split for G2P_MINUTES (needs torch and deep-phonemizer: PYTHON=...)"

build:
	$(SWIFT) build -c release --product charlm

corpora: $(CORPUS) $(SHERLOCK) $(CMUDICT) corpora/names/.checked

# The 18 surname files of PyTorch's "classifying names" tutorial, each
# checked against these checksums (the mirror's files).
define NAMES_SHA256
6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc  Arabic.txt
49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e  Chinese.txt
145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e  Czech.txt
924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3  Dutch.txt
9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2  English.txt
81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95  French.txt
7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db  German.txt
3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6  Greek.txt
cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058  Irish.txt
f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4  Italian.txt
e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f  Japanese.txt
cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136  Korean.txt
45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826  Polish.txt
50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53  Portuguese.txt
43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3  Russian.txt
78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd  Scottish.txt
1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7  Spanish.txt
f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d  Vietnamese.txt
endef
export NAMES_SHA256
NAMES_URL ?= https://download.pytorch.org/tutorial/data.zip
corpora/names/.checked:
	@rm -rf corpora/names.part && mkdir -p corpora/names.part
	@if [ -n "$(CORPUS_MIRROR)" ]; then \
	  echo "copying names/ from $(CORPUS_MIRROR)"; \
	  cp "$(CORPUS_MIRROR)"/names/*.txt corpora/names.part/; \
	else \
	  echo "downloading the names from $(NAMES_URL)"; \
	  curl -fsSL "$(NAMES_URL)" -o corpora/names.part/data.zip \
	    && unzip -jqo corpora/names.part/data.zip 'data/names/*.txt' -d corpora/names.part \
	    && rm corpora/names.part/data.zip; \
	fi
	@cd corpora/names.part && echo "$$NAMES_SHA256" | sha256sum -c --quiet - \
	  || { rm -rf corpora/names.part; echo "checksum mismatch for corpora/names; not using it" >&2; exit 1; }
	@rm -rf corpora/names && mv corpora/names.part corpora/names && touch corpora/names/.checked

# $(call fetch,FILE,URL,SHA256): copied from $CORPUS_MIRROR when set,
# otherwise downloaded; either way checked before it is used.
define fetch
	@mkdir -p corpora
	@if [ -n "$(CORPUS_MIRROR)" ]; then \
	  echo "copying $(1) from $(CORPUS_MIRROR)"; \
	  cp "$(CORPUS_MIRROR)/$(1)" $@.part; \
	else \
	  echo "downloading $(1)"; \
	  curl -fsSL "$(2)" -o $@.part; \
	fi
	@echo "$(3)  $@.part" | sha256sum -c --quiet - \
	  || { rm -f $@.part; echo "checksum mismatch for $@; not using it" >&2; exit 1; }
	@mv $@.part $@
endef

$(CORPUS):
	$(call fetch,tinyshakespeare.txt,$(CORPUS_URL),$(CORPUS_SHA256))

# A second, larger book: The Complete Sherlock Holmes (public domain).
$(SHERLOCK):
	$(call fetch,sherlock.txt,$(SHERLOCK_URL),$(SHERLOCK_SHA256))

# The CMU Pronouncing Dictionary (BSD-style licence): grapheme-to-phoneme pairs.
$(CMUDICT):
	$(call fetch,cmudict.dict,$(CMUDICT_URL),$(CMUDICT_SHA256))

# Grapheme-to-phoneme on CMUdict, stress stripped: CharLM for G2P_TIME, then
# DeepPhonemizer (PyTorch, PYTHON= a venv with torch and deep-phonemizer) for
# the same time on the same split, both scored by 'charlm seq2seq eval'.
# With stress: make g2p G2P_STRESS=keep (into checkpoints/g2p-stress).
G2P_TIME     ?= 30m
G2P_MINUTES  ?= 30
G2P_STRESS   ?= strip
G2P_OUT      := checkpoints/$(if $(filter keep,$(G2P_STRESS)),g2p-stress,g2p)
G2P_SPLIT    := checkpoints/g2p-split
G2P_DATA     := --pairs $(CMUDICT) --format cmudict $(if $(filter keep,$(G2P_STRESS)),,--strip-stress)
g2p: $(CMUDICT) build
	$(BIN) seq2seq train $(G2P_DATA) --bidirectional --hidden 256 --embedding 64 --dropout 0.2 --schedule anneal \
	  --time $(G2P_TIME) --eval-every 500 --out $(G2P_OUT) --overwrite
	$(BIN) seq2seq eval --checkpoint $(G2P_OUT) --pairs $(CMUDICT)

# Training speed of the G2P model against its PyTorch twin, alternating rounds.
bench-seq2seq: $(CMUDICT) build
	$(BIN) seq2seq split $(G2P_DATA) --out $(G2P_SPLIT) --overwrite
	$(PYTHON) bench/seq2seq_speed.py --split $(G2P_SPLIT) --charlm $(BIN)

g2p-peer: $(CMUDICT) build
	@$(PYTHON) -c "import torch, dp, yaml" 2>/dev/null || { \
	  echo "g2p-peer needs PyTorch and DeepPhonemizer: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch deep-phonemizer"; \
	  echo "then: make g2p-peer PYTHON=~/torchenv/bin/python"; exit 1; }
	$(BIN) seq2seq split $(G2P_DATA) --out $(G2P_SPLIT) --overwrite
	$(PYTHON) bench/g2p_peer.py --split $(G2P_SPLIT) --out checkpoints/g2p-peer --minutes $(G2P_MINUTES)
	$(BIN) seq2seq eval --outputs checkpoints/g2p-peer/test-outputs.tsv $(G2P_DATA)

demo: $(CORPUS) build
	$(BIN) train --corpus $(CORPUS) --time $(DEMO_TIME) --out $(DEMO_OUT) --overwrite
	$(BIN) eval --checkpoint $(DEMO_OUT) --corpus $(CORPUS) --split val
	@echo "--- 500 characters at temperature 0.8 ---"
	$(BIN) sample --checkpoint $(DEMO_OUT) --prime "ROMEO:" --length 500 --temperature 0.8 --seed 7

# Long-range context: a synthetic corpus whose answer sits up to CONTEXT_GAP
# characters after its cause, and three cells with matched parameter counts
# and equal time. A curriculum: each cell learns the place → language link
# on gaps of 0–12 characters (at 2e-3: at 1e-3 the RNN did not learn it in
# the time), then continues from its own last model on gaps up to 50, 150
# and 500 at 1e-3, with a 100-character window. The last stage spreads its
# gaps logarithmically (`--gaps log`): with gaps spread evenly to 500, 98 %
# of the stories were beyond the RNN's reach, and it unlearned even the
# short ones to hedge 1/12 on every language. Then both probes; reports
# land in $(CONTEXT_OUT), each stage's runs in $(CONTEXT_OUT)/gap-N.
CONTEXT_CORPUS := corpora/context.txt
CONTEXT_OUT    := checkpoints/context
CONTEXT_GAP    ?= 500
CONTEXT_RUNS   := $(CONTEXT_OUT)/rnn $(CONTEXT_OUT)/gru $(CONTEXT_OUT)/lstm
CONTEXT_TRAIN  := --cells rnn,gru,lstm --layers 1 --hidden 128 --batch 16 --window 100 --points 4 --overwrite

context-demo: build
	$(BIN) corpus context --out corpora/context-12.txt --max-gap 12 --size 400000 --seed 11 --overwrite
	$(BIN) corpus context --out corpora/context-50.txt --max-gap 50 --size 600000 --seed 12 --overwrite
	$(BIN) corpus context --out corpora/context-150.txt --max-gap 150 --size 1000000 --seed 13 --overwrite
	$(BIN) corpus context --out $(CONTEXT_CORPUS) --max-gap $(CONTEXT_GAP) --gaps log --size 2000000 --seed 1 --overwrite
	$(BIN) compare --corpus corpora/context-12.txt $(CONTEXT_TRAIN) --time 45s --lr 2e-3 \
	  --out $(CONTEXT_OUT)/gap-12
	$(BIN) compare --corpus corpora/context-50.txt $(CONTEXT_TRAIN) --time 45s --lr 1e-3 \
	  --start-from $(CONTEXT_OUT)/gap-12 --out $(CONTEXT_OUT)/gap-50
	$(BIN) compare --corpus corpora/context-150.txt $(CONTEXT_TRAIN) --time 60s --lr 1e-3 \
	  --start-from $(CONTEXT_OUT)/gap-50 --out $(CONTEXT_OUT)/gap-150
	$(BIN) compare --corpus $(CONTEXT_CORPUS) $(CONTEXT_TRAIN) --time 60s --lr 1e-3 \
	  --start-from $(CONTEXT_OUT)/gap-150 --out $(CONTEXT_OUT) --report $(CONTEXT_OUT)/compare.html
	$(BIN) probe context --checkpoint $(CONTEXT_RUNS) --probe-set corpora/context.probe.json \
	  --report $(CONTEXT_OUT)/context.html --overwrite
	$(BIN) probe context --checkpoint $(CONTEXT_RUNS) --probe-set corpora/context.probe.json --state carried \
	  --report $(CONTEXT_OUT)/context-carried.html --overwrite
	$(BIN) probe gradient --checkpoint $(CONTEXT_RUNS) --corpus $(CONTEXT_CORPUS) --lags 150 \
	  --report $(CONTEXT_OUT)/gradient.html --overwrite

# A first look in about 2 minutes: each cell learns the place → language
# link on fillers of 0–12 characters only, then is probed on gaps up to
# 100. Where does each cell lose the place? Reports in $(MINI_OUT).
MINI_CORPUS := corpora/context-mini.txt
MINI_OUT    := checkpoints/context-mini
MINI_TIME   ?= 35s
MINI_LR     ?= 1e-3

context-mini: build
	$(BIN) corpus context --out $(MINI_CORPUS) --max-gap 12 --size 400000 --seed 2 \
	  --probe-set $(MINI_OUT)/short.probe.json --overwrite
	$(BIN) corpus context --out $(MINI_OUT)/probe-text.txt --max-gap 99 --size 1000 --seed 3 \
	  --probe-set $(MINI_OUT)/probe.json --overwrite
	$(BIN) compare --corpus $(MINI_CORPUS) --cells rnn,gru,lstm --layers 1 --hidden 128 --batch 16 --window 100 \
	  --points 4 --time $(MINI_TIME) --lr $(MINI_LR) --out $(MINI_OUT) --report $(MINI_OUT)/compare.html --overwrite
	$(BIN) probe context --checkpoint $(MINI_OUT)/rnn $(MINI_OUT)/gru $(MINI_OUT)/lstm \
	  --probe-set $(MINI_OUT)/probe.json --report $(MINI_OUT)/context.html --overwrite

# Truncated BPTT, shown: one LSTM 1×128 trained with windows of 25, 50 and
# 100 characters (state carried across windows, gradient not), the same
# characters each (so about the same time), on stories with gaps of 0–150
# characters; then the Gujarat probe by gap. Reports in $(BPTT_OUT).
BPTT_OUT   := checkpoints/bptt
BPTT_CHARS ?= 16000000
BPTT_SEED  ?= 1
bptt-windows: build
	$(BIN) corpus context --out corpora/context-150.txt --max-gap 150 --size 1000000 --seed 13 --overwrite
	$(BIN) corpus context --out $(BPTT_OUT)/probe-text.txt --max-gap 150 --size 1000 --seed 3 \
	  --probe-set $(BPTT_OUT)/probe.json --overwrite
	for w in 25 50 100; do \
	  $(BIN) train --corpus corpora/context-150.txt --cell lstm --layers 1 --hidden 128 --batch 16 --window $$w \
	    --steps $$(( $(BPTT_CHARS) / (16 * $$w) )) --eval-every $$(( 200000 / (16 * $$w) )) --lr 2e-3 \
	    --seed $(BPTT_SEED) --out $(BPTT_OUT)/window-$$w --overwrite || exit 1; \
	done
	$(BIN) probe context --checkpoint $(BPTT_OUT)/window-25 $(BPTT_OUT)/window-50 $(BPTT_OUT)/window-100 \
	  --probe-set $(BPTT_OUT)/probe.json --report $(BPTT_OUT)/bptt.html --overwrite
	$(BIN) probe context --checkpoint $(BPTT_OUT)/window-25 $(BPTT_OUT)/window-50 $(BPTT_OUT)/window-100 \
	  --probe-set $(BPTT_OUT)/probe.json --state carried --report $(BPTT_OUT)/bptt-carried.html --overwrite

# One test at a time: every test that trains has a thread pool whose
# workers spin between regions, and dozens of them at once on two cores wait
# for each other (measured on a fresh clone: 128 s in parallel, 16 s serial).
test:
	$(SWIFT) test -c release --no-parallel

# Hostile invocations of every command (Tests/CLITests/CLIFuzzTests.swift);
# make test runs 96 of them.
FUZZ_CLI_CASES ?= 2400
fuzz-cli:
	CHARLM_FUZZ_CLI_CASES=$(FUZZ_CLI_CASES) FUZZ_SEED=$(FUZZ_SEED) $(SWIFT) test -c release --filter CLIFuzzTests

# The long fuzz run: damaged checkpoints and training states, loaded or
# refused, never a crash. A hang fails it after an hour.
FUZZ_CASES ?= 1000000
FUZZ_SEED ?= 0
fuzz:
	CHARLM_FUZZ_CASES=$(FUZZ_CASES) CHARLM_FUZZ_SEED=$(FUZZ_SEED) timeout 3600 $(SWIFT) test -c release --filter FuzzTests

# kill -9 at random moments, 20 times or more, then a bit-for-bit check
# against an uninterrupted run (KILLS=..., STEPS=...).
stress: build
	BIN=$(BIN) bash bench/stress.sh

bench: $(CORPUS) build
	$(BIN) bench --corpus $(CORPUS)
	$(BIN) bench --kernels

bench-kernels: build
	$(BIN) bench --kernels

# PyTorch runs from a venv outside the repo: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch
bench-compare: $(CORPUS) $(CMUDICT) build
	@$(PYTHON) -c "import torch" 2>/dev/null || { \
	  echo "bench-compare needs PyTorch: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch"; \
	  echo "then: make bench-compare PYTHON=~/torchenv/bin/python"; exit 1; }
	$(PYTHON) bench/compare.py --python $(PYTHON) --charlm $(BIN) --rounds 3
	$(MAKE) --no-print-directory bench-seq2seq PYTHON=$(PYTHON)

# CharLM against PyTorch on the same weights and windows: logits, gradients, 10 Adam steps.
parity: build
	@$(PYTHON) -c "import torch, safetensors" 2>/dev/null || { \
	  echo "parity needs PyTorch and safetensors: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch safetensors"; \
	  echo "then: make parity PYTHON=~/torchenv/bin/python"; exit 1; }
	$(PYTHON) python/parity.py --charlm $(BIN)

clean:
	rm -rf .build checkpoints/demo checkpoints/context

# With one core held by another process (yes > /dev/null), the default
# thread count against --threads 1.
bench-contention: $(CORPUS) build
	bash bench/contention.sh $(BIN)
