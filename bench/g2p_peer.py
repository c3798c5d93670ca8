#!/usr/bin/env python3
"""make g2p-peer: DeepPhonemizer (pip install deep-phonemizer) on CharLM's G2P split, for a fixed time.

Reads train.tsv / val.tsv / test.tsv written by `charlm seq2seq split` (word<TAB>PH PH ...), maps each ARPAbet
symbol to one character (DeepPhonemizer reads phonemes as characters), trains DeepPhonemizer's autoregressive
transformer on the CPU (dp.preprocess.preprocess, then dp.train.train(rank=0, num_gpus=0, ...)) in a child
process stopped after --minutes, predicts every test word with its last saved model, maps the characters back
and writes word<TAB>PH PH ... lines, which `charlm seq2seq eval --outputs` scores with CharLM's own code.
"""
import argparse
import multiprocessing
import os
import sys
import time

# tqdm's progress bars would fill the log; the script prints its own lines.
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402


from split_pairs import read  # noqa: E402


def train_child(config_path, threads):
    torch.set_num_threads(threads)
    from dp.train import train
    train(rank=0, num_gpus=0, config_file=config_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", required=True, help="folder with train.tsv, val.tsv, test.tsv")
    parser.add_argument("--out", required=True, help="working folder for DeepPhonemizer's data and checkpoints")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--val-words", type=int, default=500, help="validation words DeepPhonemizer generates on")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--generate-steps", type=int, default=1000, help="steps between DeepPhonemizer's saves")
    parser.add_argument("--predict-only", action="store_true", help="skip training: predict with the models in --out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    train, val, test = (read(os.path.join(args.split, n)) for n in ("train.tsv", "val.tsv", "test.tsv"))
    symbols = sorted({p for _, ps in train + val + test for p in ps})
    alphabet = [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    if len(symbols) > len(alphabet):
        sys.exit(f"{len(symbols)} phoneme symbols do not fit one character each")
    to_char = dict(zip(symbols, alphabet))
    to_symbol = {c: s for s, c in to_char.items()}
    letters = sorted({c for w, _ in train + val + test for c in w})

    import yaml
    from dp.preprocess import preprocess

    if args.predict_only:
        return predict(args, test, to_symbol)

    config = {
        "paths": {"checkpoint_dir": os.path.join(args.out, "checkpoints"), "data_dir": os.path.join(args.out, "datasets")},
        "preprocessing": {"languages": ["en_us"], "text_symbols": letters, "phoneme_symbols": alphabet[:len(symbols)],
                          "char_repeats": 1, "lowercase": False, "n_val": 0},
        "model": {"type": "autoreg_transformer", "d_model": args.d_model, "d_fft": 4 * args.d_model,
                  "layers": args.layers, "dropout": 0.1, "heads": 4},
        "training": {"learning_rate": 3e-4, "warmup_steps": 1000, "scheduler_plateau_factor": 0.5,
                     "scheduler_plateau_patience": 10, "batch_size": 32, "batch_size_val": 32, "epochs": 500,
                     "generate_steps": args.generate_steps, "validate_steps": args.generate_steps, "checkpoint_steps": 100000,
                     "n_generate_samples": 10, "store_phoneme_dict_in_model": False, "ddp_backend": "gloo",
                     "ddp_host": "localhost", "ddp_post": "12355"},
    }
    config_path = os.path.join(args.out, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f)
    as_dp = lambda pairs: [("en_us", w, "".join(to_char[p] for p in ps)) for w, ps in pairs]
    preprocess(config_file=config_path, train_data=as_dp(train), val_data=as_dp(val[:args.val_words]),
               deduplicate_train_data=False)

    started = time.time()
    child = multiprocessing.get_context("spawn").Process(target=train_child, args=(config_path, args.threads))
    child.start()
    child.join(timeout=args.minutes * 60)
    if child.is_alive():
        child.terminate()
        child.join()
    trained = time.time() - started
    print(f"DeepPhonemizer trained for {trained / 60:.1f} minutes", flush=True)
    predict(args, test, to_symbol)


def predict(args, test, to_symbol):
    from dp.model.predictor import Predictor
    # DeepPhonemizer pickles its preprocessor into its checkpoints; torch >= 2.6 loads weights only by default.
    # These are files this script just had DeepPhonemizer write.
    load = torch.load
    torch.load = lambda *a, **k: load(*a, **{**k, "weights_only": False})
    checkpoints = os.path.join(args.out, "checkpoints")
    # latest_model.pt is written at each epoch's end, best_model.pt at each generation step: take the newer.
    saved = [p for p in (os.path.join(checkpoints, n) for n in ("latest_model.pt", "best_model.pt")) if os.path.exists(p)]
    if not saved:
        sys.exit("DeepPhonemizer saved no model in the time; give it more --minutes")
    model_path = max(saved, key=os.path.getmtime)
    predictor = Predictor.from_checkpoint(model_path)
    words = sorted({w for w, _ in test})
    predictions = predictor(words=words, lang="en_us", batch_size=64)
    out_path = os.path.join(args.out, "test-outputs.tsv")
    with open(out_path, "w", encoding="utf-8") as f:
        for p in predictions:
            f.write(p.word + "\t" + " ".join(to_symbol.get(c, "?") for c in p.phonemes) + "\n")
    print(f"model {model_path}; wrote {out_path} ({len(predictions)} words)")


if __name__ == "__main__":
    main()
